// Command benche2e (`make bench-e2e`) measures Flyte Actors end to end on the real stack on this
// machine — etcd, a kube-apiserver, FlytePropeller with the actor plugin, the local kubelet, real
// flytekit — with actor tasks and one pod per task in the same run, and prints each figure as
// `BENCH e2e/<name> <value> <unit>`:
//
//   - the gap from one task's end to the next one's start in a warm chain of 20 tasks (p50, p99), for
//     actor tasks (from the executor's log) and pods (from the kubelet's process records);
//   - a warm no-op flytekit task in the runtime against a cold pyflyte-execute process (p50 each);
//   - Union's "Hello World" shape (a map of 100 short items over replica_count=4) and the chain of 20:
//     wall time on a cold and a warm environment, against pod per task, as ratios;
//   - FlytePropeller's processor time and requests to the API server per actor task and per pod task;
//   - lookahead prewarm: a workflow whose first step outlasts an executor's start, with prewarm off and
//     on, both on a cold environment.
//
// What each figure is, and the figures on this machine, are in docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// options are the command's flags.
type options struct {
	chainRuns int
	mapSize   int
	download  time.Duration
	parts     map[string]bool
	profile   string
	tuning    string
	offload   bool
	// queues are the keys of the queue settings to measure (all when empty).
	queues []string
}

func main() {
	var o options
	verbose := flag.Bool("verbose", false, "print every log line of the stack")
	flag.IntVar(&o.chainRuns, "chain-runs", 5, "warm runs of the chain of 20 (its gaps and no-op times pool over them)")
	flag.IntVar(&o.mapSize, "map-size", 100, "items of the Hello World map")
	flag.DurationVar(&o.download, "download", 8*time.Second, "how long the lookahead workflow's first step takes")
	parts := flag.String("parts", "chain,trace,hello,lookahead,queues", "the measurements to make: chain (the chain of 20), trace (where a gap's "+
		"time goes, from propeller's OpenTelemetry trace), hello (the Hello World map), lookahead (prewarm), queues (propeller's queue "+
		"settings under many concurrent workflows)")
	flag.StringVar(&o.profile, "profile", "", "with trace, write CPU profiles of propeller and of the API server and etcd during the traced runs into this folder")
	queues := flag.String("queue-settings", "", "with queues, only these settings (comma separated: simple, batch, flytecore)")
	flag.BoolVar(&o.offload, "offload-closure", false, "run the stack's flyteadmin with useOffloadedWorkflowClosure: FlyteWorkflows without their static part")
	tuningFile := flag.String("tuning", "", "a file of propeller configuration (YAML) layered over the stack's for the whole run, e.g. plugins.actor.wait-in-round.max-wait")
	flag.Parse()
	if *tuningFile != "" {
		raw, err := os.ReadFile(*tuningFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		o.tuning = string(raw)
	}
	if *queues != "" {
		o.queues = strings.Split(*queues, ",")
	}
	o.parts = map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		o.parts[strings.TrimSpace(p)] = true
	}
	os.Exit(harness.RunProgram("bench-e2e", *verbose, func(t harness.T) error { return run(t, o) }))
}

func run(t harness.T, o options) error {
	ctx := context.Background()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "tests", "workflows")
	start := time.Now()
	stack := harness.Start(t, src, harness.Options{BuildProgress: os.Stdout, MeterPropellerAPI: true,
		PropellerTuning: tunings(o.tuning, prewarm(false)), OffloadWorkflowClosure: o.offload})
	fmt.Printf("stack up in %s\n", time.Since(start).Round(time.Millisecond))
	reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "bench", "basics")
	if err != nil {
		return err
	}
	b := &bencher{stack: stack, reg: reg, tuning: o.tuning}

	if o.parts["chain"] {
		chain, err := b.chain(ctx, o.chainRuns)
		if err != nil {
			return err
		}
		chain.print()
	}
	if o.parts["trace"] {
		traceDir := o.profile
		if traceDir == "" {
			traceDir = t.TempDir()
		} else if err := os.MkdirAll(traceDir, 0o755); err != nil {
			return err
		}
		if err := b.traceChain(ctx, 10, filepath.Join(traceDir, "propeller-trace.json"), o.profile); err != nil {
			return err
		}
	}
	if o.parts["rounds"] {
		if err := b.printRounds(ctx); err != nil {
			return err
		}
	}
	if o.parts["hello"] {
		hello, err := b.helloWorld(ctx, o.mapSize)
		if err != nil {
			return err
		}
		hello.print()
	}
	if o.parts["lookahead"] {
		look, err := b.lookahead(ctx, o.download)
		if err != nil {
			return err
		}
		look.print()
	}
	if o.parts["queues"] {
		if err := b.queueSettings(ctx, o.queues); err != nil {
			return err
		}
	}
	return nil
}

// prewarm is the propeller configuration that turns lookahead prewarm on or off.
func prewarm(on bool) string {
	return fmt.Sprintf("plugins:\n  actor:\n    prewarm:\n      enabled: %t\n", on)
}

// bencher runs the benchmark's workflows on one stack.
type bencher struct {
	stack *harness.Stack
	reg   *harness.Registration
	// tuning is propeller configuration of the whole run (-tuning), under each measurement's own.
	tuning string
}

// tune restarts propeller with the run's tuning and then layers (each a YAML file), and returns when it
// is healthy.
func (b *bencher) tune(layers ...string) error {
	p := b.stack.Propellers()[0]
	p.Tune(tunings(b.tuning, layers...)...)
	return p.Restart(false)
}

// tunings is the run's own tuning (if any) followed by layers.
func tunings(own string, layers ...string) []string {
	if own == "" {
		return layers
	}
	return append([]string{own}, layers...)
}
