package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestActorChainRunsInOneWarmProcess is the walking skeleton: three chained actor tasks on
// replica_count=1 run in one warm Python process of one executor pod, and a second run of the
// workflow while the environment lives reuses it.
func TestActorChainRunsInOneWarmProcess(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	inputs := func() map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}
	}

	first, err := stack.Run(ctx, reg, "actors.chain.chain", inputs(), 3*time.Minute)
	require.NoError(t, err)
	value, pids := chainOutputs(first)
	assert.Equal(t, int64(44), value)
	assert.Len(t, pids, 1, "all three tasks ran in one Python process: %v", pids)

	executors, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, executors, 1, "replica_count=1 makes exactly one executor pod")
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")

	second, err := stack.Run(ctx, reg, "actors.chain.chain", inputs(), 3*time.Minute)
	require.NoError(t, err)
	value, secondPIDs := chainOutputs(second)
	assert.Equal(t, int64(44), value)
	assert.Equal(t, pids, secondPIDs, "the second run used the same warm process")
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "the second run created no pod")

	t.Logf("first run (cold environment): %s; second run (warm): %s", first.Duration(), second.Duration())

	// What an operator's Prometheus scrapes from propeller says the same.
	samples := scrape(t, stack)
	assert.Equal(t, 6.0, metricSum(samples, "pool:attempts_ended", map[string]string{"outcome": "succeeded"}), "six attempts succeeded")
	assert.Equal(t, 6.0, metricSum(samples, "pool:queue_wait_seconds_count", nil), "each attempt left the queue once")
	assert.Equal(t, 1.0, metricSum(samples, "pool:environments", nil))
	assert.Equal(t, 1.0, metricSum(samples, "pool:executors_connected", nil))
	assert.Equal(t, 0.0, metricSum(samples, "pool:attempts_queued", nil))
}

// chainOutputs returns the chain's final value and the set of process ids its tasks ran in.
func chainOutputs(e *harness.Execution) (int64, map[int64]bool) {
	out := e.Outputs.GetLiterals()
	pids := map[int64]bool{}
	for _, key := range []string{"o1", "o2", "o3"} {
		pids[out[key].GetScalar().GetPrimitive().GetInteger()] = true
	}
	return out["o0"].GetScalar().GetPrimitive().GetInteger(), pids
}
