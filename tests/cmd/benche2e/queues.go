package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// queueSetting is a configuration of propeller's workqueue.
type queueSetting struct {
	key, name string
	// yaml is the propeller configuration that sets it; "" is the stack's own (simple).
	yaml string
}

var queueSettings = []queueSetting{
	{"simple", "simple queue, no base delay (the chart's propeller.fastWakeUp)", `propeller:
  queue:
    type: simple
    queue:
      type: maxof
      rate: 1000
      capacity: 10000
      base-delay: 0s
      max-delay: 60s
`},
	{"batch", "batch queue 1s, no base delay (propeller's own defaults, flyte-binary)", `propeller:
  queue:
    type: batch
    batching-interval: 1s
    batch-size: -1
    queue:
      type: maxof
      rate: 1000
      capacity: 10000
      base-delay: 0s
      max-delay: 60s
    sub-queue:
      type: bucket
      rate: 1000
      capacity: 10000
`},
	{"flytecore", "batch queue 2s, base delay 5s, 4 workers (flyte-core's values)", harness.FlyteCoreQueue(0)},
	{"flytecore-streak64", "flyte-core's values, max-streak-length 64 (recommended for actors)", harness.FlyteCoreQueue(64)},
}

// waitOff turns the plugin's waiting rounds off.
const waitOff = "plugins:\n  actor:\n    wait-in-round:\n      max-wait: 0s\n"

// concurrentActorWorkflows and concurrentPodWorkflows are the load of one queue setting's measurement.
const (
	concurrentActorWorkflows = 10
	concurrentPodWorkflows   = 4
)

// queueResult is what one queue setting measured, with waiting rounds on or off.
type queueResult struct {
	setting queueSetting
	wait    bool
	// alone is the wall time of one chain of 20 alone, and aloneGaps its gaps; short the wall time of
	// a chain of five 50 ms tasks alone.
	alone, short time.Duration
	aloneGaps    []time.Duration
	// all is the wall time of the concurrent workflows, from the first launch to the last end;
	// actorWall and podWall the median of each kind's; gaps the actor chains' gaps.
	all, actorWall, podWall time.Duration
	gaps                    []time.Duration
	cpu                     time.Duration
	requests                int
}

// queueSettings measures each queue setting, with the plugin's waiting rounds on and off: a warm chain of
// 20 alone, a warm chain of five 50 ms tasks alone, then ten chains of 20 at once beside four chains of
// three pods.
func (b *bencher) queueSettings(ctx context.Context, only []string) error {
	fmt.Printf("\npropeller's queue settings: a warm chain of 20 alone, then %d at once beside %d chains of 3 pods\n",
		concurrentActorWorkflows, concurrentPodWorkflows)
	// Start the environment's executors once: every measurement finds them warm.
	if _, err := b.concurrently(ctx, concurrentActorWorkflows, 0); err != nil {
		return err
	}
	var results []queueResult
	for _, s := range queueSettings {
		if len(only) > 0 && !slices.Contains(only, s.key) {
			continue
		}
		for _, wait := range []bool{true, false} {
			r, err := b.queueSetting(ctx, s, wait)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	fmt.Printf("  %-72s %-5s %10s %10s %10s %10s %10s %10s %10s %9s\n", "queue", "wait", "alone", "gap p50", "5×50ms", "all",
		"actor wf", "pod wf", "gap p50", "CPU")
	for _, r := range results {
		wait := "off"
		if r.wait {
			wait = "on"
		}
		fmt.Printf("  %-72s %-5s %10s %10s %10s %10s %10s %10s %10s %9s\n", r.setting.name, wait, round(r.alone),
			round(percentile(r.aloneGaps, 50)), round(r.short), round(r.all), round(r.actorWall), round(r.podWall),
			round(percentile(r.gaps, 50)), round(r.cpu))
		name := "queue-" + r.setting.key + "-wait-" + wait
		bench(name+"-alone-gap-p50", ms(percentile(r.aloneGaps, 50)), "ms")
		bench(name+"-alone-wall", ms(r.alone), "ms")
		bench(name+"-chain5x50ms-wall", ms(r.short), "ms")
		bench(name+"-concurrent-wall", ms(r.all), "ms")
		bench(name+"-concurrent-gap-p50", ms(percentile(r.gaps, 50)), "ms")
		bench(name+"-concurrent-propeller-cpu", ms(r.cpu), "ms")
		bench(name+"-concurrent-apiserver-requests", float64(r.requests), "n")
	}
	return b.tune(prewarm(true))
}

// queueSetting measures one setting.
func (b *bencher) queueSetting(ctx context.Context, s queueSetting, wait bool) (queueResult, error) {
	r := queueResult{setting: s, wait: wait}
	layers := []string{prewarm(false), s.yaml}
	if !wait {
		layers = append(layers, waitOff)
	}
	if err := b.tune(layers...); err != nil {
		return r, err
	}
	fmt.Printf("  %s, waiting rounds %t ...\n", s.name, wait)
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	// The restarted pool learns again how long the task runs.
	if _, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20_many", x, 30*time.Minute); err != nil {
		return r, err
	}
	exec, err := b.stack.Run(ctx, b.reg, "bench.actors.chain20_many", x, 30*time.Minute)
	if err != nil {
		return r, err
	}
	r.alone = exec.Duration()
	spans, err := b.spansOf(ctx, exec.Name)
	if err != nil {
		return r, err
	}
	r.aloneGaps = harness.Gaps(spans)
	for range 2 { // the first run teaches the restarted pool how long the task runs
		if exec, err = b.stack.Run(ctx, b.reg, "bench.actors.chain5_50ms", x, 30*time.Minute); err != nil {
			return r, err
		}
	}
	r.short = exec.Duration()

	p := b.stack.Propellers()[0]
	cpu0, err := p.CPUTime()
	if err != nil {
		return r, err
	}
	api0 := b.stack.PropellerAPI.Counts()
	runs, err := b.concurrently(ctx, concurrentActorWorkflows, concurrentPodWorkflows)
	if err != nil {
		return r, err
	}
	cpu1, err := p.CPUTime()
	if err != nil {
		return r, err
	}
	r.cpu, r.requests = cpu1-cpu0, b.stack.PropellerAPI.Counts().Sub(api0).Total()
	var first, last time.Time
	var actorWalls, podWalls []time.Duration
	for _, e := range runs.actor {
		actorWalls = append(actorWalls, e.Duration())
		spans, err := b.spansOf(ctx, e.Name)
		if err != nil {
			return r, err
		}
		r.gaps = append(r.gaps, harness.Gaps(spans)...)
	}
	for _, e := range runs.pod {
		podWalls = append(podWalls, e.Duration())
	}
	for _, e := range append(runs.actor, runs.pod...) {
		if first.IsZero() || e.Started.Before(first) {
			first = e.Started
		}
		if e.Finished.After(last) {
			last = e.Finished
		}
	}
	r.all, r.actorWall, r.podWall = last.Sub(first), percentile(actorWalls, 50), percentile(podWalls, 50)
	return r, nil
}

// concurrentRuns are executions that ran at once.
type concurrentRuns struct{ actor, pod []*harness.Execution }

// concurrently launches actors chains of 20 actor tasks and pods chains of three pods at once and waits
// for all of them to succeed.
func (b *bencher) concurrently(ctx context.Context, actors, pods int) (concurrentRuns, error) {
	var runs concurrentRuns
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	launch := func(lp string, n int, into *[]*harness.Execution) error {
		for range n {
			e, err := b.stack.Launch(ctx, b.reg, lp, x)
			if err != nil {
				return err
			}
			*into = append(*into, e)
		}
		return nil
	}
	if err := launch("bench.actors.chain20_many", actors, &runs.actor); err != nil {
		return runs, err
	}
	if err := launch("basics.chain.chain", pods, &runs.pod); err != nil {
		return runs, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, actors+pods)
	for _, e := range append(append([]*harness.Execution{}, runs.actor...), runs.pod...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Wait(ctx, 30*time.Minute); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return runs, err
	}
	return runs, nil
}
