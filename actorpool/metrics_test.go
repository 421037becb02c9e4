package actorpool_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flytestdlib/promutils"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// TestMetricsCountWhatThePoolDoes: the gauges say what the pool holds when scraped, the counters what
// became of its attempts and executors.
func TestMetricsCountWhatThePoolDoes(t *testing.T) {
	scope := promutils.NewTestScope()
	opts := testOptions()
	opts.Metrics = scope
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := pooltest.Spec("env", time.Hour)

	f.submit(t, spec, "a", "b", "c")
	eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	assert.Equal(t, map[string]float64{"environments": 1, "executors_connected": 0, "attempts_queued": 3, "slots_used": 0},
		gauges(t, scope), "before any executor")

	e, _, _ := f.attach(t, spec, "pod-1", nil, nil) // one slot: a runs, b and c wait
	assert.Equal(t, map[string]float64{"environments": 1, "executors_connected": 1, "attempts_queued": 2, "slots_used": 1},
		gauges(t, scope))

	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"}) // b is assigned
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "b", Failure: &actorpool.Failure{Kind: actorpool.FailureUser, Message: "boom"}})
	f.pool.DetachExecutor(e, "stream closed") // c runs on it: lost once the grace ends
	eventuallyPhase(t, f.pool, "c", actorpool.TaskFailed)

	assert.Equal(t, map[string]float64{"environments": 1, "executors_connected": 0, "attempts_queued": 0, "slots_used": 0},
		gauges(t, scope), "after the executor went away")
	ended := counter(t, scope, "attempts_ended")
	assert.Equal(t, map[string]float64{"succeeded": 1, "user_error": 1, "system_error": 1}, ended)
	assert.Equal(t, map[string]float64{"": 1}, counter(t, scope, "executors_lost"))
	waits, waited := histogram(t, scope, "queue_wait_seconds")
	assert.Equal(t, uint64(3), waits, "each attempt waited once")
	assert.Greater(t, waited, 0.0, "waits shorter than a second count too")

	// An executor that goes away running only an attempt propeller aborted failed nothing: not lost.
	f.submit(t, spec, "d")
	e, _, _ = f.attach(t, spec, "pod-2", nil, nil)
	eventuallyPhase(t, f.pool, "d", actorpool.TaskAssigned)
	f.pool.Release("d")
	f.pool.DetachExecutor(e, "stream closed")
	// Its slot is freed once the reconnect grace ends and the pool gives pod-2 up.
	require.Eventually(t, func() bool { return gauges(t, scope)["slots_used"] == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]float64{"": 1}, counter(t, scope, "executors_lost"), "an executor with nothing to lose")

	f.stop()
	assert.Empty(t, gauges(t, scope), "a stopped pool's gauges leave the registry, and the registry lets go of the pool")
}

// scraped gathers the metrics of scope from the default registry, where promutils registers them.
func scraped(t *testing.T, scope promutils.Scope) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, fam := range families {
		for _, name := range []string{"environments", "executors_connected", "attempts_queued", "slots_used",
			"attempts_ended", "executors_lost", "queue_wait_seconds"} {
			if fam.GetName() == scope.NewScopedMetricName(name) {
				out[name] = fam
			}
		}
	}
	return out
}

func gauges(t *testing.T, scope promutils.Scope) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, fam := range scraped(t, scope) {
		if fam.GetType() == dto.MetricType_GAUGE {
			out[name] = fam.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return out
}

// counter returns a counter's values by the value of its one label ("" for a counter without labels).
func counter(t *testing.T, scope promutils.Scope, name string) map[string]float64 {
	t.Helper()
	fam := scraped(t, scope)[name]
	require.NotNil(t, fam, "no metric %s", name)
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		label := ""
		if len(m.GetLabel()) > 0 {
			label = m.GetLabel()[0].GetValue()
		}
		out[label] = m.GetCounter().GetValue()
	}
	return out
}

// histogram returns a histogram's sample count and sum.
func histogram(t *testing.T, scope promutils.Scope, name string) (uint64, float64) {
	t.Helper()
	fam := scraped(t, scope)[name]
	require.NotNil(t, fam, "no metric %s", name)
	h := fam.GetMetric()[0].GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum()
}
