package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNodeOverridesOfNameAndResourcesOnActorTasks: with_overrides(name=...) renames the node, and
// with_overrides(requests=...) gives the task the resources asked for, which for an actor task means
// an executor pod of those resources: a separate environment, never a silently ignored override.
func TestNodeOverridesOfNameAndResourcesOnActorTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.overrides.renamed_and_resized", nil, 3*time.Minute)
	require.NoError(t, err)
	pids := intsOf(exec.Outputs, "o0", "o1")
	assert.NotEqual(t, pids[0], pids[1], "the resized task ran in an executor of its own")

	node := exec.Workflow.WorkflowSpec.Nodes["n1"]
	require.NotNil(t, node)
	assert.Equal(t, "bigger", node.Name, "the node carries the overriding name")

	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 2, "one executor pod per environment: the default and the overridden resources")
	cpus := map[string]bool{}
	for _, p := range pods {
		cpus[p.Spec.Containers[0].Resources.Requests.Cpu().String()] = true
	}
	assert.Equal(t, map[string]bool{"500m": true, "1500m": true}, cpus)
	spans := executorSpans(ctx, t, stack)
	for _, p := range pods {
		assert.Len(t, spans[p.Name], 1, "each executor ran its one task")
	}
}

// TestNodeOverrideOfTimeoutOnActorTask: with_overrides(timeout=2s) on an actor task that sleeps 30 s
// fails it as a timeout within seconds.
func TestNodeOverrideOfTimeoutOnActorTask(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	started := time.Now()
	exec, err := stack.Run(ctx, reg, "constructs.overrides.timeout_override", nil, 3*time.Minute)
	require.Error(t, err)
	assert.Less(t, time.Since(started), 25*time.Second, "failed within seconds, not after the task's 30 s")
	assertTimedOut(t, exec, "2s")
}

// TestNodeOverrideOfRetriesOnActorTask: with_overrides(retries=2) lets an actor task that fails
// recoverably twice succeed on its third attempt.
func TestNodeOverrideOfRetriesOnActorTask(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.overrides.retries_override", nil, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(2), intOf(exec.Outputs.GetLiterals()["o0"]), "attempt 2 succeeded")
	assert.Len(t, spansOf(allSpans(ctx, t, stack), exec.Name), 3, "three attempts ran on the executor")
}
