package actorpool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRunTimesTypicalIsTheMedianOfRecentRuns(t *testing.T) {
	var r runTimes
	_, known := r.typical("a")
	assert.False(t, known, "a task that has not run has no typical time")
	for _, ms := range []int{5, 7, 400, 6} {
		r.note("a", time.Duration(ms)*time.Millisecond)
	}
	typical, known := r.typical("a")
	assert.True(t, known)
	assert.Equal(t, 7*time.Millisecond, typical, "one slow run does not make the task slow")
	for range recentRuns {
		r.note("a", time.Second)
	}
	typical, _ = r.typical("a")
	assert.Equal(t, time.Second, typical, "only recent runs count")
}

func TestRunTimesAreBoundedPerEnvironment(t *testing.T) {
	var r runTimes
	for i := range maxTaskNames + 1 {
		r.note(string(rune('a'+i)), time.Millisecond)
	}
	assert.LessOrEqual(t, len(r), maxTaskNames)
}
