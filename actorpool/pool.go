// Package actorpool keeps the actor environments of one FlytePropeller: their queues of task attempts,
// the executor sessions connected to them, and what each attempt has come to. It decides which
// executor runs which attempt and asks a Cluster to keep each environment's executor pods alive.
//
// The pool holds no state that cannot be rebuilt: propeller re-submits every attempt it still cares
// about on each round, executors re-announce what they run and hold when they reconnect, and the
// Cluster reads each environment's secret back from the API server.
//
// Callers use two surfaces:
//
//   - The plugin (through its own Pool interface): [Pool.Submit] an attempt, ask its [Pool.Status]
//     every round, and [Pool.Release] it once Flyte recorded its end or aborted it (pool_plugin.go).
//   - The executor service, once per executor stream: [Pool.AttachExecutor] on its Hello, then
//     [Pool.TaskStarted], [Pool.TaskFinished], [Pool.ExecutorDraining], [Pool.ExecutorClosed] as the
//     executor reports, and [Pool.DetachExecutor] when the stream ends (pool_executor.go). The pool
//     talks back through the session's [ExecutorLink].
//
// The pool talks to Kubernetes only through a [Cluster]. The Pool's own methods are in files named
// pool_*.go by what they do; an attempt's whole life is in attempt.go, and every failure the pool
// makes is in failure.go.
package actorpool

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Notifier is told the owner of an attempt whose status changed. It must not block.
type Notifier func(owner types.NamespacedName)

// Pool is the actor pool. All its methods are safe for concurrent use.
type Pool struct {
	cluster Cluster
	notify  Notifier
	opts    Options
	metrics *metrics
	// ctx is the pool's lifetime, kept because the pool's goroutines outlive every call.
	ctx context.Context
	wg  sync.WaitGroup

	// mu guards everything below, and every environment, session and attempt reachable from it.
	mu           sync.Mutex
	environments map[string]*environment
	attempts     map[string]*attempt
	// discoveryDone is true once the pool knows what the cluster held when it started; nothing is
	// dispatched before (see registerDiscovered).
	discoveryDone bool
	// namespaceReplicas counts the executor pods the environments of each namespace run (their replicas).
	namespaceReplicas map[string]int
}

// New returns a pool that lives until ctx is done; Wait returns when its goroutines have stopped. It
// starts by discovering the environments the cluster already holds (see DiscoverEnvironments).
func New(ctx context.Context, cluster Cluster, notify Notifier, opts Options) *Pool {
	p := &Pool{
		cluster:           cluster,
		notify:            notify,
		opts:              opts.withDefaults(),
		ctx:               ctx,
		environments:      map[string]*environment{},
		attempts:          map[string]*attempt{},
		namespaceReplicas: map[string]int{},
	}
	p.metrics = newMetrics(p.opts.Metrics, p)
	p.wg.Add(4)
	go p.discover()
	go p.sweep()
	go p.watchPods()
	go func() {
		defer p.wg.Done()
		<-ctx.Done()
		p.metrics.unregister()
	}()
	return p
}

// ReconnectGrace is how long the pool keeps the attempts of an executor whose stream ended before it
// fails them (Options.ReconnectGrace, with its default applied).
func (p *Pool) ReconnectGrace() time.Duration { return p.opts.ReconnectGrace }

// Wait blocks until every goroutine of the pool has stopped, which happens once its context is done.
func (p *Pool) Wait() { p.wg.Wait() }

// environmentLocked returns the environment of spec, creating it and starting its goroutine if
// needed. p.mu must be held.
func (p *Pool) environmentLocked(spec EnvironmentSpec) *environment {
	id := spec.Key.ID()
	if env, ok := p.environments[id]; ok {
		if env.discovered {
			// Found in the cluster at start and submitted to again: now the pool knows how to run it,
			// and ensures it at once, since its pods may have gone while no pool looked after them.
			env.spec, env.discovered, env.ensured = spec, false, false
			env.poke()
		}
		return env
	}
	env := newEnvironment(spec, id, p.opts.QueueOrder)
	// Its clocks start now, never at the zero time: an environment whose first work left by a way that
	// does not restart its idle clock must not look idle for ever and be deleted at once.
	env.sessionlessSince, env.idleSince = p.opts.Now(), p.opts.Now()
	// No executor yet: its goroutine's first look sizes it (scaling.go), within the namespace's cap.
	p.startEnvironmentLocked(env)
	return env
}

// startEnvironmentLocked registers env and starts its goroutine. p.mu must be held.
func (p *Pool) startEnvironmentLocked(env *environment) {
	p.environments[env.id] = env
	p.wg.Add(1)
	go p.runEnvironment(env)
}

// markIdleLocked starts the environment's idle clock if it has nothing left to do. p.mu must be held.
func (p *Pool) markIdleLocked(env *environment) {
	if env.idle() {
		env.idleSince = p.opts.Now()
		env.poke()
	}
}

// wakeups collects the owners of attempts whose status changed while p.mu is held.
type wakeups []types.NamespacedName

func (w *wakeups) add(owner types.NamespacedName) { *w = append(*w, owner) }

// update runs fn with p.mu held, then wakes the owners fn collected once p.mu is released: the
// Notifier enqueues into propeller's workqueue, which takes locks of its own, so it is never called
// under p.mu.
func (p *Pool) update(fn func(w *wakeups)) {
	var w wakeups
	p.mu.Lock()
	fn(&w)
	p.mu.Unlock()
	for _, owner := range w {
		p.notify(owner)
	}
}
