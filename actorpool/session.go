package actorpool

import "time"

// ExecutorLink is how the pool talks to one connected executor. Every method must return at once
// without blocking: the pool calls them while it holds its lock. Messages must reach the executor
// in the order of the calls.
type ExecutorLink interface {
	Assign(Assignment)
	Cancel(taskID string)
	Ack(taskID string)
	// Close ends the session from the pool's side (its pod is being deleted): the stream ends with
	// reason, and nothing sent after it reaches the executor.
	Close(reason string)
}

// Session is the pool's handle on one connected executor: one stream of one executor pod, from its
// Hello until it ends. The executor service passes it back on every call for that stream.
type Session struct {
	env     *environment
	podName string
	slots   int
	link    ExecutorLink
	// running holds the attempts that take a slot on the executor, by ID.
	running map[string]*attempt
	// detached is true once the session has ended; whatever it reports afterwards is ignored.
	detached bool
	// draining is true once the executor said it is stopping (or its pod is being deleted): it gets no
	// new task.
	draining bool
	// lostAt and lostReason say when and why the stream ended, while the session waits in its
	// environment's lost sessions for the executor to reconnect.
	lostAt     time.Time
	lostReason string
}

// PodName returns the executor's pod.
func (s *Session) PodName() string { return s.podName }

func (s *Session) freeSlots() int {
	if s.draining {
		return 0
	}
	return s.slots - len(s.running)
}

// takeSlot gives a a slot on s until freeSlot. p.mu must be held.
func (s *Session) takeSlot(a *attempt) {
	s.running[a.id] = a
	s.env.active++
}

// freeSlot frees the slot of attempt id on s. p.mu must be held.
func (s *Session) freeSlot(id string) {
	delete(s.running, id)
	s.env.active--
}
