package harness

import (
	"regexp"
	"sort"
	"time"
)

// TaskSpan is when one actor task ran on an executor, from the executor's own log.
type TaskSpan struct {
	TaskID string
	Start  time.Time
	// End is zero while the task runs.
	End time.Time
	// OK tells whether the task's command completed (false for a failed, cancelled or running task).
	OK bool
}

// taskBanner matches the lines the executor writes around each task (package executor).
var taskBanner = regexp.MustCompile(`^=== actor task (\S+): (start|end) at (\S+)(?: \(ok=(true|false)\))?`)

// ActorTaskSpans reads the task spans out of an executor pod's log lines, in start order.
func ActorTaskSpans(lines []string) []TaskSpan {
	byID := map[string]*TaskSpan{}
	for _, line := range lines {
		m := taskBanner.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[3])
		if err != nil {
			continue
		}
		span := byID[m[1]]
		if span == nil {
			span = &TaskSpan{TaskID: m[1]}
			byID[m[1]] = span
		}
		if m[2] == "start" {
			span.Start = at
		} else {
			span.End, span.OK = at, m[4] == "true"
		}
	}
	spans := make([]TaskSpan, 0, len(byID))
	for _, s := range byID {
		spans = append(spans, *s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
	return spans
}

// Gaps returns, for consecutive spans, the time from one task's end to the next one's start.
func Gaps(spans []TaskSpan) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(spans); i++ {
		gaps = append(gaps, spans[i].Start.Sub(spans[i-1].End))
	}
	return gaps
}
