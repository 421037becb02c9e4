package integration

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// executorSpans returns, for each executor pod the stack ever ran (replaced ones too), the actor tasks
// it ran (from the executor's own log banners).
func executorSpans(ctx context.Context, t *testing.T, stack *harness.Stack) map[string][]harness.TaskSpan {
	t.Helper()
	spans := map[string][]harness.TaskSpan{}
	for _, pod := range stack.Kubelet.StartedPods() {
		if found := harness.ActorTaskSpans(stack.Kubelet.Logs(pod)); len(found) > 0 {
			_, name, _ := strings.Cut(pod, "/")
			spans[name] = found
		}
	}
	return spans
}

// stringOf returns the string value of a literal.
func stringOf(l *idlcore.Literal) string { return l.GetScalar().GetPrimitive().GetStringValue() }

// intOf returns the integer value of a literal.
func intOf(l *idlcore.Literal) int64 { return l.GetScalar().GetPrimitive().GetInteger() }

// intsOf returns the integer values of the given outputs.
func intsOf(outputs *idlcore.LiteralMap, keys ...string) []int64 {
	values := make([]int64, 0, len(keys))
	for _, k := range keys {
		values = append(values, intOf(outputs.GetLiterals()[k]))
	}
	return values
}

// allSpans returns the actor tasks every executor pod of the stack ran, with the pod that ran them, in
// start order.
func allSpans(ctx context.Context, t *testing.T, stack *harness.Stack) []podSpan {
	t.Helper()
	var all []podSpan
	for pod, spans := range executorSpans(ctx, t, stack) {
		for _, s := range spans {
			all = append(all, podSpan{Pod: pod, TaskSpan: s})
		}
	}
	// Pod by pod from a map: spans of different pods would come in any order.
	slices.SortStableFunc(all, func(a, b podSpan) int { return a.Start.Compare(b.Start) })
	return all
}

// podSpan is an actor task's span and the executor pod that ran it.
type podSpan struct {
	Pod string
	harness.TaskSpan
}

// waitForSpan waits until an executor reports an actor task whose id starts with prefix as started
// (or, with ended, as ended), and returns it.
func waitForSpan(ctx context.Context, t *testing.T, stack *harness.Stack, prefix string, ended bool, timeout time.Duration) podSpan {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, s := range allSpans(ctx, t, stack) {
			if strings.HasPrefix(s.TaskID, prefix) && !s.Start.IsZero() && (!ended || !s.End.IsZero()) {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no actor task %s* %s within %s; executors ran %v", prefix, map[bool]string{false: "started", true: "ended"}[ended], timeout, allSpans(ctx, t, stack))
	return podSpan{}
}

// pidLine matches what the test workflows print before they sleep: "... in pid <pid>".
var pidLine = regexp.MustCompile(`in pid (\d+)`)

// lastPrintedPID waits until a sleeping task on executor pod has printed its pid, and returns the last
// one printed.
func lastPrintedPID(t *testing.T, stack *harness.Stack, pod string) int {
	t.Helper()
	pid := 0
	found := eventually(30*time.Second, func() bool {
		lines := stack.Kubelet.Logs(stack.Namespace + "/" + pod)
		for i := len(lines) - 1; i >= 0; i-- {
			if m := pidLine.FindStringSubmatch(lines[i]); m != nil {
				pid, _ = strconv.Atoi(m[1])
				return true
			}
		}
		return false
	})
	require.True(t, found, "executor pod %s printed no pid", pod)
	return pid
}

// processGone tells whether no process pid exists (any more).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// eventually polls cond every 50ms until it holds or timeout passes, and says whether it held.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
