package actorpool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flyteorg/flyte/flytestdlib/promutils"
)

// Outcomes of the attempts_ended metric.
const (
	outcomeSucceeded   = "succeeded"
	outcomeUserError   = "user_error"
	outcomeSystemError = "system_error"
)

// metrics are the pool's figures for operators, in the scope the pool was given (propeller's, under
// the plugin's). A pool given no scope keeps none: every method of a nil *metrics does nothing.
type metrics struct {
	queueWait prometheus.Observer
	ended     *prometheus.CounterVec
	lost      prometheus.Counter
	scales    *prometheus.CounterVec
	gauges    *poolGauges
}

// queueWaitBuckets span 1 ms to about 17 min: a warm environment hands out work in milliseconds, a
// cold one in seconds to minutes. (promutils' stop watch would record whole seconds only.)
var queueWaitBuckets = prometheus.ExponentialBuckets(0.001, 4, 11)

// newMetrics registers the pool's metrics in scope; the gauges are read from p when scraped, so they
// are never stale and cost nothing between scrapes. unregister takes the gauges back out.
func newMetrics(scope promutils.Scope, p *Pool) *metrics {
	if scope == nil {
		return nil
	}
	m := &metrics{
		queueWait: scope.MustNewHistogramVecWithOptions("queue_wait_seconds",
			"Seconds an attempt waited in its environment's queue before an executor took it",
			promutils.HistogramOptions{Buckets: queueWaitBuckets}).WithLabelValues(),
		ended: scope.MustNewCounterVec("attempts_ended",
			"Attempts that ended, by outcome: succeeded, user_error (the task failed), system_error (executor lost, environment cannot start, ...)",
			"outcome"),
		lost: scope.MustNewCounter("executors_lost", "Executors that went away while they ran attempts, which then failed as lost"),
		scales: scope.MustNewCounterVec("environment_scaled",
			"Times an environment grew (up) or removed an idle executor (down) for its work", "direction"),
	}
	m.gauges = newPoolGauges(scope, p)
	prometheus.MustRegister(m.gauges)
	return m
}

// unregister takes the gauges out of the registry, which would otherwise keep the pool they read alive
// after it stopped.
func (m *metrics) unregister() {
	if m != nil {
		prometheus.Unregister(m.gauges)
	}
}

// waited records how long an attempt queued at queuedAt waited until now.
func (m *metrics) waited(queuedAt, now time.Time) {
	if m != nil {
		m.queueWait.Observe(now.Sub(queuedAt).Seconds())
	}
}

// attemptEnded counts an attempt that ended, as a failure f (nil: it succeeded).
func (m *metrics) attemptEnded(f *Failure) {
	if m == nil {
		return
	}
	outcome := outcomeSucceeded
	switch {
	case f == nil:
	case f.Kind == FailureUser:
		outcome = outcomeUserError
	default:
		outcome = outcomeSystemError
	}
	m.ended.WithLabelValues(outcome).Inc()
}

// scaled counts a scaling of env in direction ("up" or "down").
func (m *metrics) scaled(_ *environment, direction string) {
	if m != nil {
		m.scales.WithLabelValues(direction).Inc()
	}
}

// executorLost counts an executor whose attempts failed because it went away.
func (m *metrics) executorLost() {
	if m != nil {
		m.lost.Inc()
	}
}

// poolGauges is a prometheus collector of the pool's current figures.
type poolGauges struct {
	pool                                       *Pool
	environments, executors, queued, slotsUsed *prometheus.Desc
}

func newPoolGauges(scope promutils.Scope, p *Pool) *poolGauges {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(scope.NewScopedMetricName(name), help, nil, nil)
	}
	return &poolGauges{
		pool:         p,
		environments: desc("environments", "Actor environments the pool keeps"),
		executors:    desc("executors_connected", "Executors connected to the pool"),
		queued:       desc("attempts_queued", "Attempts waiting for an executor"),
		slotsUsed:    desc("slots_used", "Executor slots taken by attempts, including those of executors waiting to reconnect"),
	}
}

// Describe sends the gauges' descriptions.
func (g *poolGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.environments
	ch <- g.executors
	ch <- g.queued
	ch <- g.slotsUsed
}

// Collect sends the gauges' current values.
func (g *poolGauges) Collect(ch chan<- prometheus.Metric) {
	f := g.pool.figures()
	for _, v := range []struct {
		desc  *prometheus.Desc
		value int
	}{{g.environments, f.environments}, {g.executors, f.executors}, {g.queued, f.queued}, {g.slotsUsed, f.slotsUsed}} {
		ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, float64(v.value))
	}
}

// poolFigures are the pool's current counts.
type poolFigures struct {
	environments, executors, queued, slotsUsed int
}

// figures counts what the pool holds now.
func (p *Pool) figures() poolFigures {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := poolFigures{environments: len(p.environments)}
	for _, env := range p.environments {
		f.executors += len(env.sessions)
		f.queued += env.queue.len()
		f.slotsUsed += env.active
	}
	return f
}
