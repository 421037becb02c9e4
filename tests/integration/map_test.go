package integration

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// intList is a literal list of the integers 0..n-1.
func intList(n int) *idlcore.Literal {
	items := make([]*idlcore.Literal, n)
	for i := range items {
		items[i] = coreutils.MustMakeLiteral(i)
	}
	return &idlcore.Literal{Value: &idlcore.Literal_Collection{Collection: &idlcore.LiteralCollection{Literals: items}}}
}

// maxOverlap returns the largest number of spans running at one time.
func maxOverlap(spans []podSpan) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s.Start, 1}, edge{s.End, -1})
	}
	// At equal times, ends first: a task that ends as another starts does not overlap it.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	return most
}

// TestMapTaskOverActorTaskOnThreeReplicas: a map_task of 50 items over an actor task of an environment
// with replica_count=3 gives the right results from at most 3 executor pods, never running more tasks at
// once than replicas × parallelism (3 × 1), as the executors' own logs show.
func TestMapTaskOverActorTaskOnThreeReplicas(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	exec, err := stack.Run(ctx, reg, "constructs.maps.squares", map[string]*idlcore.Literal{"xs": intList(50)}, 5*time.Minute)
	require.NoError(t, err)
	results := exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals()
	require.Len(t, results, 50)
	for i, r := range results {
		assert.Equal(t, int64(i*i), intOf(r), "item %d", i)
	}

	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(pods), 3, "at most replica_count executor pods")
	assert.Len(t, stack.Kubelet.StartedPods(), len(pods), "no pod per item")
	spans := allSpans(ctx, t, stack)
	require.Len(t, spans, 50, "every item ran as an actor task")
	assert.LessOrEqual(t, maxOverlap(spans), 3, "never more tasks at once than 3 replicas × parallelism 1")
	byPod := map[string][]podSpan{}
	for _, s := range spans {
		byPod[s.Pod] = append(byPod[s.Pod], s)
	}
	for pod, mine := range byPod {
		assert.Equal(t, 1, maxOverlap(mine), "executor %s runs one task at a time", pod)
	}
	t.Logf("%d executor pods ran %d items; most at once: %d; took %s", len(byPod), len(spans), maxOverlap(spans), exec.Duration())
}

// TestMapTaskMinSuccessRatioToleratesFailedItems: with min_success_ratio 0.7, a map whose actor task
// fails on a quarter of the items succeeds with None for them; with 0.9 the same failures fail it.
func TestMapTaskMinSuccessRatioToleratesFailedItems(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "constructs")
	xs := map[string]*idlcore.Literal{"xs": intList(12)}

	exec, err := stack.Run(ctx, reg, "constructs.maps.tolerant", xs, 5*time.Minute)
	require.NoError(t, err)
	results := exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals()
	require.Len(t, results, 12)
	pids := map[int64]bool{}
	for i, r := range results {
		if i%4 == 0 {
			assert.NotNil(t, r.GetScalar().GetNoneType(), "item %d failed: None", i)
			continue
		}
		pids[intOf(r)] = true
	}
	assert.Len(t, pids, 1, "the successful items ran in the one warm process: %v", pids)

	failed, err := stack.Run(ctx, reg, "constructs.maps.intolerant", xs, 5*time.Minute)
	require.Error(t, err)
	assert.Equal(t, idlcore.WorkflowExecution_FAILED, failed.Phase)
	node := failed.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	require.NotNil(t, node.GetExecutionError())
	assert.Contains(t, node.GetExecutionError().GetMessage(), "is a multiple of four", "the items' own error is reported")
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "one executor pod for both maps")
	// Task ids end in the attempt number: without it, they name the item.
	ran := map[string]int{}
	for _, s := range allSpans(ctx, t, stack) {
		ran[s.TaskID[:strings.LastIndex(s.TaskID, "-")]]++
	}
	tolerantItems, intolerantItems := 0, 0
	for id, times := range ran {
		assert.Equal(t, 1, times, "item %s ran once: failed items are not retried", id)
		switch {
		case strings.HasPrefix(id, exec.Name):
			tolerantItems++
		case strings.HasPrefix(id, failed.Name):
			intolerantItems++
		}
	}
	assert.Equal(t, 12, tolerantItems, "every item of the tolerant map ran")
	// Once too many items failed, propeller aborts the map's remaining items, as it does for pods.
	assert.LessOrEqual(t, intolerantItems, 12)
	assert.GreaterOrEqual(t, intolerantItems, 2, "at least the two failures that sank the map ran")

}
