package actorpool

// attemptQueue is an environment's FIFO of queued attempts: a doubly linked list threaded through the
// attempts themselves, so that taking out an attempt anywhere (a release, an adoption) costs nothing
// and leaves nothing behind. An attempt is queued exactly when it is in a queue.
type attemptQueue struct {
	head, tail *attempt
	n          int
}

func (q *attemptQueue) len() int { return q.n }

// push appends a, which must not be queued.
func (q *attemptQueue) push(a *attempt) {
	a.queue = q
	a.prev, a.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = a
	} else {
		q.head = a
	}
	q.tail = a
	q.n++
}

// pushFront puts a, which must not be queued, at the head of q.
func (q *attemptQueue) pushFront(a *attempt) {
	a.queue = q
	a.prev, a.next = nil, q.head
	if q.head != nil {
		q.head.prev = a
	} else {
		q.tail = a
	}
	q.head = a
	q.n++
}

// pop removes and returns the oldest attempt, or nil if the queue is empty.
func (q *attemptQueue) pop() *attempt {
	a := q.head
	if a != nil {
		q.remove(a)
	}
	return a
}

// remove takes a, which must be in q, out of q.
func (q *attemptQueue) remove(a *attempt) {
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		q.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		q.tail = a.prev
	}
	a.prev, a.next, a.queue = nil, nil, nil
	q.n--
}
