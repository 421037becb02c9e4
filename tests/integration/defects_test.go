package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestTasksNeverSeeTheExecutorsToken: the task's environment holds none of the
// executor pod's identity, and its parent's (the executor bridge's /proc/<pid>/environ, readable by
// the task) no longer holds the token.
func TestTasksNeverSeeTheExecutorsToken(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "defects")
	exec, err := stack.Run(ctx, reg, "defects.secrets.wf", nil, 3*time.Minute)
	require.NoError(t, err)
	seen := exec.Outputs.GetLiterals()["o0"].GetScalar().GetPrimitive().GetStringValue()
	t.Logf("the task saw: %s", seen)
	assert.True(t, strings.HasPrefix(seen, "environ=none "), seen)
	assert.Contains(t, seen, "FLYTE_ACTOR_POD_NAME", "the check reads the bridge's environment")
	assert.NotContains(t, seen, "FLYTE_ACTOR_TOKEN,")
	assert.False(t, strings.HasSuffix(seen, "FLYTE_ACTOR_TOKEN"), seen)
}

// TestTaskExitFailsAsInItsOwnPod: sys.exit(3) in an actor task fails with the same
// kind and code as in a pod of its own.
func TestTaskExitFailsAsInItsOwnPod(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "defects")
	errorOf := func(wf string) (*harness.Execution, string, string) {
		exec, err := stack.Run(ctx, reg, wf, nil, 5*time.Minute)
		require.Error(t, err)
		require.NotNil(t, exec.Workflow)
		node := exec.Workflow.Status.NodeStatus["n0"]
		require.NotNil(t, node)
		require.NotNil(t, node.GetExecutionError(), "the failed node carries its error")
		return exec, node.GetExecutionError().GetKind().String(), node.GetExecutionError().GetCode()
	}
	pod, podKind, podCode := errorOf("defects.exits.in_a_pod")
	actor, actorKind, actorCode := errorOf("defects.exits.in_an_actor")
	t.Logf("in a pod: %s %s (attempts %d); in an actor: %s %s (attempts %d)", podKind, podCode,
		pod.Workflow.Status.NodeStatus["n0"].GetAttempts(), actorKind, actorCode, actor.Workflow.Status.NodeStatus["n0"].GetAttempts())
	assert.Equal(t, podKind, actorKind)
	assert.Equal(t, podCode, actorCode)
	assert.Equal(t, pod.Workflow.Status.NodeStatus["n0"].GetAttempts(), actor.Workflow.Status.NodeStatus["n0"].GetAttempts(),
		"the same retries")
}
