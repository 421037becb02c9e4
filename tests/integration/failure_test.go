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

// TestUserErrorIsAUserFailureWithFlytekitsMessage: an exception in an actor task's code fails the
// task as the user's fault, with the message flytekit recorded, and the warm process goes on to run
// the next task.
func TestUserErrorIsAUserFailureWithFlytekitsMessage(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	inputs := func(x, y int64) map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(x), "y": coreutils.MustMakeLiteral(y)}
	}

	failed, err := stack.Run(ctx, reg, "actors.failing.divide_wf", inputs(1, 0), 3*time.Minute)
	require.Error(t, err)
	require.NotNil(t, failed.Workflow)
	node := failed.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	execErr := node.GetExecutionError()
	require.NotNil(t, execErr, "the failed node carries its error")
	assert.Equal(t, idlcore.ExecutionError_USER, execErr.GetKind())
	assert.Contains(t, execErr.GetMessage(), "cannot divide 1 by zero")
	assert.Contains(t, execErr.GetMessage(), "ValueError")

	ok, err := stack.Run(ctx, reg, "actors.failing.divide_wf", inputs(1, 4), 3*time.Minute)
	require.NoError(t, err)
	assert.InDelta(t, 0.25, ok.Outputs.GetLiterals()["o0"].GetScalar().GetPrimitive().GetFloatValue(), 1e-9)
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "the failure did not cost the executor")
}
