package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
)

// TestTimeoutFailsTheTaskAndStopsItsRuntime: an actor task with timeout=2s that sleeps 30 s fails as a
// timeout within seconds, exactly as propeller fails a pod task; the Python runtime that ran it is
// stopped rather than left computing, and the environment's next task runs on the same executor.
func TestTimeoutFailsTheTaskAndStopsItsRuntime(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Launch(ctx, reg, "constructs.timeouts.times_out", nil)
	require.NoError(t, err)
	running := waitForSpan(ctx, t, stack, exec.Name, false, 2*time.Minute)
	pid := lastPrintedPID(t, stack, running.Pod)

	require.Error(t, exec.Wait(ctx, time.Minute))
	assert.Equal(t, idlcore.WorkflowExecution_FAILED, exec.Phase)
	assert.Less(t, time.Since(running.Start), 20*time.Second, "failed within seconds, not after the task's 30 s")
	// flytekit gives the node the task's timeout too, and propeller checks the node's (active) deadline
	// first: the node times out, as a pod task's would.
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	assert.Equal(t, v1alpha1.NodePhaseTimedOut, node.GetPhase())
	require.NotNil(t, exec.Error)
	assert.Equal(t, idlcore.ExecutionError_USER, exec.Error.GetKind())
	assert.Equal(t, "Timeout", exec.Error.GetCode())
	assert.Equal(t, "Timeout in node", exec.Error.GetMessage())

	ended := waitForSpan(ctx, t, stack, exec.Name, true, 30*time.Second)
	assert.False(t, ended.OK, "the task was cancelled, not completed")
	assert.True(t, eventually(10*time.Second, func() bool { return processGone(pid) }), "the runtime that ran it (pid %d) is stopped", pid)

	next, err := stack.Run(ctx, reg, "constructs.timeouts.sleeper", seconds(0), time.Minute)
	require.NoError(t, err, "the environment's next task runs")
	assert.NotEqual(t, int64(pid), intOf(next.Outputs.GetLiterals()["o0"]), "in a fresh runtime")
	requireWarmExecutor(ctx, t, stack, running.Pod)
}
