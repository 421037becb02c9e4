package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"

	"github.com/flyteactors/flyteactors/tests/harness"
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
	assert.Less(t, time.Since(running.Start), 20*time.Second, "failed within seconds, not after the task's 30 s")
	assertTimedOut(t, exec, "2s")

	ended := waitForSpan(ctx, t, stack, exec.Name, true, 30*time.Second)
	assert.False(t, ended.OK, "the task was cancelled, not completed")
	assert.True(t, eventually(10*time.Second, func() bool { return processGone(pid) }), "the runtime that ran it (pid %d) is stopped", pid)

	next, err := stack.Run(ctx, reg, "constructs.timeouts.sleeper", seconds(0), time.Minute)
	require.NoError(t, err, "the environment's next task runs")
	assert.NotEqual(t, int64(pid), intOf(next.Outputs.GetLiterals()["o0"]), "in a fresh runtime")
	requireWarmExecutor(ctx, t, stack, running.Pod)
}

// assertTimedOut checks that execution exec failed because its node n0 outlived a timeout of the given
// length. flytekit gives the node the task's timeout too, so propeller holds two deadlines of that
// length, the node's (from queueing) and the attempt's (from its start), and reports whichever it finds
// expired first: a timed-out node, or a failed one whose error is the expired attempt. Pod tasks are
// judged the same way.
func assertTimedOut(t *testing.T, exec *harness.Execution, timeout string) {
	t.Helper()
	assert.Equal(t, idlcore.WorkflowExecution_FAILED, exec.Phase)
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	require.NotNil(t, exec.Error)
	assert.Equal(t, idlcore.ExecutionError_USER, exec.Error.GetKind())
	switch node.GetPhase() {
	case v1alpha1.NodePhaseTimedOut:
		assert.Equal(t, "Timeout", exec.Error.GetCode())
		assert.Equal(t, "Timeout in node", exec.Error.GetMessage())
	case v1alpha1.NodePhaseFailed:
		require.NotNil(t, node.GetExecutionError())
		assert.Equal(t, "RetriesExhausted|TimeoutExpired", node.GetExecutionError().GetCode())
		assert.Contains(t, node.GetExecutionError().GetMessage(), "task execution timeout ["+timeout+"] expired")
	default:
		t.Errorf("node n0 ended %s, not timed out: %v", node.GetPhase(), exec.Error)
	}
}
