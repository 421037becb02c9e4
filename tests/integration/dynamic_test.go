package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// cubesOf returns the list output o0 of a cubes workflow as integers.
func cubesOf(t *testing.T, outputs *idlcore.LiteralMap) []int64 {
	t.Helper()
	var got []int64
	for _, l := range outputs.GetLiterals()["o0"].GetCollection().GetLiterals() {
		got = append(got, intOf(l))
	}
	return got
}

// TestDynamicWorkflowOfActorTasks: a @dynamic task (in a pod of its own) yields actor tasks, which run
// on the environment's one warm executor; their outputs come back through the dynamic workflow.
func TestDynamicWorkflowOfActorTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.dynamics.cubes_wf", map[string]*idlcore.Literal{"n": coreutils.MustMakeLiteral(4)}, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1, 8, 27}, cubesOf(t, exec.Outputs))

	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 4, "the four cube tasks ran as actor tasks")
	for _, s := range spans {
		assert.Equal(t, spans[0].Pod, s.Pod, "on the one executor pod")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 2, "the dynamic task's own pod and the executor pod")
}

// TestDynamicActorTask: an actor task in dynamic mode (flytekit's execution_mode) runs in the executor
// and yields actor tasks that run there too.
func TestDynamicActorTask(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.dynamics.actor_cubes_wf", map[string]*idlcore.Literal{"n": coreutils.MustMakeLiteral(4)}, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1, 8, 27}, cubesOf(t, exec.Outputs))

	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 5, "the dynamic task and its four cube tasks ran as actor tasks")
	for _, s := range spans {
		assert.Equal(t, spans[0].Pod, s.Pod, "on the one executor pod")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}
