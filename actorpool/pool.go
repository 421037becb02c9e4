// Package actorpool keeps the actor environments of one FlytePropeller: their queues of task attempts,
// the executor sessions connected to them, and what each attempt has come to. It decides which
// executor runs which attempt and asks a Cluster to keep each environment's executor pods alive.
//
// The pool holds no state that cannot be rebuilt: propeller re-submits every attempt it still cares
// about on each round, executors re-announce what they run and hold when they reconnect, and the
// Cluster reads each environment's token back from the API server.
//
// Files: pool.go (what the plugin calls), attach.go and results.go (what the executor service calls),
// dispatch.go (from queue to executor), lifecycle.go (each environment's goroutine, the only caller of
// the Cluster), and one file per type.
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
	// ctx is the pool's lifetime, kept because the environments' goroutines outlive every call.
	ctx context.Context
	wg  sync.WaitGroup

	// mu guards everything below, and every environment, session and attempt reachable from it.
	mu           sync.Mutex
	environments map[string]*environment
	attempts     map[string]*attempt
}

// New returns a pool that lives until ctx is done; Wait returns when its goroutines have stopped.
func New(ctx context.Context, cluster Cluster, notify Notifier, opts Options) *Pool {
	return &Pool{
		cluster:      cluster,
		notify:       notify,
		opts:         opts.withDefaults(),
		ctx:          ctx,
		environments: map[string]*environment{},
		attempts:     map[string]*attempt{},
	}
}

// Wait blocks until every goroutine of the pool has stopped, which happens once its context is done.
func (p *Pool) Wait() { p.wg.Wait() }

// Submit adds a task attempt to its environment's queue, creating the environment if needed. Submitting
// an ID the pool already knows changes nothing, so callers may submit on every round.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	submitted := false
	p.update(func(w *wakeups) {
		if _, known := p.attempts[t.ID]; known {
			return
		}
		env := p.environmentLocked(t.Environment)
		a := &attempt{task: t, env: env, status: TaskStatus{phase: TaskQueued}}
		p.attempts[t.ID] = a
		env.enqueue(a)
		p.dispatchLocked(env, w)
		submitted = true
	})
	if submitted {
		logger.Debugf(ctx, "actor task %s submitted to environment %s", t.ID, t.Environment.Key)
	}
	return nil
}

// Status returns what the pool knows about an attempt, and false if it does not know it.
func (p *Pool) Status(id string) (TaskStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.attempts[id]
	if !ok {
		return TaskStatus{}, false
	}
	s := a.status
	s.ExecutorsConnected = len(a.env.sessions)
	if s.phase == TaskQueued {
		s.Waiting = a.env.waitingReason()
	}
	return s, true
}

// Release forgets an attempt: the plugin has recorded its end, or aborted it. An attempt still
// running is cancelled on its executor, which keeps the slot until it confirms the attempt stopped.
func (p *Pool) Release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.attempts[id]
	if !ok {
		return
	}
	delete(p.attempts, id)
	a.released = true
	switch {
	case a.isQueued():
		a.env.queue.remove(a)
		p.markIdleLocked(a.env)
	case a.session != nil && !a.status.phase.IsTerminal():
		a.session.link.Cancel(id)
	}
}

// environmentLocked returns the environment of spec, creating it and starting its goroutine if
// needed. p.mu must be held.
func (p *Pool) environmentLocked(spec EnvironmentSpec) *environment {
	id := spec.Key.ID()
	if env, ok := p.environments[id]; ok {
		return env
	}
	env := newEnvironment(spec, id)
	p.environments[id] = env
	p.wg.Add(1)
	go p.runEnvironment(env)
	return env
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
