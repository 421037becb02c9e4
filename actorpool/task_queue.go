package actorpool

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// QueueOrder is the order in which an environment hands its queued attempts to executors.
type QueueOrder string

const (
	// QueueFair takes the workflow executions with queued attempts in turn, each one's attempts in the
	// order they came: a workflow that arrives behind a 10,000-item map waits for one of the map's
	// attempts, not for all of them.
	QueueFair QueueOrder = "fair"
	// QueueFIFO takes attempts in the order they came, whatever their execution.
	QueueFIFO QueueOrder = "fifo"
)

// taskQueue is an environment's queued attempts. Fair, it keeps one FIFO per workflow execution (the
// attempt's owner) and takes the executions in turn, round-robin; FIFO, it keeps all attempts in one.
// Taking out an attempt anywhere (a release, an adoption) costs nothing, as in attemptQueue, which each
// execution's queue is. The pool's mutex guards it.
type taskQueue struct {
	order QueueOrder
	// byTurn maps each turn's key to its queue; the turns themselves are a ring, first is next.
	byTurn      map[types.NamespacedName]*turnQueue
	first, last *turnQueue
	n           int
}

// turnQueue is the FIFO of one execution's queued attempts (of all attempts, in FIFO order), and its
// place among the turns.
type turnQueue struct {
	attemptQueue
	key        types.NamespacedName
	prev, next *turnQueue
	// nextSeq numbers the attempts pushed, so that an attempt's place in its turn is its number less
	// the head's (a removal from the middle leaves a gap: the place is then an upper bound).
	nextSeq int64
}

func newTaskQueue(order QueueOrder) taskQueue {
	return taskQueue{order: order, byTurn: map[types.NamespacedName]*turnQueue{}}
}

// turnKey is the turn a belongs to: its execution, or one for all in FIFO order.
func (q *taskQueue) turnKey(a *attempt) types.NamespacedName {
	if q.order == QueueFIFO {
		return types.NamespacedName{}
	}
	return a.owner
}

func (q *taskQueue) len() int { return q.n }

// executions returns how many turns (workflow executions, in fair order) have queued attempts.
func (q *taskQueue) executions() int { return len(q.byTurn) }

// push appends a, which must not be queued, to its execution's turn; an execution new to the queue
// takes its turn after those already there.
func (q *taskQueue) push(a *attempt) {
	t := q.turnOf(a)
	a.seq = t.nextSeq
	t.nextSeq++
	t.push(a)
	q.n++
}

// pushFront puts a, which must not be queued, first: at the head of its execution's turn, which is the
// next turn. It is for an attempt that had its turn and must run again (its executor never got it).
func (q *taskQueue) pushFront(a *attempt) {
	t := q.turnOf(a)
	if t.head != nil {
		a.seq = t.head.seq - 1
	} else {
		a.seq = t.nextSeq
		t.nextSeq++
	}
	t.pushFront(a)
	q.unlink(t)
	q.linkFirst(t)
	q.n++
}

// pop removes and returns the next attempt: the oldest of the execution whose turn it is, which then
// goes to the back of the turns. It returns nil if nothing is queued.
func (q *taskQueue) pop() *attempt {
	t := q.first
	if t == nil {
		return nil
	}
	a := t.pop()
	q.n--
	q.unlink(t)
	if t.len() == 0 {
		delete(q.byTurn, t.key)
	} else {
		q.linkLast(t)
	}
	return a
}

// remove takes a, which must be queued here, out.
func (q *taskQueue) remove(a *attempt) {
	t := q.byTurn[q.turnKey(a)]
	t.remove(a)
	q.n--
	if t.len() == 0 {
		q.unlink(t)
		delete(q.byTurn, t.key)
	}
}

// maxTurnsCounted bounds the turns ahead counts through: past it, the count is a lower bound (the reason
// says "... or more" by then anyway), and a status read stays cheap however many executions queue.
const maxTurnsCounted = 1000

// ahead returns how many queued attempts go to an executor before a, which must be queued here: the
// ones before it in its execution's turn, and, taking turns round-robin, as many of every other
// execution's (one more from the executions whose turn comes before a's).
func (q *taskQueue) ahead(a *attempt) int {
	mine := q.byTurn[q.turnKey(a)]
	k := int(a.seq - mine.head.seq)
	n := k
	before := true
	counted := 0
	for t := q.first; t != nil && counted < maxTurnsCounted; t, counted = t.next, counted+1 {
		if t == mine {
			before = false
			continue
		}
		if before {
			n += min(t.len(), k+1)
		} else {
			n += min(t.len(), k)
		}
	}
	return n
}

// oldestQueuedAt returns when the attempt queued longest ago was queued, and false if none is.
func (q *taskQueue) oldestQueuedAt() (time.Time, bool) {
	var oldest time.Time
	for t := q.first; t != nil; t = t.next {
		if at := t.head.queuedAt; oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest, !oldest.IsZero()
}

// each calls fn with every queued attempt; fn may remove the attempt it is given.
func (q *taskQueue) each(fn func(a *attempt)) {
	for t := q.first; t != nil; {
		nextTurn := t.next
		for a := t.head; a != nil; {
			next := a.next
			fn(a)
			a = next
		}
		t = nextTurn
	}
}

// turnOf returns a's turn, making it (last in the ring) if a's execution has nothing queued.
func (q *taskQueue) turnOf(a *attempt) *turnQueue {
	key := q.turnKey(a)
	t := q.byTurn[key]
	if t == nil {
		t = &turnQueue{key: key}
		q.byTurn[key] = t
		q.linkLast(t)
	}
	return t
}

func (q *taskQueue) linkLast(t *turnQueue) {
	t.prev, t.next = q.last, nil
	if q.last != nil {
		q.last.next = t
	} else {
		q.first = t
	}
	q.last = t
}

func (q *taskQueue) linkFirst(t *turnQueue) {
	t.prev, t.next = nil, q.first
	if q.first != nil {
		q.first.prev = t
	} else {
		q.last = t
	}
	q.first = t
}

func (q *taskQueue) unlink(t *turnQueue) {
	if t.prev != nil {
		t.prev.next = t.next
	} else if q.first == t {
		q.first = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else if q.last == t {
		q.last = t.prev
	}
	t.prev, t.next = nil, nil
}
