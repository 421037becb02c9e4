package actorpool

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/go/contract"
)

// attempt is the pool's record of one task attempt. The pool's mutex guards it. This file holds every
// change of an attempt's life; the failures the pool gives it are in failure.go.
//
// A submitted attempt goes through these phases (TaskStatus's), each arrow a function below:
//
//	          Submit                  assignLocked            startLocked
//	(plugin) ───────► Queued ────────────────────► Assigned ────────────► Running
//	                    │  ▲                          │                      │
//	                    │  └──── requeueLocked ───────┤◄─────────────────────┤
//	                    │   (executor never got it,   │   recordLocked       │
//	                    │    or refused it unrun)     │                      │
//	                    │                             ├──────────────────────┴──► Succeeded or Failed
//	                    │                             │   (the executor's result)
//	                    └─────────── failLocked ──────┴──► Failed
//	                    (no executor starts, broken environment, executor lost or draining)
//
// releaseLocked (the plugin's Finalize or Abort) ends the record from any phase: a queued attempt
// leaves its queue, a running one is cancelled on its executor (which keeps the slot until it confirms
// the task stopped), and an ended one has its result acknowledged (ackLocked), so the executor forgets
// it too. Nothing else removes a submitted attempt, but forgetting one nobody asks about (sweepOnce).
//
// An executor may report an attempt the pool does not know, after the pool restarted: it ran or
// finished it for a pool that is gone. Such an orphan (newOrphanLocked) waits on that executor for
// propeller to submit the attempt again, which adopts the run or its result (adoptOrphanLocked), if
// the submission is for the orphan's own environment; otherwise, or after the orphan grace, it is
// forgotten (forgetOrphanLocked): its run cancelled, its result acknowledged and dropped. An attempt
// submitted again and still queued when its executor reports it is that executor's
// (adoptRunLocked, adoptResultLocked): nothing runs twice. A refusal (the executor refused the attempt
// unrun) is no attempt's result: the attempt is queued again, an orphan dropped (dropOrphanLocked).
type attempt struct {
	id string
	// name is the task's name (Task.Name).
	name    string
	command []string
	envVars []EnvVar
	owner   types.NamespacedName
	env     *environment
	status  TaskStatus
	// session runs (or ran) the attempt; nil while it is queued.
	session *Session
	// released is true once the plugin no longer wants the attempt; it stays only as long as an
	// executor still holds a slot for it.
	released bool
	// orphanSince is when an executor reported the attempt without the plugin having submitted it;
	// zero for submitted attempts.
	orphanSince time.Time
	// held is the result of an orphan that finished, kept unacknowledged until it is adopted.
	held *Result
	// resultHeld is true once the executor reported a result for the attempt: it holds the result
	// until the pool acknowledges it, which the pool does when the attempt is released.
	resultHeld bool
	// lastSeen is when the plugin last asked about the attempt; queuedAt when it was last queued;
	// assignedAt when it was last sent to an executor.
	lastSeen   time.Time
	queuedAt   time.Time
	assignedAt time.Time
	// waiting is the last waiting reason the plugin was told, and waitingVersion how often it changed.
	waiting        string
	waitingVersion uint32
	// queue is the queue the attempt waits in, with its neighbours there; nil when not queued. seq is
	// its number in its execution's turn (taskQueue).
	queue      *attemptQueue
	prev, next *attempt
	seq        int64
	// ended is closed when the attempt succeeds or fails (AwaitEnd).
	ended chan struct{}
}

// newAttempt returns the record of a submitted task, queued in nothing yet. It keeps only what the
// attempt needs, not the environment's pod, which the environment holds once for all its attempts.
func newAttempt(t Task, env *environment, now time.Time) *attempt {
	return &attempt{id: t.ID, name: t.Name, command: t.Command, envVars: t.Env, owner: t.Owner, env: env,
		status: TaskStatus{phase: TaskQueued}, lastSeen: now, ended: make(chan struct{})}
}

// isQueued reports whether the attempt waits in its environment's queue.
func (a *attempt) isQueued() bool { return a.queue != nil }

// isOrphan reports whether an executor reported the attempt and the plugin has not submitted it.
func (a *attempt) isOrphan() bool { return !a.orphanSince.IsZero() }

// assignment is what an executor is sent to run the attempt.
func (a *attempt) assignment() Assignment {
	return Assignment{TaskID: a.id, Command: a.command, Env: a.envVars}
}

// assignLocked gives a, which is not queued, to s: Queued → Assigned. p.mu must be held.
func (p *Pool) assignLocked(a *attempt, s *Session) {
	a.session = s
	a.status.phase = TaskAssigned
	a.status.Executor = s.podName
	a.assignedAt = p.opts.Now()
	// The executor's runtimes have each run a task, or this one is the first on one of them.
	p.metrics.assigned(a.env, s.env.assignments[s.podName] >= s.slots)
	s.env.assignments[s.podName]++
	s.takeSlot(a)
}

// requeueLocked puts a, assigned to an executor that has shown it never received it (it reconnected or
// closed without reporting it), back at the head of its environment's queue: Assigned → Queued. It
// never ran, so another executor may run it; no retry is spent. p.mu must be held.
func (p *Pool) requeueLocked(a *attempt, w *wakeups) {
	a.session = nil
	a.status.phase, a.status.Executor = TaskQueued, ""
	a.queuedAt = p.opts.Now()
	a.env.queue.pushFront(a)
	a.env.poke()
	w.add(a.owner)
}

// startLocked records that a's executor began it at at: Assigned → Running. p.mu must be held.
func (p *Pool) startLocked(a *attempt, at time.Time, w *wakeups) {
	if a.status.phase != TaskAssigned || a.released {
		return
	}
	a.status.phase = TaskRunning
	a.status.StartedAt = at
	p.metrics.started(a.env, a.assignedAt, p.opts.Now())
	w.add(a.owner)
}

// adoptRunLocked makes the run s reports the run of a, submitted again (after a restart of the pool)
// and queued meanwhile: Queued → Running, without running it twice. p.mu must be held.
func (p *Pool) adoptRunLocked(a *attempt, s *Session, w *wakeups) {
	a.env.queue.remove(a)
	p.assignLocked(a, s)
	a.status.phase = TaskRunning
	w.add(a.owner)
}

// adoptResultLocked makes the result s reports the result of a, submitted again and queued
// meanwhile; the caller records it. Its environment may be idle from now. p.mu must be held.
func (p *Pool) adoptResultLocked(a *attempt, s *Session) {
	a.env.queue.remove(a)
	a.session = s
	p.markIdleLocked(a.env)
}

// recordLocked records r as a's result: → Succeeded, or Failed with the executor's failure. p.mu must
// be held.
func (p *Pool) recordLocked(a *attempt, r Result, w *wakeups) {
	a.resultHeld = true
	a.status.Executor = a.session.podName
	a.status.StartedAt, a.status.FinishedAt = r.StartedAt, r.FinishedAt
	if r.Failure != nil {
		p.failLocked(a, *r.Failure, w)
		return
	}
	a.status.phase = TaskSucceeded
	close(a.ended)
	if !r.StartedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
		a.env.runTimes.note(a.name, r.FinishedAt.Sub(r.StartedAt))
	}
	p.metrics.attemptEnded(a.env, nil)
	p.metrics.ran(a.env, r)
	w.add(a.owner)
}

// failLocked marks a failed, unless it was released or has ended already, and says whether it did.
// p.mu must be held.
func (p *Pool) failLocked(a *attempt, f Failure, w *wakeups) bool {
	if a.released || a.status.phase.IsTerminal() {
		return false
	}
	// Every failure, the executor's or the pool's, reaches Flyte's events bounded and as valid UTF-8.
	f.Message = contract.TruncateMessage(f.Message)
	a.status.phase = TaskFailed
	a.status.failure = &f
	close(a.ended)
	p.metrics.attemptEnded(a.env, &f)
	w.add(a.owner)
	return true
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

// newOrphanLocked records id, which s reports and nobody submitted, as an orphan: running on s, or
// finished with result held (nil while it runs). It returns false, recording nothing, when s has
// reported as many orphans as it may (Session.maxOrphans): the executor keeps what it holds and reports
// it again on its next session. p.mu must be held.
func (p *Pool) newOrphanLocked(id string, s *Session, held *Result) bool {
	if len(s.orphans) >= s.maxOrphans() {
		return false
	}
	a := &attempt{id: id, env: s.env, session: s, orphanSince: p.opts.Now(), held: held, resultHeld: held != nil,
		ended: make(chan struct{})}
	if held == nil {
		a.status.phase = TaskRunning
		s.takeSlot(a)
	}
	p.attempts[id] = a
	s.orphans[id] = a
	return true
}

// adoptsOrphan reports whether submitting t adopts orphan a: only an attempt of the orphan's own
// environment definition may. An executor of any other environment, namespace, project or domain that
// reports an attempt's ID (IDs are predictable) must never make it succeed unrun or hold it running.
// Only the pod hash may differ: a propeller upgrade that changes the executor pod (a new executor
// image) keeps the runs executors report across the restart.
func adoptsOrphan(a *attempt, t Task) bool { return a.env.spec.Key.SameDefinition(t.Environment.Key) }

// adoptOrphanLocked makes a, an attempt an executor reported before propeller submitted it, the
// submitted attempt t: its run (or its result) is t's. p.mu must be held.
func (p *Pool) adoptOrphanLocked(a *attempt, t Task, w *wakeups) {
	delete(a.session.orphans, a.id)
	a.orphanSince = time.Time{}
	a.name, a.command, a.envVars, a.owner, a.lastSeen = t.Name, t.Command, t.Env, t.Owner, p.opts.Now()
	a.status.Executor = a.session.podName
	if r := a.held; r != nil {
		a.held = nil
		p.recordLocked(a, *r, w)
		return
	}
	w.add(a.owner)
}

// dropOrphanLocked forgets a, an orphan that holds nothing on its executor any more. p.mu must be held.
func (p *Pool) dropOrphanLocked(a *attempt) {
	delete(p.attempts, a.id)
	delete(a.session.orphans, a.id)
	a.orphanSince = time.Time{}
	a.released = true
}

// forgetOrphanLocked drops a, an orphan nobody submitted: a result it holds is acknowledged, a run
// is cancelled (and keeps its slot until the executor confirms). p.mu must be held.
func (p *Pool) forgetOrphanLocked(a *attempt) {
	p.dropOrphanLocked(a)
	switch {
	case a.held != nil:
		if s := a.env.sessions[a.session.podName]; s != nil {
			s.link.Ack(a.id)
		}
	case a.session != nil && !a.session.detached:
		a.session.link.Cancel(a.id)
	}
}
