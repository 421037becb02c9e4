package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

var integerType = &idlcore.LiteralType{Type: &idlcore.LiteralType_Simple{Simple: idlcore.SimpleType_INTEGER}}

// threeInputs is a workflow interface of three integer inputs x, y, z and one output.
func threeInputs() *idlcore.TypedInterface {
	v := &idlcore.Variable{Type: integerType}
	return &idlcore.TypedInterface{
		Inputs:  &idlcore.VariableMap{Variables: map[string]*idlcore.Variable{"x": v, "y": v, "z": v}},
		Outputs: &idlcore.VariableMap{Variables: map[string]*idlcore.Variable{"o0": v}},
	}
}

// childLaunchPlan defaults y to 2 and fixes z to 3.
func childLaunchPlan() *admin.LaunchPlanSpec {
	return &admin.LaunchPlanSpec{
		DefaultInputs: &idlcore.ParameterMap{Parameters: map[string]*idlcore.Parameter{
			"y": {Var: &idlcore.Variable{Type: integerType}, Behavior: &idlcore.Parameter_Default{Default: coreutils.MustMakeLiteral(2)}},
		}},
		FixedInputs: &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"z": coreutils.MustMakeLiteral(3)}},
	}
}

func TestLaunchPlanClosureExpectsFreeInputsAsFlyteadminDoes(t *testing.T) {
	closure, err := launchPlanClosure(childLaunchPlan(), threeInputs())
	require.NoError(t, err)
	params := closure.GetExpectedInputs().GetParameters()
	require.Len(t, params, 2, "the fixed input is not expected")
	assert.True(t, params["x"].GetRequired(), "an input without default is required")
	assert.Equal(t, int64(2), params["y"].GetDefault().GetScalar().GetPrimitive().GetInteger())
	assert.Equal(t, threeInputs().GetOutputs().GetVariables()["o0"].GetType(), closure.GetExpectedOutputs().GetVariables()["o0"].GetType())

	spec := childLaunchPlan()
	spec.FixedInputs.Literals["w"] = coreutils.MustMakeLiteral(1)
	_, err = launchPlanClosure(spec, threeInputs())
	assert.EqualError(t, err, "unexpected fixed_input w")
}

func TestExecutionInputsMergeAsFlyteadminDoes(t *testing.T) {
	closure, err := launchPlanClosure(childLaunchPlan(), threeInputs())
	require.NoError(t, err)
	merge := func(given map[string]*idlcore.Literal) (*idlcore.LiteralMap, error) {
		return executionInputs(&idlcore.LiteralMap{Literals: given}, childLaunchPlan().GetFixedInputs(), closure.GetExpectedInputs())
	}
	one := coreutils.MustMakeLiteral(1)

	inputs, err := merge(map[string]*idlcore.Literal{"x": one})
	require.NoError(t, err)
	got := map[string]int64{}
	for k, v := range inputs.GetLiterals() {
		got[k] = v.GetScalar().GetPrimitive().GetInteger()
	}
	assert.Equal(t, map[string]int64{"x": 1, "y": 2, "z": 3}, got, "given, default, fixed")

	for name, tc := range map[string]struct {
		given   map[string]*idlcore.Literal
		message string
	}{
		"missing required": {map[string]*idlcore.Literal{}, "expected_inputs x missing"},
		"unknown input":    {map[string]*idlcore.Literal{"x": one, "q": one}, "invalid input q"},
		"fixed given":      {map[string]*idlcore.Literal{"x": one, "z": one}, "invalid input z"},
		"wrong type":       {map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral("one")}, "invalid x input wrong type"},
	} {
		_, err := merge(tc.given)
		require.Error(t, err, name)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), name)
		assert.Contains(t, status.Convert(err).Message(), tc.message, name)
	}
}

func TestWorkflowPhasesMapToExecutionPhases(t *testing.T) {
	assert.False(t, terminal(workflowPhase(0)), "a Ready workflow has sent no event: UNDEFINED")
	assert.Equal(t, idlcore.WorkflowExecution_UNDEFINED, workflowPhase(0))
	err := alreadyTerminal(idlcore.WorkflowExecution_SUCCEEDED)
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Len(t, status.Convert(err).Details(), 1)
	reason, ok := status.Convert(err).Details()[0].(*admin.EventFailureReason)
	require.True(t, ok)
	assert.Equal(t, "SUCCEEDED", reason.GetAlreadyInTerminalState().GetCurrentPhase())
}
