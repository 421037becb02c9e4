package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// TestChildLaunchPlanRunsAsItsOwnExecutionOnTheSameActors: a launch plan node starts an execution of its
// own (through flyteadmin), whose inputs are the node's merged with the launch plan's default and fixed
// inputs, and whose actor task runs in the same warm process as the parent's.
func TestChildLaunchPlanRunsAsItsOwnExecutionOnTheSameActors(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.launchplans.parent", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(1)}, 3*time.Minute)
	require.NoError(t, err)
	out := exec.Outputs
	// combine(1, 0, 0) = 100 in the parent; the child gets x=100, y=2 (default), z=3 (fixed).
	assert.Equal(t, int64(100*100+10*2+3), intOf(out.GetLiterals()["o0"]))
	pids := intsOf(out, "o1", "o2")
	assert.Equal(t, pids[0], pids[1], "the child execution's task ran in the parent's warm process")

	children := stack.ChildExecutions(exec)
	require.Len(t, children, 1)
	got, err := stack.Admin.GetExecution(ctx, &admin.WorkflowExecutionGetRequest{Id: children[0].ID})
	require.NoError(t, err)
	assert.Equal(t, idlcore.WorkflowExecution_SUCCEEDED, got.GetClosure().GetPhase())
	assert.Equal(t, admin.ExecutionMetadata_CHILD_WORKFLOW, got.GetSpec().GetMetadata().GetMode())
	assert.Equal(t, exec.Name, got.GetSpec().GetMetadata().GetParentNodeExecution().GetExecutionId().GetName())
	assert.Equal(t, "constructs.launchplans.child_lp", got.GetSpec().GetLaunchPlan().GetName())
	data, err := stack.Admin.GetExecutionData(ctx, &admin.WorkflowExecutionGetDataRequest{Id: children[0].ID})
	require.NoError(t, err)
	in := data.GetFullInputs()
	assert.Equal(t, []int64{100, 2, 3}, intsOf(in, "x", "y", "z"), "node input, launch plan default, fixed input")

	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 2)
	assert.Equal(t, spans[0].Pod, spans[1].Pod, "one executor pod for both executions")
	assert.True(t, strings.HasPrefix(spans[1].TaskID, children[0].Name), "the second task is the child execution's: %v", spans)
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}
