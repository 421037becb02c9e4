package actorpool

import (
	"fmt"
	"time"
)

// TaskPhase is where a task is in its life in the pool.
type TaskPhase int

const (
	// TaskQueued: waiting in its environment's queue for a free executor slot.
	TaskQueued TaskPhase = iota
	// TaskAssigned: sent to an executor, which has not said it started yet.
	TaskAssigned
	// TaskRunning: the executor started it.
	TaskRunning
	// TaskSucceeded: the task's command completed. Outputs (or the task's own error document) are in the
	// blob store, exactly as a pod would have left them.
	TaskSucceeded
	// TaskFailed: the command could not complete; TaskStatus.Failure says why.
	TaskFailed
)

// String returns the phase's name.
func (p TaskPhase) String() string {
	switch p {
	case TaskQueued:
		return "Queued"
	case TaskAssigned:
		return "Assigned"
	case TaskRunning:
		return "Running"
	case TaskSucceeded:
		return "Succeeded"
	case TaskFailed:
		return "Failed"
	}
	return fmt.Sprintf("TaskPhase(%d)", int(p))
}

// IsTerminal reports whether the task will not change phase again.
func (p TaskPhase) IsTerminal() bool { return p == TaskSucceeded || p == TaskFailed }

// TaskStatus is what the pool knows about a task. It is a value: the pool never changes a status it
// has handed out. A status carries a Failure exactly when its phase is TaskFailed.
type TaskStatus struct {
	phase   TaskPhase
	failure *Failure
	// Executor is the pod that runs or ran the task, and ExecutorContainer its container that runs the
	// executor; empty while queued.
	Executor          string
	ExecutorContainer string
	// EnvironmentID is the ID of the task's environment (EnvironmentKey.ID).
	EnvironmentID string
	// Waiting says, while the task is queued, why it is not running yet.
	Waiting string
	// Version changes whenever Waiting does, so that the phase shows the new reason.
	Version uint32
	// ExecutorsConnected is how many executors of the task's environment are connected.
	ExecutorsConnected int
	// StartedAt and FinishedAt are the executor's timings of the task; zero until known.
	StartedAt  time.Time
	FinishedAt time.Time
}

// Phase returns the task's phase.
func (s TaskStatus) Phase() TaskPhase { return s.phase }

// Failure returns why the task failed, and false unless its phase is TaskFailed.
func (s TaskStatus) Failure() (Failure, bool) {
	if s.failure == nil {
		return Failure{}, false
	}
	return *s.failure, true
}
