package actorpool

import (
	"crypto/subtle"
	"fmt"

	"github.com/flyteactors/flyteactors/go/contract"
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
		s = &Session{env: env, podName: h.PodName, slots: h.Slots, link: link, running: map[string]*attempt{}}
		if old := env.sessions[h.PodName]; old != nil {
			p.takeOverLocked(old, s, h.reported(), w)
		}
		cancel = p.adoptRunningLocked(s, h.Running)
		env.sessions[h.PodName] = s
		for _, r := range h.Held {
			p.finishLocked(s, r, w)
		}
		p.dispatchLocked(env, w)
	})
	return s, cancel, err
}

// admitLocked returns the environment h belongs to, if it exists, is ready and h carries its token.
// p.mu must be held.
func (p *Pool) admitLocked(h ExecutorHello) (*environment, error) {
	env, ok := p.environments[h.EnvironmentID]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s", ErrUnknownEnvironment, h.EnvironmentID)
	case env.token == "":
		return nil, fmt.Errorf("%w: %s", ErrEnvironmentNotReady, env.spec.Key)
	case subtle.ConstantTimeCompare([]byte(env.token), []byte(h.Token)) != 1:
		return nil, fmt.Errorf("%w: executor %s of environment %s", ErrBadToken, h.PodName, env.spec.Key)
	}
	return env, nil
}

// takeOverLocked replaces old, an earlier session of the same pod, with s: the attempts the executor
// still reports move to s, and what old ran that the executor no longer reports is lost. p.mu must be
// held.
func (p *Pool) takeOverLocked(old, s *Session, reported map[string]bool, w *wakeups) {
	old.detached = true
	for id, a := range old.running {
		if reported[id] {
			a.session = s
			s.running[id] = a
			continue
		}
		s.env.active--
		p.failLocked(a, Failure{Kind: FailureSystem, Retryable: true, Code: contract.CodeExecutorLost,
			Message: fmt.Sprintf("executor %s reconnected without task %s", s.podName, id)}, w)
	}
}

// adoptRunningLocked takes on the attempts the executor reports running that s does not hold yet:
// an attempt propeller submitted again after a pool restart is the executor's run; any other is not
// wanted and is returned to be cancelled. Either way it takes a slot until the executor reports it
// ended. p.mu must be held.
func (p *Pool) adoptRunningLocked(s *Session, running []string) (cancel []string) {
	for _, id := range running {
		if _, mine := s.running[id]; mine {
			continue
		}
		if a, known := p.attempts[id]; known && a.isQueued() && a.env == s.env {
			a.env.queue.remove(a)
			p.assignLocked(a, s)
			a.status.phase = TaskRunning
			continue
		}
		cancel = append(cancel, id)
		s.running[id] = &attempt{task: Task{ID: id}, env: s.env, released: true, session: s}
		s.env.active++
	}
	return cancel
}

// reported returns the attempts h says the executor runs or holds a result for.
func (h ExecutorHello) reported() map[string]bool {
	ids := make(map[string]bool, len(h.Running)+len(h.Held))
	for _, id := range h.Running {
		ids[id] = true
	}
	for _, r := range h.Held {
		ids[r.TaskID] = true
	}
	return ids
}

// DetachExecutor ends an executor's session. Attempts it was running fail as lost, retryably: Flyte
// runs them again as new attempts.
func (p *Pool) DetachExecutor(s *Session, reason string) {
	p.update(func(w *wakeups) {
		if s.detached {
			return
		}
		s.detached = true
		env := s.env
		if env.sessions[s.podName] == s {
			delete(env.sessions, s.podName)
		}
		for id, a := range s.running {
			delete(s.running, id)
			env.active--
			p.failLocked(a, Failure{Kind: FailureSystem, Retryable: true, Code: contract.CodeExecutorLost,
				Message: fmt.Sprintf("executor %s was lost while running the task: %s", s.podName, reason)}, w)
		}
		p.markIdleLocked(env)
		p.dispatchLocked(env, w)
	})
}
