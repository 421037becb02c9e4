package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestPropellerRestartLosesNothing: FlytePropeller crashes while one actor task runs
// and another waits in the queue behind it; the running one finishes while propeller is down, so its
// result is held, unacknowledged, by the executor. After the restart the new
// pool finds the environment, the executor reconnects, its result is adopted rather than run again, the
// queued task runs, both workflows succeed on their first attempts, and no second executor pod is made.
func TestPropellerRestartLosesNothing(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	seconds := func(s float64) map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(s)}
	}
	running, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds(2))
	require.NoError(t, err)
	var pod string
	require.Eventually(t, func() bool {
		pod = startedTaskPod(ctx, stack, running.Name)
		return pod != ""
	}, time.Minute, 20*time.Millisecond, "the first task started")
	queued, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", seconds(0.1))
	require.NoError(t, err)

	time.Sleep(1500 * time.Millisecond)
	stack.StopPropeller(true)
	require.Eventually(t, func() bool {
		return strings.Contains(strings.Join(stack.Kubelet.Logs(stack.Namespace+"/"+pod), "\n"), "(ok=true)")
	}, time.Minute, 20*time.Millisecond, "the running task finished while propeller was down")
	require.NoError(t, stack.StartPropeller())

	for _, exec := range []*harness.Execution{running, queued} {
		require.NoError(t, exec.Wait(ctx, 3*time.Minute))
		node := exec.Workflow.Status.NodeStatus["n0"]
		require.NotNil(t, node)
		assert.Equal(t, uint32(0), node.GetAttempts(), "%s: its first attempt succeeded", exec.Name)
	}
	spans := harness.ActorTaskSpans(stack.Kubelet.Logs(stack.Namespace + "/" + pod))
	starts := map[string]int{}
	for _, s := range spans {
		starts[s.TaskID]++
	}
	for id, n := range starts {
		assert.Equal(t, 1, n, "attempt %s ran once", id)
	}
	assert.Len(t, spans, 2, "the two attempts ran on the one executor")
	assert.Equal(t, 1, podsCreated(ctx, t, stack, "sleepy-actor"), "no duplicate executor pod")
}

// startedTaskPod returns the executor pod whose log shows a task of execution started, or "".
func startedTaskPod(ctx context.Context, stack *harness.Stack, execution string) string {
	pods, err := stack.ExecutorPods(ctx)
	if err != nil {
		return ""
	}
	for _, p := range pods {
		for _, line := range stack.Kubelet.Logs(stack.Namespace + "/" + p.Name) {
			if strings.Contains(line, "=== actor task "+execution+"-") && strings.Contains(line, ": start at") {
				return p.Name
			}
		}
	}
	return ""
}
