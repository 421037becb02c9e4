package actorpool

import (
	"fmt"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
)

// TaskStarted records that an executor began an attempt.
func (p *Pool) TaskStarted(s *Session, id string, at time.Time) {
	p.update(func(w *wakeups) {
		if a, ok := s.running[id]; ok && !s.detached && a.status.phase == TaskAssigned && !a.released {
			a.status.phase = TaskRunning
			a.status.StartedAt = at
			w.add(a.owner)
		}
	})
}

// ExecutorDraining records that an executor is stopping: it gets no new task, on this session or a
// later one of its pod.
func (p *Pool) ExecutorDraining(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.draining = true
}

// ExecutorClosed records that an executor ended its session itself, for good: a stopping executor closes
// it once its tasks ended and their results were sent. An attempt it still holds is one the pool
// assigned before it read that the executor was stopping, which the executor refused without running
// it and could no longer report: it fails now, retryably, instead of waiting out the reconnect grace
// as lost.
func (p *Pool) ExecutorClosed(s *Session) {
	p.update(func(w *wakeups) {
		if s.detached || !s.draining {
			return
		}
		p.failRunningLocked(s, Failure{Kind: FailureSystem, Retryable: true, Code: contract.CodeExecutorDraining,
			Message: fmt.Sprintf("executor %s was stopping and did not start the task", s.podName)}, w)
	})
}

// TaskFinished records an attempt's result. The executor keeps the result until the pool
// acknowledges it, which the pool does once the plugin released the attempt: until then Flyte may not
// have recorded it, and a restarted pool learns it again from the executor.
func (p *Pool) TaskFinished(s *Session, r Result) {
	p.update(func(w *wakeups) {
		if !s.detached {
			p.resultLocked(s, r, w)
			p.dispatchLocked(s.env, w)
		}
	})
}

// resultLocked records r, reported by s, on the attempt it names. p.mu must be held.
func (p *Pool) resultLocked(s *Session, r Result, w *wakeups) {
	r.Failure = r.Failure.truncated()
	a, ok := s.running[r.TaskID]
	if ok {
		delete(s.running, r.TaskID)
		s.env.active--
		p.markIdleLocked(s.env)
	} else if a, ok = p.attempts[r.TaskID]; ok && a.isQueued() && a.env == s.env {
		// The pool restarted and propeller submitted the attempt again: the executor's result is its.
		a.env.queue.remove(a)
		a.session = s
	} else if !ok {
		// Not known (yet): keep it for propeller to submit the attempt again, unacknowledged.
		a = &attempt{id: r.TaskID, env: s.env, orphanSince: p.opts.Now(), session: s}
		p.attempts[r.TaskID] = a
		s.env.orphans++
	}
	switch {
	case a.released:
		s.link.Ack(r.TaskID) // nobody wants it any more
	case a.isOrphan():
		a.held, a.resultHeld = &r, true
	case a.session == s && !a.status.phase.IsTerminal():
		p.recordLocked(a, r, w)
	}
	// Otherwise the attempt already has its result (this is the executor repeating it after a
	// reconnect): it is acknowledged when the attempt is released.
}

// recordLocked records r as a's result. p.mu must be held.
func (p *Pool) recordLocked(a *attempt, r Result, w *wakeups) {
	a.resultHeld = true
	a.status.Executor = a.session.podName
	a.status.StartedAt, a.status.FinishedAt = r.StartedAt, r.FinishedAt
	if r.Failure != nil {
		p.failLocked(a, *r.Failure, w)
		return
	}
	a.status.phase = TaskSucceeded
	p.metrics.attemptEnded(nil)
	w.add(a.owner)
}

// failLocked marks a failed, unless it was released or has ended already, and says whether it did.
// p.mu must be held.
func (p *Pool) failLocked(a *attempt, f Failure, w *wakeups) bool {
	if a.released || a.status.phase.IsTerminal() {
		return false
	}
	a.status.phase = TaskFailed
	a.status.failure = &f
	p.metrics.attemptEnded(&f)
	w.add(a.owner)
	return true
}
