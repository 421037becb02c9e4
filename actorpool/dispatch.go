package actorpool

// dispatchLocked hands queued attempts to sessions with free slots, oldest attempt first. p.mu must
// be held.
func (p *Pool) dispatchLocked(env *environment, w *wakeups) {
	if env.deleting {
		return
	}
	for env.queue.len() > 0 {
		s := env.freeSession()
		if s == nil {
			return
		}
		a := env.queue.pop()
		p.assignLocked(a, s)
		s.link.Assign(Assignment{TaskID: a.id(), Command: a.task.Command, Env: a.task.Env})
		w.add(a.task.Owner)
	}
}

// assignLocked gives a, which is not queued, to s. p.mu must be held.
func (p *Pool) assignLocked(a *attempt, s *Session) {
	a.session = s
	a.status.phase = TaskAssigned
	a.status.Executor = s.podName
	s.running[a.id()] = a
	s.env.active++
}
