// Package actorpool keeps the actor environments of one FlytePropeller: their queues of task attempts,
// the executors connected to them, and what each task attempt has come to. It decides which executor
// runs which task and asks a Cluster to keep each environment's executor pods alive.
//
// The pool holds no state that cannot be rebuilt: propeller re-submits every task it still cares about
// on each round, executors re-announce what they run and hold when they reconnect, and the Cluster
// reads each environment's token back from the API server.
package actorpool

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// Cluster is what the pool needs from Kubernetes. Implementations are level-triggered: each call
// converges the cluster towards what it is asked for, whatever happened before.
type Cluster interface {
	// EnsureEnvironment makes the environment's anchor exist and spec.Replicas executor pods live, and
	// returns the environment's token: newly made with the anchor, or read back from it.
	EnsureEnvironment(ctx context.Context, spec EnvironmentSpec) (token string, err error)
	// DeleteEnvironment removes the environment's executor pods and its anchor.
	DeleteEnvironment(ctx context.Context, key EnvironmentKey) error
}

// Notifier is told the owner of a task whose status changed. It must not block.
type Notifier func(owner types.NamespacedName)

// Options tune a Pool. The zero value of each field means its default.
type Options struct {
	// RetryInterval is how long an environment waits before retrying a failed Cluster call. Default 2s.
	RetryInterval time.Duration
	// ResyncInterval is how often a live environment asks the Cluster to converge again, so that lost
	// pods are replaced. Default 30s.
	ResyncInterval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.RetryInterval <= 0 {
		o.RetryInterval = 2 * time.Second
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Pool is the actor pool. All its methods are safe for concurrent use.
type Pool struct {
	cluster Cluster
	notify  Notifier
	opts    Options
	ctx     context.Context
	wg      sync.WaitGroup

	// mu guards everything below, and every environment, executor and task reachable from it.
	mu    sync.Mutex
	envs  map[string]*environment
	tasks map[string]*task
}

// New returns a pool that lives until ctx is done; Wait returns when its goroutines have stopped.
func New(ctx context.Context, cluster Cluster, notify Notifier, opts Options) *Pool {
	return &Pool{
		cluster: cluster,
		notify:  notify,
		opts:    opts.withDefaults(),
		ctx:     ctx,
		envs:    map[string]*environment{},
		tasks:   map[string]*task{},
	}
}

// Wait blocks until every goroutine of the pool has stopped, which happens once its context is done.
func (p *Pool) Wait() { p.wg.Wait() }

// task is the pool's record of one task attempt.
type task struct {
	spec     Task
	env      *environment
	status   TaskStatus
	executor *Executor
	// queued is true while the task sits in env.queue.
	queued bool
	// released is true once the plugin no longer wants the task; it stays only as long as an
	// executor still holds a slot for it.
	released bool
}

// environment is the pool's record of one environment.
type environment struct {
	spec      EnvironmentSpec
	id        string
	token     string
	ensured   bool
	ensuredAt time.Time
	draining  bool
	lastErr   error
	queue     []*task
	queued    int
	active    int
	idleSince time.Time
	executors map[string]*Executor
	// wake asks the environment's goroutine to look again; it never blocks a sender.
	wake chan struct{}
}

func (env *environment) idle() bool { return env.queued == 0 && env.active == 0 }

func (env *environment) poke() {
	select {
	case env.wake <- struct{}{}:
	default:
	}
}

// Submit adds a task attempt to its environment's queue, creating the environment if needed. Submitting
// an ID the pool already knows changes nothing, so callers may submit on every round.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	var owners []types.NamespacedName
	p.mu.Lock()
	if _, ok := p.tasks[t.ID]; ok {
		p.mu.Unlock()
		return nil
	}
	env := p.environmentFor(t.Environment)
	rec := &task{spec: t, env: env, status: TaskStatus{phase: TaskQueued}}
	p.tasks[t.ID] = rec
	p.enqueue(rec)
	owners = p.dispatch(env, owners)
	p.mu.Unlock()
	logger.Debugf(ctx, "actor task %s submitted to environment %s", t.ID, t.Environment.Key)
	p.notifyAll(owners)
	return nil
}

// Status returns what the pool knows about a task, and false if it does not know the task.
func (p *Pool) Status(id string) (TaskStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tasks[id]
	if !ok {
		return TaskStatus{}, false
	}
	s := t.status
	s.ExecutorsConnected = len(t.env.executors)
	if s.phase == TaskQueued {
		s.Waiting = t.env.waitingReason()
	}
	return s, true
}

// Release forgets a task: the plugin has recorded its end, or aborted it. A task still running is
// cancelled on its executor, which keeps the slot until it confirms the task stopped.
func (p *Pool) Release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tasks[id]
	if !ok {
		return
	}
	delete(p.tasks, id)
	t.released = true
	switch {
	case t.queued:
		p.unqueue(t)
		t.env.compact()
		p.markIdle(t.env)
	case t.executor != nil && !t.status.phase.IsTerminal():
		t.executor.link.Cancel(id)
	}
}

// AttachExecutor registers a newly connected executor session. It returns the tasks the executor
// reported running that it must stop, because the pool does not want them on that executor.
func (p *Pool) AttachExecutor(h ExecutorHello, link ExecutorLink) (*Executor, []string, error) {
	if h.PodName == "" || h.Slots < 1 {
		return nil, nil, fmt.Errorf("%w: pod name %q, slots %d", ErrBadHello, h.PodName, h.Slots)
	}
	var owners []types.NamespacedName
	p.mu.Lock()
	env, ok := p.envs[h.EnvironmentID]
	switch {
	case !ok:
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %s", ErrUnknownEnvironment, h.EnvironmentID)
	case env.token == "":
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %s", ErrEnvironmentNotReady, env.spec.Key)
	case subtle.ConstantTimeCompare([]byte(env.token), []byte(h.Token)) != 1:
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: executor %s of environment %s", ErrBadToken, h.PodName, env.spec.Key)
	}

	e := &Executor{env: env, podName: h.PodName, slots: h.Slots, link: link, running: map[string]*task{}}
	reported := make(map[string]bool, len(h.Running)+len(h.Held))
	for _, id := range h.Running {
		reported[id] = true
	}
	for _, r := range h.Held {
		reported[r.TaskID] = true
	}

	// A reconnecting executor replaces its previous session; what that session ran and the executor
	// no longer reports is lost.
	if old := env.executors[h.PodName]; old != nil {
		old.detached = true
		for id, t := range old.running {
			if reported[id] {
				t.executor = e
				e.running[id] = t
				continue
			}
			env.active--
			owners = p.fail(t, Failure{Kind: FailureSystem, Retryable: true, Code: CodeExecutorLost,
				Message: fmt.Sprintf("executor %s reconnected without task %s", h.PodName, id)}, owners)
		}
	}

	var cancel []string
	for _, id := range h.Running {
		if _, mine := e.running[id]; mine {
			continue
		}
		t, known := p.tasks[id]
		if known && t.queued && t.env == env {
			// The pool restarted and the task was submitted again: the executor's run is that attempt.
			p.unqueue(t)
			p.assign(t, e)
			t.status.phase = TaskRunning
			continue
		}
		// Not wanted here: the executor stops it and reports it, which frees the slot.
		cancel = append(cancel, id)
		e.running[id] = &task{spec: Task{ID: id}, env: env, released: true, executor: e}
		env.active++
	}
	env.executors[h.PodName] = e
	for _, r := range h.Held {
		owners = p.finish(e, r, owners)
	}
	owners = p.dispatch(env, owners)
	p.mu.Unlock()
	p.notifyAll(owners)
	return e, cancel, nil
}

// TaskStarted records that an executor began a task.
func (p *Pool) TaskStarted(e *Executor, id string, at time.Time) {
	var owners []types.NamespacedName
	p.mu.Lock()
	if t, ok := e.running[id]; ok && !e.detached && t.status.phase == TaskAssigned && !t.released {
		t.status.phase = TaskRunning
		t.status.StartedAt = at
		owners = append(owners, t.spec.Owner)
	}
	p.mu.Unlock()
	p.notifyAll(owners)
}

// TaskFinished records a task's result and acknowledges it to the executor.
func (p *Pool) TaskFinished(e *Executor, r Result) {
	var owners []types.NamespacedName
	p.mu.Lock()
	if !e.detached {
		owners = p.finish(e, r, owners)
		owners = p.dispatch(e.env, owners)
	}
	p.mu.Unlock()
	p.notifyAll(owners)
}

// DetachExecutor ends an executor's session. Tasks it was running fail as lost, retryably: Flyte runs
// them again as new attempts.
func (p *Pool) DetachExecutor(e *Executor, reason string) {
	var owners []types.NamespacedName
	p.mu.Lock()
	if !e.detached {
		e.detached = true
		env := e.env
		if env.executors[e.podName] == e {
			delete(env.executors, e.podName)
		}
		for id, t := range e.running {
			delete(e.running, id)
			env.active--
			owners = p.fail(t, Failure{Kind: FailureSystem, Retryable: true, Code: CodeExecutorLost,
				Message: fmt.Sprintf("executor %s was lost while running the task: %s", e.podName, reason)}, owners)
		}
		p.markIdle(env)
		owners = p.dispatch(env, owners)
	}
	p.mu.Unlock()
	p.notifyAll(owners)
}

// finish records r on the task it names. p.mu must be held.
func (p *Pool) finish(e *Executor, r Result, owners []types.NamespacedName) []types.NamespacedName {
	defer e.link.Ack(r.TaskID)
	t, ok := e.running[r.TaskID]
	if !ok {
		// A result held across a pool restart, for an attempt propeller submitted again.
		if t, ok = p.tasks[r.TaskID]; !ok || !t.queued || t.env != e.env {
			return owners
		}
		p.unqueue(t)
		p.assign(t, e)
	}
	delete(e.running, r.TaskID)
	e.env.active--
	p.markIdle(e.env)
	if t.released {
		return owners
	}
	t.status.StartedAt, t.status.FinishedAt = r.StartedAt, r.FinishedAt
	if r.Failure != nil {
		return p.fail(t, *r.Failure, owners)
	}
	t.status.phase = TaskSucceeded
	return append(owners, t.spec.Owner)
}

// fail marks a task failed. p.mu must be held.
func (p *Pool) fail(t *task, f Failure, owners []types.NamespacedName) []types.NamespacedName {
	if t.released || t.status.phase.IsTerminal() {
		return owners
	}
	t.status.phase = TaskFailed
	t.status.failure = &f
	return append(owners, t.spec.Owner)
}

// environmentFor returns the environment of spec, creating it and starting its goroutine if needed.
// p.mu must be held.
func (p *Pool) environmentFor(spec EnvironmentSpec) *environment {
	id := spec.Key.ID()
	if env, ok := p.envs[id]; ok {
		return env
	}
	env := &environment{spec: spec, id: id, executors: map[string]*Executor{}, wake: make(chan struct{}, 1)}
	p.envs[id] = env
	p.wg.Add(1)
	go p.runEnvironment(env)
	return env
}

// enqueue appends t to its environment's queue. p.mu must be held.
func (p *Pool) enqueue(t *task) {
	t.queued = true
	t.env.queue = append(t.env.queue, t)
	t.env.queued++
	t.env.poke()
}

// unqueue takes t out of its environment's queue. p.mu must be held.
func (p *Pool) unqueue(t *task) {
	t.queued = false
	t.env.queued--
}

// assign gives t to e. p.mu must be held.
func (p *Pool) assign(t *task, e *Executor) {
	t.executor = e
	t.status.phase = TaskAssigned
	t.status.Executor = e.podName
	e.running[t.spec.ID] = t
	e.env.active++
}

// dispatch hands queued tasks to executors with free slots, oldest task first. p.mu must be held.
func (p *Pool) dispatch(env *environment, owners []types.NamespacedName) []types.NamespacedName {
	if env.draining {
		return owners
	}
	for env.queued > 0 {
		e := env.freeExecutor()
		if e == nil {
			break
		}
		t := env.pop()
		p.unqueue(t)
		p.assign(t, e)
		e.link.Assign(Assignment{TaskID: t.spec.ID, Command: t.spec.Command, Env: t.spec.Env})
		owners = append(owners, t.spec.Owner)
	}
	env.compact()
	return owners
}

// compact drops released tasks from the queue once they are most of it, so that a storm of aborts
// does not hold memory until the queue drains.
func (env *environment) compact() {
	if len(env.queue) <= 64 || env.queued >= len(env.queue)/4 {
		return
	}
	kept := make([]*task, 0, env.queued)
	for _, t := range env.queue {
		if t.queued {
			kept = append(kept, t)
		}
	}
	env.queue = kept
}

// pop removes and returns the oldest task still queued. The caller knows env.queued > 0.
func (env *environment) pop() *task {
	for {
		t := env.queue[0]
		env.queue[0] = nil
		env.queue = env.queue[1:]
		if t.queued {
			return t
		}
	}
}

// freeExecutor returns a connected executor with a free slot, or nil.
func (env *environment) freeExecutor() *Executor {
	var best *Executor
	for _, e := range env.executors {
		if e.freeSlots() > 0 && (best == nil || e.freeSlots() > best.freeSlots()) {
			best = e
		}
	}
	return best
}

func (env *environment) waitingReason() string {
	switch {
	case env.lastErr != nil:
		return fmt.Sprintf("environment %s cannot start executors yet: %v", env.spec.Key.Name, env.lastErr)
	case len(env.executors) == 0:
		return fmt.Sprintf("waiting for executors of environment %s to start", env.spec.Key.Name)
	default:
		return fmt.Sprintf("waiting for a free slot on the %d executors of environment %s", len(env.executors), env.spec.Key.Name)
	}
}

// markIdle starts the environment's idle clock if it has nothing left to do. p.mu must be held.
func (p *Pool) markIdle(env *environment) {
	if env.idle() {
		env.idleSince = p.opts.Now()
		env.poke()
	}
}

func (p *Pool) notifyAll(owners []types.NamespacedName) {
	for _, o := range owners {
		p.notify(o)
	}
}
