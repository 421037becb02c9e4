package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// span is one span of propeller's trace file (OpenTelemetry's stdout exporter writes SpanStubs as JSON).
type span struct {
	Name        string
	SpanContext struct{ SpanID string }
	Parent      struct{ SpanID string }
	StartTime   time.Time
	EndTime     time.Time
}

func (s span) duration() time.Duration { return s.EndTime.Sub(s.StartTime) }

// readSpans reads the spans of a trace file: pretty-printed JSON objects, one after another. A span that
// does not decode is skipped.
func readSpans(path string) ([]span, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spans []span
	for _, chunk := range bytes.SplitAfter(raw, []byte("\n}\n")) {
		var s span
		if json.Unmarshal(chunk, &s) == nil && s.Name != "" {
			spans = append(spans, s)
		}
	}
	return spans, nil
}

// collectTrace makes path a named pipe that propeller writes its trace into, and copies what comes through
// it to path+".json" until stop is called. flytestdlib gives each of propeller's tracers (propeller, blob
// store, admin client, Kubernetes client) an exporter of its own that creates the configured file: into a
// plain file they would write over one another, while a pipe takes each exporter's writes (one span
// each) whole, one after another.
func collectTrace(path string) (stop func() (string, error), err error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("make the trace pipe: %w", err)
	}
	out, err := os.Create(path + ".json")
	if err != nil {
		return nil, err
	}
	// Held open for reading and writing, the pipe never reports its end while exporters come and go.
	pipe, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, pipe)
		copied <- err
	}()
	return func() (string, error) {
		// The exporters have flushed at propeller's shutdown; what is left in the pipe is read before
		// it closes.
		time.Sleep(200 * time.Millisecond)
		_ = pipe.Close()
		<-copied
		return out.Name(), out.Close()
	}, nil
}

// traceChain runs the warm chain runs times with propeller tracing its rounds to traceFile, and prints
// where the time of a task goes in propeller: its rounds (streaks of evaluations of the workflow), the
// API server writes, the blob store, the task handler and the plugin within it, and the time the
// workflow waits in the workqueue between rounds.
func (b *bencher) traceChain(ctx context.Context, runs int, traceFile, profileDir string) error {
	p := b.stack.Propellers()[0]
	before := p.Tuning()
	stopTrace, err := collectTrace(traceFile)
	if err != nil {
		return err
	}
	p.Tune(append(p.Tuning(), tracing(traceFile))...)
	if err := p.Restart(false); err != nil {
		return err
	}
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	type window struct{ from, to time.Time }
	var windows []window
	var last string
	// Warm the environment again: the restarted pool has new executors... or adopts the running ones.
	if _, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20", x, 10*time.Minute); err != nil {
		return err
	}
	stopProfiles, err := startProfiles(profileDir, p.ProfPort())
	if err != nil {
		return err
	}
	for range runs {
		exec, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20", x, 10*time.Minute)
		if err != nil {
			return err
		}
		windows = append(windows, window{exec.Started, exec.Finished})
		last = exec.Name
	}
	if err := stopProfiles(); err != nil {
		return err
	}
	// The exporter batches: its spans reach the file within its batch timeout (5 s), or at shutdown.
	p.Tune(before...)
	if err := p.Restart(false); err != nil {
		return err
	}
	written, err := stopTrace()
	if err != nil {
		return err
	}
	spans, err := readSpans(written)
	if err != nil {
		return err
	}
	inside := func(s span) bool {
		for _, w := range windows {
			if !s.StartTime.Before(w.from) && !s.EndTime.After(w.to) {
				return true
			}
		}
		return false
	}
	byName := map[string][]time.Duration{}
	var handles []span
	for _, s := range spans {
		if !inside(s) {
			continue
		}
		byName[s.Name] = append(byName[s.Name], s.duration())
		if s.Name == "pkg.controller.Propeller/Handle" {
			handles = append(handles, s)
		}
	}
	tasks := float64(runs * chainLength)
	fmt.Printf("\nwhere a warm actor task's time goes in propeller (OpenTelemetry trace of %d warm chains of %d):\n", runs, chainLength)
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return total(byName[names[i]]) > total(byName[names[j]]) })
	fmt.Printf("  %-72s %8s %10s %10s\n", "span", "per task", "each p50", "per task")
	for _, n := range names {
		ds := byName[n]
		fmt.Printf("  %-72s %8.2f %10s %10s\n", n, float64(len(ds))/tasks, round(percentile(ds, 50)), round(time.Duration(float64(total(ds))/tasks)))
	}
	// Between two evaluations of the workflow it waits in propeller's workqueue for a wake-up.
	sort.Slice(handles, func(i, j int) bool { return handles[i].StartTime.Before(handles[j].StartTime) })
	var waits []time.Duration
	for i := 1; i < len(handles); i++ {
		if w := handles[i].StartTime.Sub(handles[i-1].EndTime); w > 0 && w < time.Second {
			waits = append(waits, w)
		}
	}
	fmt.Printf("  between two evaluations of the workflow (wake-up and workqueue): %s\n", describe(waits))
	return b.measureUpdates(ctx, last)
}

// tracing is the configuration that makes propeller write its OpenTelemetry trace to traceFile.
func tracing(traceFile string) string {
	return fmt.Sprintf("otel:\n  type: file\n  file:\n    filename: %s\n", traceFile)
}

func total(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
