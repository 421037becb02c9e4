package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheOnActorTaskWithNoopCatalog: a cache=True actor task carries its cache settings to propeller
// like any task, and with the harness's noop catalog (no datacatalog: caching disabled) it runs on every
// execution, in the warm process. A cache hit skips the plugin entirely (propeller checks the catalog
// first), which this stack cannot show.
func TestCacheOnActorTaskWithNoopCatalog(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	first, err := stack.Run(ctx, reg, "constructs.caching.cached", nil, 3*time.Minute)
	require.NoError(t, err)
	second, err := stack.Run(ctx, reg, "constructs.caching.cached", nil, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(9), intOf(first.Outputs.GetLiterals()["o0"]))
	assert.Equal(t, int64(9), intOf(second.Outputs.GetLiterals()["o0"]))
	assert.Equal(t, intOf(first.Outputs.GetLiterals()["o1"]), intOf(second.Outputs.GetLiterals()["o1"]), "both in the warm process")

	taskID := first.Workflow.WorkflowSpec.Nodes["n0"].GetTaskID()
	require.NotNil(t, taskID)
	task := first.Workflow.Tasks[*taskID]
	require.NotNil(t, task)
	assert.True(t, task.GetMetadata().GetDiscoverable(), "cache=True reaches propeller")
	assert.Equal(t, "1", task.GetMetadata().GetDiscoveryVersion())
	assert.Equal(t, "actor", task.GetType())
	assert.Len(t, spansOf(allSpans(ctx, t, stack), first.Name), 1, "the first run ran the task")
	assert.Len(t, spansOf(allSpans(ctx, t, stack), second.Name), 1, "so did the second: the noop catalog caches nothing")
}
