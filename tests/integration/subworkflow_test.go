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

// TestSubworkflowsTwoLevelsDeep: actor tasks in a workflow, its subworkflow and that subworkflow's own
// subworkflow all run, warm, in the environment's one process; values flow through both levels.
func TestSubworkflowsTwoLevelsDeep(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.subworkflows.outer", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(1)}, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, idlcore.WorkflowExecution_SUCCEEDED, exec.Phase)
	out := exec.Outputs
	assert.Equal(t, int64(8), intOf(out.GetLiterals()["o0"]), "1 doubled at three levels")
	pids := intsOf(out, "o1", "o2", "o3")
	assert.Equal(t, pids[0], pids[1], "the subworkflow's task ran in the outer task's process")
	assert.Equal(t, pids[0], pids[2], "the sub-subworkflow's task ran in the outer task's process")

	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 3, "three actor tasks ran on executors")
	for _, s := range spans {
		assert.Equal(t, spans[0].Pod, s.Pod, "all on the one executor pod")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
	assert.Empty(t, stack.ChildExecutions(exec), "subworkflows run inside the execution, unlike launch plans")
}
