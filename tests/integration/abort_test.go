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

	"github.com/flyteactors/flyteactors/tests/harness"
)

func seconds(n int64) map[string]*idlcore.Literal {
	return map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(n)}
}

// requireWarmExecutor checks that the stack has exactly one executor pod, named pod and still running.
func requireWarmExecutor(ctx context.Context, t *testing.T, stack *harness.Stack, pod string) {
	t.Helper()
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	assert.Equal(t, pod, pods[0].Name, "the same executor pod")
	assert.Equal(t, corev1.PodRunning, pods[0].Status.Phase, "the executor pod still runs")
	assert.Nil(t, pods[0].DeletionTimestamp)
}

// TestAbortWhileActorTaskRuns: aborting an execution whose actor task runs cancels the task (its Python
// runtime is stopped), frees the slot, and leaves the executor pod warm for the next task.
func TestAbortWhileActorTaskRuns(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Launch(ctx, reg, "constructs.timeouts.sleeper", seconds(120))
	require.NoError(t, err)
	running := waitForSpan(ctx, t, stack, exec.Name, false, 2*time.Minute)
	pid := lastPrintedPID(t, stack, running.Pod)

	aborted := time.Now()
	require.NoError(t, exec.Abort(ctx, "the test aborts it"))
	err = exec.Wait(ctx, time.Minute)
	require.Error(t, err)
	assert.Equal(t, idlcore.WorkflowExecution_ABORTED, exec.Phase)
	assert.Equal(t, "the test aborts it", exec.AbortCause)
	ended := waitForSpan(ctx, t, stack, exec.Name, true, 30*time.Second)
	assert.False(t, ended.OK, "the task did not complete: it was cancelled")
	assert.Less(t, ended.End.Sub(aborted), 10*time.Second, "cancelled within seconds of the abort")
	assert.True(t, eventually(10*time.Second, func() bool { return processGone(pid) }), "the runtime that ran the task (pid %d) is stopped", pid)

	next, err := stack.Run(ctx, reg, "constructs.timeouts.sleeper", seconds(0), time.Minute)
	require.NoError(t, err, "the slot is free: the environment's next task runs")
	assert.NotEqual(t, int64(pid), intOf(next.Outputs.GetLiterals()["o0"]), "in a fresh runtime")
	requireWarmExecutor(ctx, t, stack, running.Pod)
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no new pod")
}

// TestAbortWhileActorTaskQueued: aborting an execution whose actor task waits for the environment's one
// slot releases the task from the queue: it never runs, and the tasks after it run once the slot frees.
func TestAbortWhileActorTaskQueued(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	busy, err := stack.Launch(ctx, reg, "constructs.timeouts.sleeper", seconds(8))
	require.NoError(t, err)
	running := waitForSpan(ctx, t, stack, busy.Name, false, 2*time.Minute)

	queued, err := stack.Launch(ctx, reg, "constructs.timeouts.sleeper", seconds(0))
	require.NoError(t, err)
	require.True(t, eventually(30*time.Second, func() bool {
		require.NoError(t, queued.Refresh(ctx))
		node := queued.Workflow.Status.NodeStatus["n0"]
		return node != nil && node.GetTaskNodeStatus() != nil
	}), "the queued execution's task node was handed to the plugin")
	require.NoError(t, queued.Abort(ctx, "aborted while queued"))
	require.Error(t, queued.Wait(ctx, time.Minute))
	assert.Equal(t, idlcore.WorkflowExecution_ABORTED, queued.Phase)

	require.NoError(t, busy.Wait(ctx, time.Minute), "the running task is not disturbed")
	after, err := stack.Run(ctx, reg, "constructs.timeouts.sleeper", seconds(0), time.Minute)
	require.NoError(t, err, "the queue is not blocked by the released task")

	for _, s := range allSpans(ctx, t, stack) {
		assert.NotContains(t, s.TaskID, queued.Name, "the aborted task never ran")
	}
	waitForSpan(ctx, t, stack, after.Name, true, 10*time.Second)
	requireWarmExecutor(ctx, t, stack, running.Pod)
}

// TestChildLaunchPlanAbortedWithParent: aborting a parent execution aborts the child execution its
// launch plan node started, and with it the child's running actor task.
func TestChildLaunchPlanAbortedWithParent(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	parent, err := stack.Launch(ctx, reg, "constructs.launchplans.parent_of_sleeper", seconds(120))
	require.NoError(t, err)
	var children []*harness.Execution
	require.True(t, eventually(time.Minute, func() bool { children = stack.ChildExecutions(parent); return len(children) == 1 }))
	child := children[0]
	running := waitForSpan(ctx, t, stack, child.Name, false, 2*time.Minute)
	pid := lastPrintedPID(t, stack, running.Pod)

	require.NoError(t, parent.Abort(ctx, "the test aborts the parent"))
	require.Error(t, parent.Wait(ctx, time.Minute))
	assert.Equal(t, idlcore.WorkflowExecution_ABORTED, parent.Phase)
	require.Error(t, child.Wait(ctx, time.Minute))
	assert.Equal(t, idlcore.WorkflowExecution_ABORTED, child.Phase, "the child execution is aborted too")
	assert.Contains(t, child.AbortCause, "cascading abort as parent execution id ["+parent.Name+"] aborted")

	ended := waitForSpan(ctx, t, stack, child.Name, true, 30*time.Second)
	assert.False(t, ended.OK, "the child's actor task was cancelled")
	assert.True(t, eventually(10*time.Second, func() bool { return processGone(pid) }), "the runtime that ran it (pid %d) is stopped", pid)
	requireWarmExecutor(ctx, t, stack, running.Pod)
}
