package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// spansOf returns the actor tasks of one execution, in start order.
func spansOf(all []podSpan, execution string) []podSpan {
	var mine []podSpan
	for _, s := range all {
		if strings.HasPrefix(s.TaskID, execution+"-") {
			mine = append(mine, s)
		}
	}
	return mine
}

// TestRetriesRecoverableErrorSucceedsOnThirdAttempt: an actor task with retries=2 that raises
// FlyteRecoverableException twice succeeds on its third attempt, every attempt on the warm executor.
func TestRetriesRecoverableErrorSucceedsOnThirdAttempt(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.retries.recoverable", nil, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(2), intOf(exec.Outputs.GetLiterals()["o0"]), "the third attempt (number 2) succeeded")
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	assert.Equal(t, uint32(2), node.GetAttempts(), "the node's last attempt is number 2")
	assert.Equal(t, uint32(0), node.GetSystemFailures(), "user retries, not the system budget")

	attempts := spansOf(allSpans(ctx, t, stack), exec.Name)
	require.Len(t, attempts, 3, "three attempts ran as actor tasks")
	for i, s := range attempts {
		assert.True(t, strings.HasSuffix(s.TaskID, []string{"-0", "-1", "-2"}[i]), "attempt %d: %s", i, s.TaskID)
		assert.Equal(t, attempts[0].Pod, s.Pod, "on the one executor pod")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per attempt")
}

// TestRetriesNonRecoverableErrorIsNotRetried: an ordinary exception fails an actor task with retries=2
// at once, as a user error with flytekit's message, as it does a pod task.
func TestRetriesNonRecoverableErrorIsNotRetried(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.retries.non_recoverable", nil, 3*time.Minute)
	require.Error(t, err)
	assert.Equal(t, idlcore.WorkflowExecution_FAILED, exec.Phase)
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	require.NotNil(t, node.GetExecutionError())
	assert.Equal(t, idlcore.ExecutionError_USER, node.GetExecutionError().GetKind())
	assert.True(t, strings.HasPrefix(node.GetExecutionError().GetCode(), "USER:"), "code %s", node.GetExecutionError().GetCode())
	assert.Contains(t, node.GetExecutionError().GetMessage(), "1 is not negative: not recoverable")
	assert.Equal(t, uint32(0), node.GetAttempts(), "not retried: the last attempt is number 0")
	assert.Len(t, spansOf(allSpans(ctx, t, stack), exec.Name), 1, "one attempt ran")
}

// TestRetriesExecutorLostMidTaskUsesSystemBudget: when the executor running an actor task dies (its
// container crashes), the attempt fails as a system error and propeller retries it on the system budget
// (the task declares no retries), on the executor pod that replaces it.
func TestRetriesExecutorLostMidTaskUsesSystemBudget(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Launch(ctx, reg, "constructs.retries.survives_executor_loss", nil)
	require.NoError(t, err)
	first := waitForSpan(ctx, t, stack, exec.Name, false, 2*time.Minute)
	require.True(t, strings.HasSuffix(first.TaskID, "-0"), "attempt 0 runs: %s", first.TaskID)
	require.NoError(t, stack.Kubelet.Crash(stack.Namespace+"/"+first.Pod))
	crashed := time.Now()

	require.NoError(t, exec.Wait(ctx, 3*time.Minute))
	assert.Equal(t, int64(1), intOf(exec.Outputs.GetLiterals()["o0"]), "attempt 1 succeeded")
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	assert.Equal(t, uint32(1), node.GetSystemFailures(), "the lost attempt counts against the system budget")

	// Executor pods are built like the task's pod, restart policy Never: the crashed pod ended, and the
	// pool replaced it.
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	var running []string
	for _, p := range pods {
		if p.Name != first.Pod && p.DeletionTimestamp == nil {
			running = append(running, p.Name)
		}
	}
	assert.Len(t, running, 1, "one replacement executor pod")
	assert.Len(t, stack.Kubelet.StartedPods(), 2, "the crashed executor pod and its replacement")
	attempts := spansOf(allSpans(ctx, t, stack), exec.Name)
	require.Len(t, attempts, 2)
	assert.True(t, strings.HasSuffix(attempts[1].TaskID, "-1"), "attempt 1: %s", attempts[1].TaskID)
	assert.True(t, attempts[1].OK)
	// The pool replaces a lost executor pod when it next converges the environment (resync-interval).
	t.Logf("attempt 1 started %s after the crash", attempts[1].Start.Sub(crashed).Round(time.Millisecond))
}
