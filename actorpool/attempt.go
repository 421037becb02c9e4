package actorpool

// attempt is the pool's record of one submitted task attempt. The pool's mutex guards it.
type attempt struct {
	task   Task
	env    *environment
	status TaskStatus
	// session runs (or ran) the attempt; nil while it is queued.
	session *Session
	// released is true once the plugin no longer wants the attempt; it stays only as long as an
	// executor still holds a slot for it.
	released bool
	// queue is the queue the attempt waits in, with its neighbours there; nil when not queued.
	queue      *attemptQueue
	prev, next *attempt
}

// isQueued reports whether the attempt waits in its environment's queue.
func (a *attempt) isQueued() bool { return a.queue != nil }

// id returns the attempt's unique generated name.
func (a *attempt) id() string { return a.task.ID }
