package actorpool

// dispatchLocked hands queued attempts to sessions with free slots, oldest attempt first. p.mu must
// be held.
func (p *Pool) dispatchLocked(env *environment, w *wakeups) {
	if env.deleting || !p.discoveryDone || p.awaitingLocked(env) {
		return
	}
	for env.queue.len() > 0 {
		s := env.freeSession()
		if s == nil {
			return
		}
		a := env.queue.pop()
		p.metrics.waited(env, a.queuedAt, p.opts.Now())
		p.assignLocked(a, s)
		s.link.Assign(a.assignment())
		w.add(a.owner)
	}
}

// awaitingLocked reports whether env still waits for executors found at start to reconnect. p.mu must
// be held.
func (p *Pool) awaitingLocked(env *environment) bool {
	if len(env.awaiting) == 0 {
		return false
	}
	if !p.opts.Now().Before(env.awaitingUntil) {
		clear(env.awaiting)
		return false
	}
	return true
}
