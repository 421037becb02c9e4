package actorpool_test

import (
	"sort"
	"strings"
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

// env is the label set of pooltest.Spec("env", ...): its name, project and domain.
const envLabels = "environment=env,project=p,domain=d"

// TestMetricsCountWhatThePoolDoes: the gauges say what the pool holds when scraped, per environment too;
// the counters and histograms what became of its attempts and executors, per environment.
func TestMetricsCountWhatThePoolDoes(t *testing.T) {
	scope := promutils.NewTestScope()
	opts := testOptions()
	opts.Metrics = scope
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := pooltest.Spec("env", time.Hour)

	f.submit(t, spec, "a", "b", "c")
	eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	require.Eventually(t, func() bool { return samples(t, scope, "environment_replicas")[envLabels] == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, map[string]float64{"": 1}, samples(t, scope, "environments"))
	assert.Equal(t, 3.0, samples(t, scope, "attempts_queued")[""])
	assert.Equal(t, map[string]float64{envLabels: 3}, samples(t, scope, "environment_attempts_queued"))
	assert.Equal(t, 1.0, samples(t, scope, "environment_executors")[envLabels+",state=starting"], "a pod asked for, no executor yet")
	assert.Equal(t, map[string]float64{envLabels + ",event=started": 1}, samples(t, scope, "environment_events"))

	// The pod was created a moment ago; its executor connects: one slot, a runs, b and c wait.
	created := time.Now().Add(-1500 * time.Millisecond)
	f.cluster.SetPod(actorpool.ExecutorPodState{Namespace: "ns", EnvironmentID: spec.Key.ID(), Pod: "pod-1", Created: created})
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	assert.Equal(t, 1.0, samples(t, scope, "executors_connected")[""])
	assert.Equal(t, 1.0, samples(t, scope, "environment_executors")[envLabels+",state=busy"])
	assert.Equal(t, 0.0, samples(t, scope, "environment_executors")[envLabels+",state=starting"])
	assert.Equal(t, map[string]float64{envLabels: 2}, samples(t, scope, "environment_attempts_queued"))
	assert.Equal(t, map[string]float64{envLabels: 1}, samples(t, scope, "environment_attempts_running"))
	starts, startSum := histogram(t, scope, "executor_start_seconds")
	assert.Equal(t, uint64(1), starts)
	assert.InDelta(t, 1.5, startSum, 0.5, "from the pod's creation to its executor connecting")

	f.pool.TaskStarted(e, "a", time.Now())
	start := time.Now()
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", StartedAt: start, FinishedAt: start.Add(40 * time.Millisecond)}) // b is assigned
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "b", Failure: &actorpool.Failure{Kind: actorpool.FailureUser, Message: "boom"}})
	f.pool.RuntimesRestarted(e, 1)            // b's failure killed a runtime, which the executor started again
	f.pool.RuntimesRestarted(e, 1)            // said again: counted once
	f.pool.DetachExecutor(e, "stream closed") // c runs on it: lost once the grace ends
	eventuallyPhase(t, f.pool, "c", actorpool.TaskFailed)

	assert.Equal(t, map[string]float64{envLabels + ",outcome=succeeded": 1, envLabels + ",outcome=user_error": 1,
		envLabels + ",outcome=system_error": 1}, samples(t, scope, "attempts_ended"))
	assert.Equal(t, map[string]float64{envLabels: 1}, samples(t, scope, "executors_lost"))
	assert.Equal(t, map[string]float64{envLabels: 1}, samples(t, scope, "runtime_restarts"))
	assert.Equal(t, map[string]float64{envLabels + ",runtime=cold": 1, envLabels + ",runtime=warm": 2}, samples(t, scope, "assignments"),
		"the first task on the executor's one runtime is cold, the next ones warm")
	waits, waited := histogram(t, scope, "queue_wait_seconds")
	assert.Equal(t, uint64(3), waits, "each attempt waited once")
	assert.Greater(t, waited, 0.0, "waits shorter than a second count too")
	dispatched, _ := histogram(t, scope, "dispatch_seconds")
	assert.Equal(t, uint64(1), dispatched, "a's assignment to its start")
	runs, ran := histogram(t, scope, "task_run_seconds")
	assert.Equal(t, uint64(1), runs, "a's run, as the executor timed it (b's carried no times)")
	assert.InDelta(t, 0.04, ran, 0.001)
	assert.Equal(t, map[string]float64{"": 0}, samples(t, scope, "slots_used"), "after the executor went away")

	// A pod that cannot pull its image: counted by reason.
	f.cluster.SetPod(actorpool.ExecutorPodState{Namespace: "ns", EnvironmentID: spec.Key.ID(), Pod: "pod-2",
		Problem: "container actor: ImagePullBackOff: Back-off pulling image", Reason: "ImagePullBackOff"})
	require.Eventually(t, func() bool {
		return samples(t, scope, "executor_pod_problems")[envLabels+",reason=ImagePullBackOff"] == 1
	}, 5*time.Second, time.Millisecond)

	f.stop()
	assert.Empty(t, samples(t, scope, "environments"), "a stopped pool's gauges leave the registry, and the registry lets go of the pool")
}

// TestMetricsLabelsAreBounded: environments beyond the label budget (the first ones seen keep their
// labels) count under "_other".
func TestMetricsLabelsAreBounded(t *testing.T) {
	scope := promutils.NewTestScope()
	opts := testOptions()
	opts.Metrics, opts.MetricsEnvironments = scope, 2
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	for _, name := range []string{"first", "second", "third", "fourth"} {
		f.submit(t, pooltest.Spec(name, time.Hour), name+"-task")
	}
	require.Eventually(t, func() bool { return len(samples(t, scope, "environment_attempts_queued")) == 3 }, 5*time.Second, time.Millisecond)
	queued := samples(t, scope, "environment_attempts_queued")
	assert.Equal(t, 2.0, queued["environment=_other,project=_other,domain=_other"], "%v", queued)
	named := 0
	for labels, n := range queued {
		if !strings.HasPrefix(labels, "environment=_other") {
			named++
			assert.Equal(t, 1.0, n, labels)
		}
	}
	assert.Equal(t, 2, named, "the first two environments seen keep their names: %v", queued)
}

// samples returns a metric's values by their labels ("name=value,..." sorted; "" without labels).
func samples(t *testing.T, scope promutils.Scope, name string) map[string]float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, fam := range families {
		if fam.GetName() != scope.NewScopedMetricName(name) {
			continue
		}
		for _, m := range fam.GetMetric() {
			out[labelsOf(m)] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

// labelsOf writes a sample's labels as "name=value,...": the environment's first, in the order
// environment, project, domain, then the others by name.
func labelsOf(m *dto.Metric) string {
	values := map[string]string{}
	var others []string
	for _, l := range m.GetLabel() {
		values[l.GetName()] = l.GetValue()
		switch l.GetName() {
		case "environment", "project", "domain":
		default:
			others = append(others, l.GetName())
		}
	}
	sort.Strings(others)
	var parts []string
	for _, name := range append([]string{"environment", "project", "domain"}, others...) {
		if v, ok := values[name]; ok {
			parts = append(parts, name+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

// histogram returns a histogram's sample count and sum, over all its label sets.
func histogram(t *testing.T, scope promutils.Scope, name string) (count uint64, sum float64) {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, fam := range families {
		if fam.GetName() == scope.NewScopedMetricName(name) {
			for _, m := range fam.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return count, sum
}

// TestMetricNamesListsEveryMetric: whatever the pool registers is in MetricNames (the dashboard's test
// holds the dashboard to that list).
func TestMetricNamesListsEveryMetric(t *testing.T) {
	scope := promutils.NewTestScope()
	opts := testOptions()
	opts.Metrics = scope
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	known := map[string]bool{}
	for _, name := range actorpool.MetricNames() {
		known[scope.NewScopedMetricName(name)] = true
	}
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	prefix := strings.TrimSuffix(scope.NewScopedMetricName("environments"), "environments")
	seen := 0
	for _, fam := range families {
		if strings.HasPrefix(fam.GetName(), prefix) {
			seen++
			assert.True(t, known[fam.GetName()], "%s is not in MetricNames", fam.GetName())
		}
	}
	assert.Greater(t, seen, 10)
}
