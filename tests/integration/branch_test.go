package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
)

// TestBranchChoosesBetweenActorTasks: a conditional runs the actor task of the branch its condition
// picks, and only that one, in the environment's warm process, for either outcome.
func TestBranchChoosesBetweenActorTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	run := func(x int64) (string, int64, *v1alpha1.FlyteWorkflow) {
		exec, err := stack.Run(ctx, reg, "constructs.branches.describe", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(x)}, 3*time.Minute)
		require.NoError(t, err)
		return stringOf(exec.Outputs.GetLiterals()["o0"]), intOf(exec.Outputs.GetLiterals()["o1"]), exec.Workflow
	}
	positive, pidPositive, _ := run(5)
	assert.Equal(t, "5 is positive", positive)
	other, pidOther, wf := run(-2)
	assert.Equal(t, "-2 is not positive", other)
	assert.Equal(t, pidPositive, pidOther, "both branches' tasks ran in the same warm process")

	branch := wf.Status.NodeStatus["n0"]
	require.NotNil(t, branch, "the conditional is node n0")
	assert.Equal(t, v1alpha1.NodePhaseSucceeded, branch.GetPhase())
	spans := allSpans(ctx, t, stack)
	assert.Len(t, spans, 2, "one actor task per run: the branch not taken does not run")
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}
