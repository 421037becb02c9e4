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
	assert.Equal(t, uint64(3), histogramCount(t, scope, "queue_wait"), "each attempt waited once")
}

// scraped gathers the metrics of scope from the default registry, where promutils registers them.
func scraped(t *testing.T, scope promutils.Scope) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, fam := range families {
		for _, name := range []string{"environments", "executors_connected", "attempts_queued", "slots_used",
			"attempts_ended", "executors_lost", "queue_wait"} {
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

func histogramCount(t *testing.T, scope promutils.Scope, name string) uint64 {
	t.Helper()
	fam := scraped(t, scope)[name]
	require.NotNil(t, fam, "no metric %s", name)
	return fam.GetMetric()[0].GetHistogram().GetSampleCount()
}
