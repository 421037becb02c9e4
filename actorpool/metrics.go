package actorpool

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flyteorg/flyte/flytestdlib/promutils"
)

// The pool's metric names, under its scope (propeller's, then the plugin's "pool"); MetricNames lists
// them. Histograms add Prometheus' _bucket, _sum and _count.
const (
	metricQueueWait          = "queue_wait_seconds"
	metricExecutorStart      = "executor_start_seconds"
	metricDispatch           = "dispatch_seconds"
	metricTaskRun            = "task_run_seconds"
	metricAttemptsEnded      = "attempts_ended"
	metricAssignments        = "assignments"
	metricPodProblems        = "executor_pod_problems"
	metricReconnects         = "executor_reconnects"
	metricExecutorsLost      = "executors_lost"
	metricRuntimeRestarts    = "runtime_restarts"
	metricEnvironmentEvents  = "environment_events"
	metricEnvironments       = "environments"
	metricExecutorsConnected = "executors_connected"
	metricAttemptsQueued     = "attempts_queued"
	metricSlotsUsed          = "slots_used"
	metricEnvQueued          = "environment_attempts_queued"
	metricEnvRunning         = "environment_attempts_running"
	metricEnvExecutors       = "environment_executors"
	metricEnvReplicas        = "environment_replicas"
)

// MetricNames returns the names of every metric the pool keeps (without its scope's prefix), for the
// dashboard's test and the documentation.
func MetricNames() []string {
	return []string{metricQueueWait, metricExecutorStart, metricDispatch, metricTaskRun, metricAttemptsEnded,
		metricAssignments, metricPodProblems, metricReconnects, metricExecutorsLost, metricRuntimeRestarts,
		metricEnvironmentEvents, metricEnvironments, metricExecutorsConnected, metricAttemptsQueued, metricSlotsUsed,
		metricEnvQueued, metricEnvRunning, metricEnvExecutors, metricEnvReplicas}
}

// Outcomes of the attempts_ended metric.
const (
	outcomeSucceeded   = "succeeded"
	outcomeUserError   = "user_error"
	outcomeSystemError = "system_error"
)

// Events of the environment_events metric.
const (
	eventStarted    = "started"
	eventScaledUp   = "scaled_up"
	eventScaledDown = "scaled_down"
	eventDeleted    = "deleted"
)

// Executor states of the environment_executors gauge.
const (
	executorStarting = "starting" // a pod asked for, its executor not connected yet
	executorIdle     = "idle"
	executorBusy     = "busy"
	executorDraining = "draining"
	executorLost     = "lost" // its stream ended while it ran tasks; it may reconnect
)

// otherLabel stands for the environments beyond the pool's label budget (Options.MetricsEnvironments):
// no environment name can be it (names start with a letter or digit).
const otherLabel = "_other"

// environmentLabelNames are the labels that say which environment a series is of.
var environmentLabelNames = []string{"environment", "project", "domain"}

// metrics are the pool's figures for operators, in the scope the pool was given (propeller's, under
// the plugin's). A pool given no scope keeps none: every method of a nil *metrics does nothing.
//
// Series of one environment carry its name, project and domain; at most Options.MetricsEnvironments
// such label sets are used (the first ones seen), and every other environment counts under
// environment="_other" (all three labels), so that the series are bounded whatever users name their
// environments.
type metrics struct {
	labels environmentLabels

	queueWait, executorStart, dispatch, taskRun *prometheus.HistogramVec
	ended, assignments, podProblems             *prometheus.CounterVec
	reconnects, lost, runtimeRestarts, events   *prometheus.CounterVec
	gauges                                      *poolGauges
}

// secondsBuckets span 1 ms to about 17 min: a warm environment hands out work in milliseconds, a cold one
// in seconds to minutes. (promutils' stop watch would record whole seconds only.)
var secondsBuckets = prometheus.ExponentialBuckets(0.001, 4, 11)

// newMetrics registers the pool's metrics in scope; the gauges are read from p when scraped, so they
// are never stale and cost nothing between scrapes. unregister takes the gauges back out.
func newMetrics(scope promutils.Scope, p *Pool) *metrics {
	if scope == nil {
		return nil
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		return scope.MustNewHistogramVecWithOptions(name, help, promutils.HistogramOptions{Buckets: secondsBuckets},
			environmentLabelNames...)
	}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		return scope.MustNewCounterVec(name, help, append(append([]string{}, environmentLabelNames...), extra...)...)
	}
	m := &metrics{
		labels: environmentLabels{max: p.opts.MetricsEnvironments, seen: map[labelSet]bool{}},
		queueWait: histogram(metricQueueWait,
			"Seconds an attempt waited in its environment's queue before an executor took it"),
		executorStart: histogram(metricExecutorStart,
			"Seconds from an executor pod's creation to its executor connecting, ready (image pull, start, Python warm-up)"),
		dispatch: histogram(metricDispatch,
			"Seconds from the pool sending an attempt to an executor to the executor saying it started it"),
		taskRun: histogram(metricTaskRun, "Seconds an attempt ran on its executor, as the executor reports"),
		ended: counter(metricAttemptsEnded,
			"Attempts that ended, by outcome: succeeded, user_error (the task failed), system_error (executor lost, environment cannot start, ...)",
			"outcome"),
		assignments: counter(metricAssignments,
			"Attempts sent to an executor, by whether its runtime had run a task before (warm) or not (cold)", "runtime"),
		podProblems: counter(metricPodProblems,
			"Problems executor pods reported (each time a pod's problem changed), by reason (ImagePullBackOff, Unschedulable, OOMKilled, ...)",
			"reason"),
		reconnects: counter(metricReconnects, "Executors that connected again (their stream had ended, or the pool restarted)"),
		lost:       counter(metricExecutorsLost, "Executors that went away while they ran attempts, which then failed as lost"),
		runtimeRestarts: counter(metricRuntimeRestarts,
			"Python runtimes executors started again because one died (a task killed it, or it ran out of memory)"),
		events: counter(metricEnvironmentEvents,
			"Environment events: started (executors asked for the first time), scaled_up, scaled_down (an idle executor removed), deleted (idle for its TTL)",
			"event"),
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

// of returns env's label values, within the label budget.
func (m *metrics) of(env *environment, extra ...string) []string {
	return append(m.labels.of(env.spec.Key), extra...)
}

// waited records how long an attempt of env queued at queuedAt waited until now.
func (m *metrics) waited(env *environment, queuedAt, now time.Time) {
	if m != nil {
		m.queueWait.WithLabelValues(m.of(env)...).Observe(now.Sub(queuedAt).Seconds())
	}
}

// assigned counts an attempt sent to an executor whose runtime was warm or not.
func (m *metrics) assigned(env *environment, warm bool) {
	if m == nil {
		return
	}
	runtime := "cold"
	if warm {
		runtime = "warm"
	}
	m.assignments.WithLabelValues(m.of(env, runtime)...).Inc()
}

// started records the time from an attempt's assignment to its executor starting it.
func (m *metrics) started(env *environment, assignedAt, startedAt time.Time) {
	if m != nil && !assignedAt.IsZero() && !startedAt.Before(assignedAt) {
		m.dispatch.WithLabelValues(m.of(env)...).Observe(startedAt.Sub(assignedAt).Seconds())
	}
}

// ran records how long an attempt ran on its executor.
func (m *metrics) ran(env *environment, r Result) {
	if m != nil && !r.StartedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
		m.taskRun.WithLabelValues(m.of(env)...).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
}

// executorStarted records the time from an executor pod's creation to its executor connecting.
func (m *metrics) executorStarted(env *environment, created, now time.Time) {
	if m != nil && !created.IsZero() && !now.Before(created) {
		m.executorStart.WithLabelValues(m.of(env)...).Observe(now.Sub(created).Seconds())
	}
}

// attemptEnded counts an attempt of env that ended, as a failure f (nil: it succeeded).
func (m *metrics) attemptEnded(env *environment, f *Failure) {
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
	m.ended.WithLabelValues(m.of(env, outcome)...).Inc()
}

// event counts an environment event.
func (m *metrics) event(env *environment, event string) {
	if m != nil {
		m.events.WithLabelValues(m.of(env, event)...).Inc()
	}
}

// podProblem counts a problem an executor pod of env reported, by its reason.
func (m *metrics) podProblem(env *environment, reason string) {
	if m != nil {
		m.podProblems.WithLabelValues(m.of(env, boundedReason(reason))...).Inc()
	}
}

// reconnected counts an executor of env that connected again.
func (m *metrics) reconnected(env *environment) {
	if m != nil {
		m.reconnects.WithLabelValues(m.of(env)...).Inc()
	}
}

// executorLost counts an executor of env whose attempts failed because it went away.
func (m *metrics) executorLost(env *environment) {
	if m != nil {
		m.lost.WithLabelValues(m.of(env)...).Inc()
	}
}

// runtimesRestarted counts n runtimes of env's executors started again.
func (m *metrics) runtimesRestarted(env *environment, n int) {
	if m != nil && n > 0 {
		m.runtimeRestarts.WithLabelValues(m.of(env)...).Add(float64(n))
	}
}

// podProblemReasons are the reasons executor_pod_problems counts by; any other is "other".
var podProblemReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "CreateContainerConfigError": true,
	"CreateContainerError": true, "CrashLoopBackOff": true, "Unschedulable": true, "OOMKilled": true, "Evicted": true,
	"Error": true, "RuntimeCannotStart": true, "RuntimeUnavailable": true, "Refused": true,
}

// boundedReason keeps a pod problem's reason to the known set.
func boundedReason(reason string) string {
	if podProblemReasons[reason] {
		return reason
	}
	return "other"
}

// labelSet is an environment's label values.
type labelSet struct{ environment, project, domain string }

// environmentLabels hands out environments' label values within a budget: the first max label sets
// seen keep their values for the life of the pool, every later one is otherLabel.
type environmentLabels struct {
	mu   sync.Mutex
	max  int
	seen map[labelSet]bool
}

func (l *environmentLabels) of(key EnvironmentKey) []string {
	set := l.set(key)
	return []string{set.environment, set.project, set.domain}
}

func (l *environmentLabels) set(key EnvironmentKey) labelSet {
	set := labelSet{key.Name, key.Project, key.Domain}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[set] {
		if len(l.seen) >= l.max {
			return labelSet{otherLabel, otherLabel, otherLabel}
		}
		l.seen[set] = true
	}
	return set
}

// poolGauges is a prometheus collector of the pool's current figures: totals, and per environment
// (within the label budget) its queue, its running attempts, its executors by state and its size.
type poolGauges struct {
	pool                                       *Pool
	environments, executors, queued, slotsUsed *prometheus.Desc
	envQueued, envRunning, envExecutors        *prometheus.Desc
	envReplicas                                *prometheus.Desc
}

func newPoolGauges(scope promutils.Scope, p *Pool) *poolGauges {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(scope.NewScopedMetricName(name), help, labels, nil)
	}
	withState := append(append([]string{}, environmentLabelNames...), "state")
	return &poolGauges{
		pool:         p,
		environments: desc(metricEnvironments, "Actor environments the pool keeps"),
		executors:    desc(metricExecutorsConnected, "Executors connected to the pool"),
		queued:       desc(metricAttemptsQueued, "Attempts waiting for an executor"),
		slotsUsed:    desc(metricSlotsUsed, "Executor slots taken by attempts, including those of executors waiting to reconnect"),
		envQueued:    desc(metricEnvQueued, "Attempts waiting in the environment's queue", environmentLabelNames...),
		envRunning:   desc(metricEnvRunning, "Attempts on the environment's executors (slots taken)", environmentLabelNames...),
		envExecutors: desc(metricEnvExecutors,
			"The environment's executors by state: starting (pod asked for, not connected), idle, busy, draining, lost (may reconnect)", withState...),
		envReplicas: desc(metricEnvReplicas, "Executor pods the environment runs now (its size)", environmentLabelNames...),
	}
}

// Describe sends the gauges' descriptions.
func (g *poolGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.environments, g.executors, g.queued, g.slotsUsed, g.envQueued, g.envRunning,
		g.envExecutors, g.envReplicas} {
		ch <- d
	}
}

// Collect sends the gauges' current values.
func (g *poolGauges) Collect(ch chan<- prometheus.Metric) {
	f := g.pool.figures()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(g.environments, f.environments)
	gauge(g.executors, f.executors)
	gauge(g.queued, f.queued)
	gauge(g.slotsUsed, f.slotsUsed)
	for set, e := range f.byEnvironment {
		labels := []string{set.environment, set.project, set.domain}
		gauge(g.envQueued, e.queued, labels...)
		gauge(g.envRunning, e.running, labels...)
		gauge(g.envReplicas, e.replicas, labels...)
		for _, state := range []string{executorStarting, executorIdle, executorBusy, executorDraining, executorLost} {
			gauge(g.envExecutors, e.executors[state], append(labels, state)...)
		}
	}
}

// poolFigures are the pool's current counts.
type poolFigures struct {
	environments, executors, queued, slotsUsed int
	byEnvironment                              map[labelSet]*environmentFigures
}

// environmentFigures are one label set's current counts (environments that share a name, project and
// domain, such as two versions, add up).
type environmentFigures struct {
	queued, running, replicas int
	executors                 map[string]int
}

// figures counts what the pool holds now.
func (p *Pool) figures() poolFigures {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := poolFigures{environments: len(p.environments), byEnvironment: map[labelSet]*environmentFigures{}}
	for _, env := range p.environments {
		f.executors += len(env.sessions)
		f.queued += env.queue.len()
		f.slotsUsed += env.active
		if p.metrics == nil {
			continue
		}
		set := p.metrics.labels.set(env.spec.Key)
		e := f.byEnvironment[set]
		if e == nil {
			e = &environmentFigures{executors: map[string]int{}}
			f.byEnvironment[set] = e
		}
		e.queued += env.queue.len()
		e.running += env.active
		e.replicas += env.replicas
		for _, s := range env.sessions {
			e.executors[sessionState(s)]++
		}
		e.executors[executorLost] += len(env.lost)
		e.executors[executorStarting] += max(env.replicas-len(env.sessions)-len(env.lost), 0)
	}
	return f
}

// sessionState is a connected executor's state for the environment_executors gauge.
func sessionState(s *Session) string {
	switch {
	case s.draining:
		return executorDraining
	case len(s.running) > 0:
		return executorBusy
	}
	return executorIdle
}
