package actorpool

import (
	"crypto/subtle"
	"fmt"
	"time"
)

// AttachExecutor registers a newly connected executor session. It returns the attempts the executor
// reported running that it must stop, because the pool does not want them on that executor.
func (p *Pool) AttachExecutor(h ExecutorHello, link ExecutorLink) (s *Session, cancel []string, err error) {
	if h.PodName == "" || h.Slots < 1 {
		return nil, nil, fmt.Errorf("%w: pod name %q, slots %d", ErrBadHello, h.PodName, h.Slots)
	}
	p.update(func(w *wakeups) {
		var env *environment
		if env, err = p.admitLocked(h); err != nil {
			return
		}
		s = newSession(env, h, link, p.opts.Now())
		if err = s.checkReports(h); err != nil {
			return
		}
		reported := h.reported()
		// A pod being removed (scaled down) takes nothing, even if its executor reconnects meanwhile.
		s.draining = env.pods[h.PodName].Stopping || env.removing[h.PodName]
		pod := env.pods[h.PodName]
		if _, before := env.assignments[h.PodName]; before || env.sessions[h.PodName] != nil || env.lost[h.PodName] != nil ||
			env.awaiting[h.PodName] {
			p.metrics.reconnected(env)
			p.executorEventLocked(env, h.PodName, false, "ExecutorReconnected", "the executor connected to the actor pool again")
		} else {
			env.assignments[h.PodName] = 0
			p.metrics.executorStarted(env, pod.Created, p.opts.Now())
			p.executorEventLocked(env, h.PodName, false, "ExecutorConnected",
				fmt.Sprintf("the executor connected to the actor pool with %d slots: environment %s runs tasks on it", s.slots, env.spec.Key.Name))
		}
		if old := env.sessions[h.PodName]; old != nil {
			cancel = p.takeOverLocked(old, s, reported, w)
		}
		if lost := env.lost[h.PodName]; lost != nil {
			delete(env.lost, h.PodName)
			cancel = append(cancel, p.takeOverLocked(lost, s, reported, w)...)
		}
		cancel = append(cancel, p.adoptRunningLocked(s, h.Running, w)...)
		env.sessions[h.PodName] = s
		delete(env.awaiting, h.PodName)
		// An executor runs: whatever kept the pods from starting is over.
		env.podFailures, env.broken = 0, ""
		for _, r := range h.Held {
			p.resultLocked(s, r, w)
		}
		p.dispatchLocked(env, w)
		env.poke() // its size may change now that this executor is connected (scaling.go)
	})
	return s, cancel, err
}

// admitLocked returns the environment h belongs to, if it exists, admits executors and h carries the
// pod's token. Its errors say no more than the executor already knows. p.mu must be held.
func (p *Pool) admitLocked(h ExecutorHello) (*environment, error) {
	env, ok := p.environments[h.EnvironmentID]
	switch {
	case !p.discoveryDone:
		// Until the pool knows what the cluster held when it started, it cannot tell an executor's
		// running tasks from those of executors yet to reconnect: it admits none.
		return nil, fmt.Errorf("%w: the pool is starting", ErrEnvironmentNotReady)
	case !ok:
		return nil, fmt.Errorf("%w: %s", ErrUnknownEnvironment, h.EnvironmentID)
	case env.secret == "" || env.deleting:
		return nil, fmt.Errorf("%w: %s", ErrEnvironmentNotReady, h.EnvironmentID)
	case subtle.ConstantTimeCompare([]byte(PodToken(env.secret, h.PodName)), []byte(h.Token)) != 1:
		return nil, fmt.Errorf("%w: executor %s", ErrBadToken, h.PodName)
	}
	return env, nil
}

// takeOverLocked replaces old, an earlier (live or lost) session of the same pod, with s: the
// attempts and orphans the executor still reports move to s (released ones are returned to be
// cancelled). What old held that the executor no longer reports it does not have: an orphan is
// forgotten, an attempt it never started is queued again (it never got it), and one it started is
// lost. p.mu must be held.
func (p *Pool) takeOverLocked(old, s *Session, reported map[string]bool, w *wakeups) (cancel []string) {
	old.detached = true
	for id, a := range old.orphans {
		if reported[id] {
			a.session = s
			s.orphans[id] = a
		} else if a.held != nil {
			p.forgetOrphanLocked(a)
		}
	}
	for id, a := range old.running {
		switch {
		case reported[id]:
			a.session = s
			s.running[id] = a // the slot moves with the attempt: env.active stays
			if a.released {
				cancel = append(cancel, id)
			}
			continue
		case a.isOrphan():
			old.freeSlot(id, p.opts.Now())
			p.forgetOrphanLocked(a)
		case a.status.phase == TaskAssigned && !a.released:
			old.freeSlot(id, p.opts.Now())
			p.requeueLocked(a, w)
		default:
			old.freeSlot(id, p.opts.Now())
			p.failLocked(a, lostFailure(s.podName, fmt.Sprintf("it reconnected without task %s", id), ExecutorPodState{}), w)
		}
	}
	return cancel
}

// adoptRunningLocked takes on the attempts the executor reports running that s does not hold yet. An
// attempt propeller submitted again after a restart of the pool is the executor's run; one the pool
// does not know waits on s as an orphan for propeller to submit it; one the pool knows elsewhere, or
// released, is returned to be cancelled. Each takes a slot until the executor reports it ended. p.mu
// must be held.
func (p *Pool) adoptRunningLocked(s *Session, running []string, w *wakeups) (cancel []string) {
	for _, id := range running {
		if _, mine := s.running[id]; mine {
			continue
		}
		a, known := p.attempts[id]
		switch {
		case known && a.isQueued() && a.env == s.env:
			p.adoptRunLocked(a, s, w)
		case !known:
			p.newOrphanLocked(id, s, nil) // bounded: the Hello reports no more than s's slots
		default:
			// Known elsewhere, or released: stopped, and holding its slot until the executor confirms.
			cancel = append(cancel, id)
			s.takeSlot(&attempt{id: id, env: s.env, session: s, released: true})
		}
	}
	return cancel
}

// RuntimesRestarted records that s's executor has started its Python runtimes again restarts times in
// all (it reports the count so far, with each result and heartbeat).
func (p *Pool) RuntimesRestarted(s *Session, restarts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A running count per executor pod, whatever its sessions: a reconnect does not count it again.
	if seen := s.env.runtimeRestarts[s.podName]; restarts > seen && !s.detached {
		p.metrics.runtimesRestarted(s.env, restarts-seen)
		s.env.runtimeRestarts[s.podName] = restarts
	}
}

// executorEventLocked records an event on executor pod of env. p.mu must be held.
func (p *Pool) executorEventLocked(env *environment, pod string, warning bool, reason, message string) {
	p.cluster.RecordExecutorEvent(ExecutorEvent{Namespace: env.spec.Key.Namespace, Pod: pod, UID: env.pods[pod].UID,
		Warning: warning, Reason: reason, Message: message})
}

// DetachExecutor ends an executor's session. Its attempts wait for the executor to reconnect, for up
// to the reconnect grace; then, or as soon as its pod is seen ended, they fail as lost, retryably:
// Flyte runs them again as new attempts.
func (p *Pool) DetachExecutor(s *Session, reason string) {
	p.update(func(w *wakeups) {
		if s.detached {
			return
		}
		s.detached = true
		env := s.env
		if env.sessions[s.podName] == s {
			delete(env.sessions, s.podName)
			env.noteSessionsChanged(p.opts.Now())
		}
		if len(s.running) > 0 {
			s.lostAt, s.lostReason = p.opts.Now(), reason
			env.lost[s.podName] = s
			if pod := env.pods[s.podName]; pod.Ended {
				p.failLostLocked(s, pod, w) // its pod ended already: it will not reconnect
			}
		}
		// Level-triggered: the Cluster replaces the pod if it is gone, and finds nothing to do if not.
		env.ensuredAt = env.ensuredAt.Add(-p.opts.ResyncInterval)
		env.poke()
		p.dispatchLocked(env, w)
	})
}

// failLostLocked fails the attempts of a lost session, which will not come back. p.mu must be held.
func (p *Pool) failLostLocked(s *Session, fate ExecutorPodState, w *wakeups) {
	if s.env.lost[s.podName] == s {
		delete(s.env.lost, s.podName)
	}
	if p.failRunningLocked(s, lostFailure(s.podName, s.lostReason, fate), w) {
		p.metrics.executorLost(s.env)
		p.executorEventLocked(s.env, s.podName, true, "ExecutorLost",
			fmt.Sprintf("the executor went away while it ran tasks (%s); they failed as lost, and Flyte retries them", s.lostReason))
	}
}

// failRunningLocked takes every attempt off s, failing each with f (an orphan nobody submitted is
// forgotten instead), and says whether it failed any. p.mu must be held.
func (p *Pool) failRunningLocked(s *Session, f Failure, w *wakeups) (failed bool) {
	for id, a := range s.running {
		s.freeSlot(id, p.opts.Now())
		if a.isOrphan() {
			p.forgetOrphanLocked(a)
			continue
		}
		failed = p.failLocked(a, f, w) || failed
	}
	p.markIdleLocked(s.env)
	return failed
}

// TaskStarted records that an executor began an attempt.
func (p *Pool) TaskStarted(s *Session, id string, at time.Time) {
	p.update(func(w *wakeups) {
		if a, ok := s.running[id]; ok && !s.detached {
			p.startLocked(a, at, w)
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
// it once its tasks ended and their results were sent. An attempt it still holds and never started is
// one the pool assigned before it read that the executor was stopping, which the executor refused
// without running it and could no longer report: it is queued again at once, instead of waiting out
// the reconnect grace. One it started but did not report ended is lost.
func (p *Pool) ExecutorClosed(s *Session) {
	p.update(func(w *wakeups) {
		if s.detached || !s.draining {
			return
		}
		for id, a := range s.running {
			if a.status.phase == TaskAssigned && !a.released && !a.isOrphan() {
				s.freeSlot(id, p.opts.Now())
				p.requeueLocked(a, w)
			}
		}
		p.failRunningLocked(s, lostFailure(s.podName, "it stopped without reporting the task's end", ExecutorPodState{}), w)
		p.dispatchLocked(s.env, w)
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
	a, ok := s.running[r.TaskID]
	if ok {
		s.freeSlot(r.TaskID, p.opts.Now())
		p.markIdleLocked(s.env)
	} else if r.refusedUnrun() {
		// Refused unrun, by a session that no longer holds the attempt (a restarted pool, or one that
		// moved it): the attempt never ran there, and runs wherever it is queued or assigned now.
		s.link.Ack(r.TaskID)
		return
	} else if a, ok = p.attempts[r.TaskID]; ok && a.isQueued() && a.env == s.env {
		// The pool restarted and propeller submitted the attempt again: the executor's result is its.
		p.adoptResultLocked(a, s)
	} else if !ok {
		// Not known (yet): keep it for propeller to submit the attempt again, unacknowledged.
		p.newOrphanLocked(r.TaskID, s, &r)
		return
	} else if a.session != s {
		// An attempt that moved elsewhere (this executor lost it and Flyte ran it again): nobody wants
		// this executor's result; acknowledged, so that it stops sending it.
		s.link.Ack(r.TaskID)
		return
	}
	switch {
	case a.released:
		s.link.Ack(r.TaskID) // nobody wants it any more
	case r.refusedUnrun() && a.isOrphan():
		// Reported running after a restart, then refused unrun (its runtime could not start again):
		// nobody's result. A submission of the attempt runs it afresh.
		s.link.Ack(r.TaskID)
		p.dropOrphanLocked(a)
	case r.refusedUnrun() && !a.status.phase.IsTerminal():
		// Assigned, or adopted as running after a restart, but never run: it runs again, spending no retry.
		s.link.Ack(r.TaskID)
		p.requeueLocked(a, w)
	case a.isOrphan():
		a.held, a.resultHeld = &r, true
	case a.session == s && !a.status.phase.IsTerminal():
		p.recordLocked(a, r, w)
	}
	// Otherwise the attempt already has its result (this is the executor repeating it after a
	// reconnect): it is acknowledged when the attempt is released.
}

// closeSessionLocked ends s from the pool's side. Attempts it still holds fail as lost. p.mu must be
// held.
func (p *Pool) closeSessionLocked(s *Session, reason string, w *wakeups) {
	if s.env.sessions[s.podName] == s {
		delete(s.env.sessions, s.podName)
		s.env.noteSessionsChanged(p.opts.Now())
	}
	s.link.Close(reason)
	s.lostReason = reason
	p.failLostLocked(s, ExecutorPodState{}, w)
	s.detached = true
}
