// Command demo is the project's main job (`make demo`): it starts the real stack on this machine
// (etcd, kube-apiserver, FlytePropeller with the actor plugin, a local kubelet), runs workflows
// serialized by real flytekit through it, checks their outputs, and prints what ran and how long it
// took, actor tasks against the same workflow run one pod per task.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

func main() {
	verbose := flag.Bool("verbose", false, "print every log line of the stack")
	flag.Parse()
	harness.Setup()
	d := newDemoT(*verbose)
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		if err := run(d); err != nil {
			fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
			d.failed = true
		}
	}()
	d.cleanup()
	if d.failed {
		fmt.Fprintf(os.Stderr, "the stack's log is in %s\n", d.logPath)
		code = 1
	}
	os.Exit(code)
}

type row struct {
	what    string
	runtime string
	wall    time.Duration
	pods    int
	check   string
}

func run(d *demoT) error {
	ctx := context.Background()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "tests", "workflows")
	fmt.Println("Flyte Actors demo: the real stack on this machine")
	fmt.Println("  etcd + kube-apiserver (in process), FlytePropeller v1.16.8 with the actor plugin (subprocess),")
	fmt.Println("  a local kubelet that runs pods as processes, flytekit from .venv serializing and running the tasks.")
	start := time.Now()
	stack := harness.Start(d, src, harness.Options{})
	fmt.Printf("stack up in %s (%s)\n\n", time.Since(start).Round(time.Millisecond), describeTimings(stack.Timings))

	reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "basics", "actors", "seed")
	if err != nil {
		return err
	}
	x := func(v int64) map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(v)}
	}
	var rows []row
	pods := func() int { return len(stack.Kubelet.StartedPods()) }

	before := pods()
	podRun, err := stack.Run(ctx, reg, "basics.chain.chain", x(41), 5*time.Minute)
	if err != nil {
		return err
	}
	rows = append(rows, row{"chain of 3 tasks (x+1, x+1, x+1)", "pod per task", podRun.Duration(), pods() - before,
		checkInt(podRun, "o0", 44)})

	before = pods()
	cold, err := stack.Run(ctx, reg, "actors.chain.chain", x(41), 5*time.Minute)
	if err != nil {
		return err
	}
	rows = append(rows, row{"chain of 3 tasks, environment cold", "actor", cold.Duration(), pods() - before, checkInt(cold, "o0", 44)})

	before = pods()
	warm, err := stack.Run(ctx, reg, "actors.chain.chain", x(41), 5*time.Minute)
	if err != nil {
		return err
	}
	rows = append(rows, row{"chain of 3 tasks, environment warm", "actor", warm.Duration(), pods() - before, checkInt(warm, "o0", 44)})

	before = pods()
	hello, err := stack.Run(ctx, reg, "seed.hello_world.wf", nil, 5*time.Minute)
	if err != nil {
		return err
	}
	rows = append(rows, row{"seed: hello world", "actor", hello.Duration(), pods() - before, checkString(hello, "o0", "hello")})

	before = pods()
	instances, err := stack.Run(ctx, reg, "seed.multiple_instances.wf", map[string]*idlcore.Literal{"input": coreutils.MustMakeLiteral(0)}, 5*time.Minute)
	if err != nil {
		return err
	}
	rows = append(rows, row{"seed: multiple instances (4 chained)", "actor", instances.Duration(), pods() - before, checkInt(instances, "o0", 4)})

	fmt.Printf("%-40s %-13s %10s %5s  %s\n", "workflow", "runs as", "wall time", "pods", "output")
	for _, r := range rows {
		fmt.Printf("%-40s %-13s %10s %5d  %s\n", r.what, r.runtime, r.wall.Round(time.Millisecond), r.pods, r.check)
	}

	executors, err := stack.ExecutorPods(ctx)
	if err != nil {
		return err
	}
	fmt.Println()
	for _, pod := range executors {
		spans := harness.ActorTaskSpans(stack.Kubelet.Logs(pod.Namespace + "/" + pod.Name))
		fmt.Printf("executor pod %s ran %d tasks\n", pod.Name, len(spans))
		for _, s := range spans {
			fmt.Printf("  %-24s ran %8s\n", s.TaskID, s.End.Sub(s.Start).Round(time.Microsecond))
		}
		if gaps := gapsWithin(spans, warm.Name); len(gaps) > 0 {
			fmt.Printf("  warm chain: from one task's end to the next one's start: %s\n", formatDurations(gaps))
		}
	}
	for _, r := range rows {
		if strings.HasPrefix(r.check, "WRONG") {
			return fmt.Errorf("%s: %s", r.what, r.check)
		}
	}
	return nil
}

// gapsWithin returns the gaps between consecutive tasks of one execution.
func gapsWithin(spans []harness.TaskSpan, execution string) []time.Duration {
	var mine []harness.TaskSpan
	for _, s := range spans {
		if strings.HasPrefix(s.TaskID, execution+"-") {
			mine = append(mine, s)
		}
	}
	return harness.Gaps(mine)
}

func checkInt(e *harness.Execution, key string, want int64) string {
	got := e.Outputs.GetLiterals()[key].GetScalar().GetPrimitive().GetInteger()
	if got != want {
		return fmt.Sprintf("WRONG: %s = %d, want %d", key, got, want)
	}
	return fmt.Sprintf("%s = %d, as expected", key, got)
}

func checkString(e *harness.Execution, key, want string) string {
	got := e.Outputs.GetLiterals()[key].GetScalar().GetPrimitive().GetStringValue()
	if got != want {
		return fmt.Sprintf("WRONG: %s = %q, want %q", key, got, want)
	}
	return fmt.Sprintf("%s = %q, as expected", key, got)
}

func describeTimings(t map[string]time.Duration) string {
	var parts []string
	for _, k := range []string{"build", "etcd", "apiserver", "crd", "kubelet", "propeller"} {
		parts = append(parts, fmt.Sprintf("%s %s", k, t[k].Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func formatDurations(ds []time.Duration) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, d.Round(time.Microsecond).String())
	}
	return strings.Join(parts, ", ")
}
