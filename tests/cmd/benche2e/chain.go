package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// chainLength is the number of tasks of bench.actors.chain20 and bench.pods.chain20.
const chainLength = 20

// chainResult is what the chain of 20 measured.
type chainResult struct {
	// podWall, coldWall are the wall times of the pod-per-task chain and of the actor chain on a cold
	// environment; warmWalls of each warm run.
	podWall, coldWall time.Duration
	warmWalls         []time.Duration
	// actorGaps are the gaps between consecutive tasks of each warm run (from the executor's log);
	// podGaps between the processes of consecutive pods.
	actorGaps, podGaps []time.Duration
	// warmRuns are how long each task of the warm runs took in the runtime; coldProcesses how long each
	// pod's pyflyte-execute process ran.
	warmRuns, coldProcesses []time.Duration
	// propeller's processor time and API requests per task, actor (warm runs) and pod.
	actorCPU, podCPU           time.Duration
	actorRequests, podRequests harness.APICounts
	actorTasks, podTasks       int
	// warmExecutions names the warm runs.
	warmExecutions []string
}

// chain runs the chain of 20: once pod per task, once as actor tasks on a cold environment, then warm runs
// times.
func (b *bencher) chain(ctx context.Context, runs int) (*chainResult, error) {
	r := &chainResult{}
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}

	var exec *harness.Execution
	measure := func(lp string) (time.Duration, harness.APICounts, error) {
		cpu0, err := b.stack.Propellers()[0].CPUTime()
		if err != nil {
			return 0, nil, err
		}
		api0 := b.stack.PropellerAPI.Counts()
		exec, err = b.stack.Run(ctx, b.reg, lp, x, 10*time.Minute)
		if err != nil {
			return 0, nil, err
		}
		if got := exec.Outputs.GetLiterals()["o0"].GetScalar().GetPrimitive().GetInteger(); got != chainLength {
			return 0, nil, fmt.Errorf("%s returned %d, want %d", lp, got, chainLength)
		}
		cpu1, err := b.stack.Propellers()[0].CPUTime()
		if err != nil {
			return 0, nil, err
		}
		return cpu1 - cpu0, b.stack.PropellerAPI.Counts().Sub(api0), nil
	}

	fmt.Println("\nchain of 20 tasks, pod per task ...")
	cpu, api, err := measure("bench.pods.chain20")
	if err != nil {
		return nil, err
	}
	r.podWall, r.podCPU, r.podRequests, r.podTasks = exec.Duration(), cpu, api, chainLength
	runsOfPods := podRuns(b.stack.Kubelet.ContainerRuns(), exec.Name)
	if len(runsOfPods) != chainLength {
		return nil, fmt.Errorf("pod chain ran %d pods, want %d", len(runsOfPods), chainLength)
	}
	for i, run := range runsOfPods {
		r.coldProcesses = append(r.coldProcesses, run.End.Sub(run.Start))
		if i > 0 {
			r.podGaps = append(r.podGaps, run.Start.Sub(runsOfPods[i-1].End))
		}
	}

	fmt.Println("chain of 20 tasks, actor, cold environment ...")
	if _, _, err := measure("bench.actors.chain20"); err != nil {
		return nil, err
	}
	r.coldWall = exec.Duration()

	fmt.Printf("chain of 20 tasks, actor, warm environment, %d runs ...\n", runs)
	for range runs {
		cpu, api, err := measure("bench.actors.chain20")
		if err != nil {
			return nil, err
		}
		r.warmWalls = append(r.warmWalls, exec.Duration())
		r.warmExecutions = append(r.warmExecutions, exec.Name)
		r.actorCPU += cpu
		r.actorTasks += chainLength
		if r.actorRequests == nil {
			r.actorRequests = harness.APICounts{}
		}
		for k, v := range api {
			r.actorRequests[k] += v
		}
		spans, err := b.spansOf(ctx, exec.Name)
		if err != nil {
			return nil, err
		}
		if len(spans) != chainLength {
			return nil, fmt.Errorf("warm chain %s: %d task spans in the executors' logs, want %d", exec.Name, len(spans), chainLength)
		}
		r.actorGaps = append(r.actorGaps, harness.Gaps(spans)...)
		for _, s := range spans {
			r.warmRuns = append(r.warmRuns, s.End.Sub(s.Start))
		}
	}
	return r, nil
}

func (r *chainResult) print() {
	warm := percentile(r.warmWalls, 50)
	fmt.Printf("  pod per task:     wall %s; gap from a pod's exit to the next one's start %s\n", round(r.podWall), describe(r.podGaps))
	fmt.Printf("  actor, cold:      wall %s\n", round(r.coldWall))
	fmt.Printf("  actor, warm:      wall p50 %s of %d runs; gap from a task's end to the next one's start %s\n",
		round(warm), len(r.warmWalls), describe(r.actorGaps))
	fmt.Printf("  a no-op task: warm in the runtime %s; a cold pyflyte-execute process %s\n", describe(r.warmRuns), describe(r.coldProcesses))
	fmt.Printf("  propeller per actor task: %s CPU, %.1f API requests (%s)\n", round(r.actorCPU/time.Duration(r.actorTasks)),
		float64(r.actorRequests.Total())/float64(r.actorTasks), perTask(r.actorRequests, r.actorTasks))
	fmt.Printf("  propeller per pod task:   %s CPU, %.1f API requests (%s)\n", round(r.podCPU/time.Duration(r.podTasks)),
		float64(r.podRequests.Total())/float64(r.podTasks), perTask(r.podRequests, r.podTasks))
	bench("task-gap-p50", ms(percentile(r.actorGaps, 50)), "ms")
	bench("task-gap-p99", ms(percentile(r.actorGaps, 99)), "ms")
	bench("task-gap-pod-p50", ms(percentile(r.podGaps, 50)), "ms")
	bench("warm-noop-p50", ms(percentile(r.warmRuns, 50)), "ms")
	bench("cold-process-p50", ms(percentile(r.coldProcesses, 50)), "ms")
	bench("warm-noop-speedup", ratio(percentile(r.coldProcesses, 50), percentile(r.warmRuns, 50)), "x")
	bench("chain20-pod-wall", ms(r.podWall), "ms")
	bench("chain20-actor-cold-wall", ms(r.coldWall), "ms")
	bench("chain20-actor-warm-wall", ms(warm), "ms")
	bench("chain20-speedup-cold", ratio(r.podWall, r.coldWall), "x")
	bench("chain20-speedup-warm", ratio(r.podWall, warm), "x")
	bench("propeller-cpu-per-task", ms(r.actorCPU/time.Duration(r.actorTasks)), "ms")
	bench("propeller-cpu-per-pod-task", ms(r.podCPU/time.Duration(r.podTasks)), "ms")
	bench("apiserver-requests-per-task", float64(r.actorRequests.Total())/float64(r.actorTasks), "n")
	bench("apiserver-requests-per-pod-task", float64(r.podRequests.Total())/float64(r.podTasks), "n")
}

// perTask lists request counts divided by tasks: "2.1 update flyteworkflows, ...".
func perTask(c harness.APICounts, tasks int) string {
	type kind struct {
		name string
		n    int
	}
	var kinds []kind
	for k, v := range c {
		kinds = append(kinds, kind{k.Verb + " " + k.Resource, v})
	}
	sort.Slice(kinds, func(i, j int) bool {
		return kinds[i].n > kinds[j].n || kinds[i].n == kinds[j].n && kinds[i].name < kinds[j].name
	})
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%.2f %s", float64(k.n)/float64(tasks), k.name))
	}
	return strings.Join(parts, ", ")
}

// podRuns returns the primary container runs of execution's pods (named after it), in start order.
func podRuns(runs []harness.ContainerRun, execution string) []harness.ContainerRun {
	var mine []harness.ContainerRun
	for _, r := range runs {
		if !r.Init && strings.HasPrefix(r.Pod[strings.IndexByte(r.Pod, '/')+1:], execution+"-") {
			mine = append(mine, r)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Start.Before(mine[j].Start) })
	return mine
}

// spansOf returns the task spans of execution's tasks from every executor's log, in start order.
func (b *bencher) spansOf(ctx context.Context, execution string) ([]harness.TaskSpan, error) {
	pods, err := b.stack.ExecutorPods(ctx)
	if err != nil {
		return nil, err
	}
	var spans []harness.TaskSpan
	for _, pod := range pods {
		for _, s := range harness.ActorTaskSpans(b.stack.Kubelet.Logs(pod.Namespace + "/" + pod.Name)) {
			if strings.HasPrefix(s.TaskID, execution+"-") && !s.End.IsZero() {
				spans = append(spans, s)
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
	return spans, nil
}
