package actorpool

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/types"
)

func queued(id, owner string) *attempt {
	return &attempt{id: id, owner: types.NamespacedName{Namespace: "ns", Name: owner}}
}

func popAll(q *taskQueue) []string {
	var ids []string
	for a := q.pop(); a != nil; a = q.pop() {
		ids = append(ids, a.id)
	}
	return ids
}

func TestFairQueueTakesExecutionsInTurn(t *testing.T) {
	q := newTaskQueue(QueueFair)
	for i := range 3 {
		q.push(queued(fmt.Sprintf("big-%d", i), "big"))
	}
	q.push(queued("small", "small"))
	q.push(queued("big-3", "big"))
	assert.Equal(t, 5, q.len())
	assert.Equal(t, 2, q.executions())
	assert.Equal(t, []string{"big-0", "small", "big-1", "big-2", "big-3"}, popAll(&q))
	assert.Equal(t, 0, q.len())
	assert.Equal(t, 0, q.executions(), "an execution with nothing queued leaves no turn behind")
}

func TestFIFOQueueKeepsArrivalOrder(t *testing.T) {
	q := newTaskQueue(QueueFIFO)
	for _, a := range []*attempt{queued("big-0", "big"), queued("big-1", "big"), queued("small", "small")} {
		q.push(a)
	}
	assert.Equal(t, []string{"big-0", "big-1", "small"}, popAll(&q))
}

func TestFairQueueRemovesAnywhereAndRequeuesFirst(t *testing.T) {
	q := newTaskQueue(QueueFair)
	a, b, c := queued("a", "x"), queued("b", "y"), queued("c", "y")
	for i, at := range []*attempt{a, b, c} {
		at.queuedAt = time.Unix(int64(i+10), 0)
		q.push(at)
	}
	oldest, ok := q.oldestQueuedAt()
	assert.True(t, ok)
	assert.Equal(t, time.Unix(10, 0), oldest)
	q.remove(a) // x's only attempt: x's turn goes
	assert.Equal(t, 1, q.executions())
	assert.False(t, a.isQueued())

	// b had its turn but its executor never got it: it runs next, before c.
	assert.Equal(t, "b", q.pop().id)
	q.pushFront(b)
	d := queued("d", "z")
	q.push(d)
	assert.Equal(t, []string{"b", "d", "c"}, popAll(&q))
	_, ok = q.oldestQueuedAt()
	assert.False(t, ok)

	var seen []string
	q.push(queued("e", "x"))
	q.push(queued("f", "y"))
	q.each(func(a *attempt) { seen = append(seen, a.id); q.remove(a) })
	assert.Equal(t, []string{"e", "f"}, seen, "each may remove what it is given")
	assert.Equal(t, 0, q.len())
}

func TestQueueSaysHowManyTasksAreAhead(t *testing.T) {
	fair := newTaskQueue(QueueFair)
	big := make([]*attempt, 5)
	for i := range big {
		big[i] = queued(fmt.Sprintf("big-%d", i), "big")
		fair.push(big[i])
	}
	small := queued("small", "small")
	fair.push(small)
	assert.Equal(t, 0, fair.ahead(big[0]))
	assert.Equal(t, 1, fair.ahead(small), "one of the map's, then its turn")
	assert.Equal(t, 4, fair.ahead(big[3]), "three before it in its turn, and the small workflow's one")
	var order []string
	for a := fair.pop(); a != nil; a = fair.pop() {
		order = append(order, a.id)
	}
	assert.Equal(t, []string{"big-0", "small", "big-1", "big-2", "big-3", "big-4"}, order, "as ahead said")

	fifo := newTaskQueue(QueueFIFO)
	for _, a := range []*attempt{queued("a", "x"), queued("b", "y"), queued("c", "x")} {
		fifo.push(a)
	}
	c := fifo.byTurn[fifo.turnKey(queued("c", "x"))].tail
	assert.Equal(t, 2, fifo.ahead(c))
}
