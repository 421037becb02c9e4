package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// TestScalingBurstUpAndBackDown: an environment of one to three executors (min_replica_count=1,
// replica_count=3, scaledown_ttl_seconds=2) runs one task on one executor; a burst of six tasks of 1.5 s
// grows it to three, and when the burst is over its idle executors go, one by one, back to one. No task
// is disturbed: every item succeeds on its first attempt, and an executor is removed only when it has
// run its last task.
func TestScalingBurstUpAndBackDown(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	_, err := stack.Run(ctx, reg, "actors.scaling.one", nil, 5*time.Minute)
	require.NoError(t, err)
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1, "at its fewest: one executor")

	seconds := make([]*idlcore.Literal, 6)
	for i := range seconds {
		seconds[i] = coreutils.MustMakeLiteral(1.5)
	}
	burst, err := stack.Run(ctx, reg, "actors.scaling.burst", map[string]*idlcore.Literal{"seconds": {Value: &idlcore.Literal_Collection{
		Collection: &idlcore.LiteralCollection{Literals: seconds}}}}, 5*time.Minute)
	require.NoError(t, err)
	assert.Len(t, burst.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals(), 6)

	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 7, "each task ran once, on its first attempt")
	used := map[string]bool{}
	for _, s := range spans {
		used[s.Pod] = true
		assert.True(t, s.OK, "%s on %s", s.TaskID, s.Pod)
	}
	assert.Len(t, used, 3, "the burst grew the environment to replica_count executors")
	assert.Equal(t, 3, maxOverlap(spans))
	for _, e := range stack.Admin.TaskEvents(burst.Name) {
		assert.Zero(t, e.GetRetryAttempt(), "no task was retried: %s", e.GetTaskId().GetName())
	}

	// The burst is over: executors idle for 2 s go, one at a time, back to one.
	var alive []corev1.Pod
	require.Eventually(t, func() bool {
		pods, err := stack.ExecutorPods(ctx)
		require.NoError(t, err)
		alive = alive[:0]
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				alive = append(alive, p)
			}
		}
		return len(alive) == 1
	}, time.Minute, 100*time.Millisecond)
	// A removed executor had ended its last task before its pod was deleted.
	deleted := map[string]time.Time{}
	for _, run := range stack.Kubelet.ContainerRuns() {
		if !run.Init && run.Pod != stack.Namespace+"/"+alive[0].Name {
			deleted[run.Pod[len(stack.Namespace)+1:]] = run.End
		}
	}
	for _, s := range spans {
		if end, removed := deleted[s.Pod]; removed {
			assert.True(t, s.End.Before(end), "%s ended (%s) before its executor %s stopped (%s)", s.TaskID, s.End, s.Pod, end)
		}
	}
	samples := scrape(t, stack)
	env := func(event string) map[string]string {
		return map[string]string{"environment": "scaling-actor", "event": event}
	}
	assert.Equal(t, 2.0, metricSum(samples, "pool:environment_events", env("scaled_down")))
	assert.GreaterOrEqual(t, metricSum(samples, "pool:environment_events", env("scaled_up")), 1.0)
	assert.Equal(t, 7.0, metricSum(samples, "pool:attempts_ended", map[string]string{"outcome": "succeeded"}))
}

// TestParallelismRunsTasksAtOnceInRuntimesOfTheirOwn: parallelism=2 on one replica runs two tasks at
// once on the one executor pod, each in a warm Python process of its own.
func TestParallelismRunsTasksAtOnceInRuntimesOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	seconds := make([]*idlcore.Literal, 4)
	for i := range seconds {
		seconds[i] = coreutils.MustMakeLiteral(1.0)
	}
	exec, err := stack.Run(ctx, reg, "actors.scaling.two_at_once", map[string]*idlcore.Literal{"seconds": {Value: &idlcore.Literal_Collection{
		Collection: &idlcore.LiteralCollection{Literals: seconds}}}}, 5*time.Minute)
	require.NoError(t, err)
	pids := map[int64]bool{}
	for _, l := range exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals() {
		pids[intOf(l)] = true
	}
	assert.Len(t, pids, 2, "two runtimes, each running its share of the tasks")
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	assert.Len(t, pods, 1)
	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 4)
	assert.Equal(t, 2, maxOverlap(spans), "two tasks at once on the one executor")
}
