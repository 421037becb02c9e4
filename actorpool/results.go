package actorpool

import "time"

// TaskStarted records that an executor began an attempt.
func (p *Pool) TaskStarted(s *Session, id string, at time.Time) {
	p.update(func(w *wakeups) {
		if a, ok := s.running[id]; ok && !s.detached && a.status.phase == TaskAssigned && !a.released {
			a.status.phase = TaskRunning
			a.status.StartedAt = at
			w.add(a.task.Owner)
		}
	})
}

// TaskFinished records an attempt's result and acknowledges it to the executor.
func (p *Pool) TaskFinished(s *Session, r Result) {
	p.update(func(w *wakeups) {
		if !s.detached {
			p.finishLocked(s, r, w)
			p.dispatchLocked(s.env, w)
		}
	})
}

// finishLocked records r on the attempt it names and acknowledges it. p.mu must be held.
func (p *Pool) finishLocked(s *Session, r Result, w *wakeups) {
	defer s.link.Ack(r.TaskID)
	a, ok := s.running[r.TaskID]
	if !ok {
		// A result held across a pool restart, for an attempt propeller submitted again.
		if a, ok = p.attempts[r.TaskID]; !ok || !a.isQueued() || a.env != s.env {
			return
		}
		a.env.queue.remove(a)
		p.assignLocked(a, s)
	}
	delete(s.running, r.TaskID)
	s.env.active--
	p.markIdleLocked(s.env)
	if a.released {
		return
	}
	a.status.StartedAt, a.status.FinishedAt = r.StartedAt, r.FinishedAt
	if r.Failure != nil {
		p.failLocked(a, *r.Failure, w)
		return
	}
	a.status.phase = TaskSucceeded
	w.add(a.task.Owner)
}

// failLocked marks a failed, unless it was released or has ended already. p.mu must be held.
func (p *Pool) failLocked(a *attempt, f Failure, w *wakeups) {
	if a.released || a.status.phase.IsTerminal() {
		return
	}
	a.status.phase = TaskFailed
	a.status.failure = &f
	w.add(a.task.Owner)
}
