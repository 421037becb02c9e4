package actorpool

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAttemptQueueIsFIFOAndRemovesAnywhere(t *testing.T) {
	var q attemptQueue
	attempts := make([]*attempt, 5)
	for i := range attempts {
		attempts[i] = &attempt{id: fmt.Sprint(i)}
		q.push(attempts[i])
	}
	assert.Equal(t, 5, q.len())
	q.remove(attempts[0]) // head
	q.remove(attempts[2]) // middle
	q.remove(attempts[4]) // tail
	assert.False(t, attempts[2].isQueued())
	assert.Equal(t, 2, q.len())

	assert.Equal(t, "1", q.pop().id)
	q.push(attempts[2])
	assert.Equal(t, "3", q.pop().id)
	assert.Equal(t, "2", q.pop().id)
	assert.Nil(t, q.pop())
	assert.Equal(t, 0, q.len())
	for _, a := range attempts {
		assert.Nil(t, a.prev)
		assert.Nil(t, a.next)
	}
}
