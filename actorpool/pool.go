// Package actorpool keeps the actor environments of one FlytePropeller: their queues of task attempts,
// the executor sessions connected to them, and what each attempt has come to. It decides which
// executor runs which attempt and asks a Cluster to keep each environment's executor pods alive.
//
// The pool holds no state that cannot be rebuilt: propeller re-submits every attempt it still cares
// about on each round, executors re-announce what they run and hold when they reconnect, and the
// Cluster reads each environment's secret back from the API server.
//
// Files: pool.go (what the plugin calls), attach.go and results.go (what the executor service calls),
// dispatch.go (from queue to executor), lifecycle.go (each environment's goroutine, the only caller of
// the Cluster for it), recovery.go (what a restarted pool finds, and attempts nobody asks about),
// metrics.go (what operators see), and one file per type.
package actorpool

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flytestdlib/logger"
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
}

// New returns a pool that lives until ctx is done; Wait returns when its goroutines have stopped. It
// starts by discovering the environments the cluster already holds (see DiscoverEnvironments).
func New(ctx context.Context, cluster Cluster, notify Notifier, opts Options) *Pool {
	p := &Pool{
		cluster:      cluster,
		notify:       notify,
		opts:         opts.withDefaults(),
		ctx:          ctx,
		environments: map[string]*environment{},
		attempts:     map[string]*attempt{},
	}
	p.metrics = newMetrics(opts.Metrics, p)
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

// Wait blocks until every goroutine of the pool has stopped, which happens once its context is done.
func (p *Pool) Wait() { p.wg.Wait() }

// Submit adds a task attempt to its environment's queue, creating the environment if needed. Submitting
// an ID the pool already knows changes nothing, so callers may submit on every round; an attempt an
// executor reported running or finished before propeller submitted it (after a restart of the pool)
// is adopted, not run again.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	submitted := false
	p.update(func(w *wakeups) {
		if a, known := p.attempts[t.ID]; known {
			if a.isOrphan() {
				p.adoptOrphanLocked(a, t, w)
			}
			return
		}
		env := p.environmentLocked(t.Environment)
		a := newAttempt(t, env, p.opts.Now())
		p.attempts[t.ID] = a
		submitted = true
		if env.broken != "" {
			p.failLocked(a, cannotStart(env.broken, false), w)
			return
		}
		env.enqueue(a, p.opts.Now())
		p.dispatchLocked(env, w)
	})
	if submitted {
		logger.Debugf(ctx, "actor task %s submitted to environment %s", t.ID, t.Environment.Key)
	}
	return nil
}

// Status returns what the pool knows about an attempt, and false if it does not know it (or knows it
// only from an executor's report, so that the caller submits it).
func (p *Pool) Status(id string) (TaskStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.attempts[id]
	if !ok || a.isOrphan() {
		return TaskStatus{}, false
	}
	a.lastSeen = p.opts.Now()
	s := a.status
	s.ExecutorsConnected = len(a.env.sessions)
	if s.phase == TaskQueued {
		reason := a.env.waitingReason()
		if !p.discoveryDone {
			reason = "the actor pool is starting: it is finding out which executors already run"
		}
		if reason != a.waiting {
			// The version tells propeller the phase says something new, so that it shows the reason.
			a.waiting = reason
			a.waitingVersion++
		}
		s.Waiting, s.Version = a.waiting, a.waitingVersion
	}
	return s, true
}

// Release forgets an attempt: the plugin has recorded its end, or aborted it. An attempt still
// running is cancelled on its executor, which keeps the slot until it confirms the attempt stopped;
// an attempt that ended has its result acknowledged, so the executor forgets it too.
func (p *Pool) Release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.attempts[id]; ok && !a.isOrphan() {
		p.releaseLocked(a)
	}
}

// releaseLocked forgets a (see Release). p.mu must be held.
func (p *Pool) releaseLocked(a *attempt) {
	delete(p.attempts, a.id)
	a.released = true
	switch {
	case a.isQueued():
		a.env.queue.remove(a)
		p.markIdleLocked(a.env)
	case a.status.phase.IsTerminal():
		p.ackLocked(a)
	case a.session != nil && !a.session.detached:
		a.session.link.Cancel(a.id)
	}
	// A running attempt of a lost session is cancelled when its executor reconnects (takeOverLocked).
}

// ackLocked acknowledges a's result to the executor that holds it, if that executor is connected; if
// it is not, it sends the result again when it reconnects, and is acknowledged then. p.mu must be
// held.
func (p *Pool) ackLocked(a *attempt) {
	if a.session == nil || !a.resultHeld {
		return
	}
	if s := a.env.sessions[a.session.podName]; s != nil {
		s.link.Ack(a.id)
	}
}

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
	env := newEnvironment(spec, id)
	env.sessionlessSince = p.opts.Now()
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
