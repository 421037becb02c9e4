package actorpool

import (
	"time"
)

// ExecutorHello is what an executor says when it connects.
type ExecutorHello struct {
	// EnvironmentID is the EnvironmentKey.ID of the executor's environment.
	EnvironmentID string
	PodName       string
	Token         string
	Slots         int
	// Running are the attempts the executor is running now.
	Running []string
	// Held are results the executor reported before and holds until they are acknowledged.
	Held []Result
}

// Result is an executor's report that an attempt ended.
type Result struct {
	TaskID string
	// Failure is nil when the task's command completed.
	Failure    *Failure
	StartedAt  time.Time
	FinishedAt time.Time
}

// Assignment is an attempt sent to an executor.
type Assignment struct {
	TaskID  string
	Command []string
	Env     []EnvVar
}

// reported returns the attempts h says the executor runs or holds a result for.
func (h ExecutorHello) reported() map[string]bool {
	ids := make(map[string]bool, len(h.Running)+len(h.Held))
	for _, id := range h.Running {
		ids[id] = true
	}
	for _, r := range h.Held {
		ids[r.TaskID] = true
	}
	return ids
}
