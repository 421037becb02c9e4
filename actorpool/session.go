package actorpool

import (
	"fmt"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
)

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
	// orphans holds the orphans the executor reported (running ones are in running too), by ID; at
	// most maxOrphans of them.
	orphans map[string]*attempt
	// detached is true once the session has ended; whatever it reports afterwards is ignored.
	detached bool
	// draining is true once the executor said it is stopping (or its pod is being deleted, or the pool
	// scales it down): it gets no new task.
	draining bool
	// idleSince is when the executor last had nothing to run; zero while it runs something.
	idleSince time.Time
	// lostAt and lostReason say when and why the stream ended, while the session waits in its
	// environment's lost sessions for the executor to reconnect.
	lostAt     time.Time
	lostReason string
}

// maxOrphans is how many attempts nobody submitted the session may report: what its Hello may carry,
// its slots and its held results, and no more, however many streams it opens, so that an executor cannot
// grow the pool's memory without bound.
func (s *Session) maxOrphans() int { return s.slots * (1 + contract.MaxHeldResultsPerSlot) }

// maxSlotsOfUndescribedEnvironment caps the slots of an executor whose environment's spec the pool
// does not know (found at start in objects that do not say): a Hello's word is not trusted beyond it.
const maxSlotsOfUndescribedEnvironment = 64

// newSession returns the session of executor h of env, talking back through link. A Hello is trusted
// only as far as the environment's spec: never more slots than it has.
func newSession(env *environment, h ExecutorHello, link ExecutorLink, now time.Time) *Session {
	s := &Session{env: env, podName: h.PodName, slots: h.Slots, link: link, idleSince: now,
		running: map[string]*attempt{}, orphans: map[string]*attempt{}}
	limit := env.spec.Slots
	if limit <= 0 {
		limit = maxSlotsOfUndescribedEnvironment
	}
	s.slots = min(s.slots, limit)
	return s
}

// checkReports refuses a Hello that reports more than the session can hold: more running tasks than
// its slots, or more held results than contract.MaxHeldResultsPerSlot per slot (an executor that holds
// more sends them after its Hello).
func (s *Session) checkReports(h ExecutorHello) error {
	if len(h.Running) > s.slots {
		return fmt.Errorf("%w: executor %s reports %d running tasks, more than its %d slots", ErrBadHello, s.podName, len(h.Running), s.slots)
	}
	if held := len(h.Held); held > s.slots*contract.MaxHeldResultsPerSlot {
		return fmt.Errorf("%w: executor %s reports %d held results, more than %d per slot", ErrBadHello, s.podName, held, contract.MaxHeldResultsPerSlot)
	}
	return nil
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
	s.idleSince = time.Time{}
}

// freeSlot frees the slot of attempt id on s at now. p.mu must be held.
func (s *Session) freeSlot(id string, now time.Time) {
	delete(s.running, id)
	s.env.active--
	if s.env.idle() {
		s.env.idleSince = now // its TTL counts from its last work, whichever way that work ended
	}
	if len(s.running) == 0 {
		s.idleSince = now
		// Its environment may scale it down after a while: its goroutine looks again.
		s.env.poke()
	}
}

// idle reports whether the executor is connected, takes tasks and runs none.
func (s *Session) idle() bool { return len(s.running) == 0 && !s.draining && !s.detached }
