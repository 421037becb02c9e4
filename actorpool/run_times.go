package actorpool

import (
	"slices"
	"time"
)

// runTimes remembers how long an environment's tasks ran lately, by task name: the last
// recentRuns runs of at most maxTaskNames tasks. The pool's mutex guards it.
type runTimes map[string][]time.Duration

const (
	// recentRuns is how many runs of a task are remembered.
	recentRuns = 8
	// maxTaskNames bounds the tasks remembered per environment: beyond it, the memory starts over.
	maxTaskNames = 64
)

// note records that a run of task name took d.
func (r *runTimes) note(name string, d time.Duration) {
	if *r == nil || len(*r) >= maxTaskNames && (*r)[name] == nil {
		*r = runTimes{}
	}
	runs := append((*r)[name], d)
	if len(runs) > recentRuns {
		runs = runs[len(runs)-recentRuns:]
	}
	(*r)[name] = runs
}

// typical returns the median of task name's recent runs, and false if none is remembered.
func (r runTimes) typical(name string) (time.Duration, bool) {
	runs := r[name]
	if len(runs) == 0 {
		return 0, false
	}
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	return sorted[len(sorted)/2], true
}
