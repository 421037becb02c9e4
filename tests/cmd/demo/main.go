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
	os.Exit(harness.RunProgram("demo", *verbose, run))
}

// demoRun is one execution the demo makes and how it checks the outcome.
type demoRun struct {
	what    string
	runtime string
	// launchPlan is the launch plan to run (a workflow's default launch plan has its name).
	launchPlan string
	inputs     map[string]*idlcore.Literal
	check      check
}

// row is one line of the demo's table.
type row struct {
	what    string
	runtime string
	wall    time.Duration
	pods    int
	outcome outcome
}

const (
	podPerTask = "pod per task"
	actor      = "actor"
)

// runs are the demo's executions, in order: the chain pod per task and on a cold and a warm actor
// environment, then each seed example pod per task and as the seed gives it, with actors.
func runs() []demoRun {
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}
	input := map[string]*idlcore.Literal{"input": coreutils.MustMakeLiteral(0)}
	name := map[string]*idlcore.Literal{"name": coreutils.MustMakeLiteral("x")}
	hello := nodeOutputIs("n0", "o0", "say_hello", "hello")
	instances := outputIs("o0", int64(4))
	tasks := outputIs("o0", "HELLO HELLO hello x")
	return []demoRun{
		{"chain of 3 tasks (x+1, x+1, x+1)", podPerTask, "basics.chain.chain", x, outputIs("o0", int64(44))},
		{"chain of 3 tasks, environment cold", actor, "actors.chain.chain", x, outputIs("o0", int64(44))},
		{"chain of 3 tasks, environment warm", actor, "actors.chain.chain", x, outputIs("o0", int64(44))},
		{"seed: hello world", podPerTask, "seed_pods.hello_world.wf", nil, hello},
		{"seed: hello world", actor, "seed.hello_world.wf", nil, hello},
		{"seed: multiple instances (4 chained)", podPerTask, "seed_pods.multiple_instances.wf", input, instances},
		{"seed: multiple instances (4 chained)", actor, "seed.multiple_instances.wf", input, instances},
		{"seed: multiple tasks (+ child launch plan)", podPerTask, "seed_pods.multiple_tasks.my_parent_wf", name, tasks},
		{"seed: multiple tasks (+ child launch plan)", actor, "seed.multiple_tasks.my_parent_wf", name, tasks},
		// Pods share no process: check_set finds no RUN_KEY_EX and returns None for a str.
		{"seed: custom pod templates", podPerTask, "seed_pods.custom_pod_templates.wf", nil,
			failsIn("n1", "Python value cannot be None", "check_set fails: RUN_KEY_EX unset in its own pod")},
		{"seed: custom pod templates", actor, "seed.custom_pod_templates.wf", nil,
			outputsAre(map[string]string{"o0": "compile_time", "o1": "run_time"})},
	}
}

func run(d harness.T) error {
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
	stack := harness.Start(d, src, harness.Options{BuildProgress: os.Stdout})
	fmt.Printf("stack up in %s (%s)\n\n", time.Since(start).Round(time.Millisecond), describeTimings(stack.Timings))

	reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "basics", "actors", "seed", "seed_pods")
	if err != nil {
		return err
	}
	fmt.Printf("%-44s %-13s %10s %5s  %s\n", "workflow", "runs as", "wall time", "pods", "output")
	var rows []row
	var warmChain string
	for _, r := range runs() {
		before := len(stack.Kubelet.StartedPods())
		exec, runErr := stack.Run(ctx, reg, r.launchPlan, r.inputs, 5*time.Minute)
		if exec == nil {
			return runErr
		}
		if r.what == "chain of 3 tasks, environment warm" {
			warmChain = exec.Name
		}
		rw := row{r.what, r.runtime, exec.Duration(), len(stack.Kubelet.StartedPods()) - before, r.check(ctx, exec, runErr)}
		fmt.Printf("%-44s %-13s %10s %5d  %s\n", rw.what, rw.runtime, rw.wall.Round(time.Millisecond), rw.pods, rw.outcome)
		rows = append(rows, rw)
	}
	if err := printExecutors(ctx, stack, warmChain); err != nil {
		return err
	}
	printLogLink(stack, warmChain)
	if err := printStatus(stack); err != nil {
		return err
	}
	if err := printMetrics(stack); err != nil {
		return err
	}
	var wrong []string
	for _, r := range rows {
		if !r.outcome.expected {
			wrong = append(wrong, fmt.Sprintf("%s (%s): %s", r.what, r.runtime, r.outcome.text))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("not as expected:\n  %s", strings.Join(wrong, "\n  "))
	}
	return nil
}

// printExecutors lists each executor pod's tasks and, for the warm chain, the gaps between its tasks.
func printExecutors(ctx context.Context, stack *harness.Stack, warmChain string) error {
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
		if gaps := gapsWithin(spans, warmChain); len(gaps) > 0 {
			fmt.Printf("  warm chain: from one task's end to the next one's start: %s\n", formatDurations(gaps))
		}
	}
	return nil
}

// printLogLink prints the log links Flyte's console shows for the first task of execution, as
// propeller sent them to flyteadmin with the task's success.
func printLogLink(stack *harness.Stack, execution string) {
	for _, e := range stack.Admin.TaskEvents(execution) {
		if e.GetPhase() != idlcore.TaskExecution_SUCCEEDED {
			continue
		}
		fmt.Printf("\nthe console's log links of task %s (node %s), on executor pod %v:\n", e.GetTaskId().GetName(),
			e.GetParentNodeExecutionId().GetNodeId(), e.GetCustomInfo().AsMap()["executorPod"])
		for _, l := range e.GetLogs() {
			fmt.Printf("  %-16s %s\n", l.GetName(), l.GetUri())
		}
		return
	}
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

func describeTimings(t map[string]time.Duration) string {
	var parts []string
	for _, k := range []string{"build", "etcd", "apiserver", "crd", "kubelet", "admin", "propeller"} {
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
