package actorpool

import (
	"errors"
	"time"
)

// Errors AttachExecutor returns; the executor service maps them to gRPC codes.
var (
	// ErrUnknownEnvironment: no environment with that ID exists in this pool.
	ErrUnknownEnvironment = errors.New("unknown environment")
	// ErrEnvironmentNotReady: the environment exists but its token is not known yet; try again.
	ErrEnvironmentNotReady = errors.New("environment not ready")
	// ErrBadToken: the executor's token is not its environment's.
	ErrBadToken = errors.New("wrong environment token")
	// ErrBadHello: the hello is malformed (no pod name, no slots).
	ErrBadHello = errors.New("malformed hello")
)

// ExecutorHello is what an executor says when it connects.
type ExecutorHello struct {
	// EnvironmentID is the EnvironmentKey.ID of the executor's environment.
	EnvironmentID string
	PodName       string
	Token         string
	Slots         int
	// Running are the tasks the executor is running now.
	Running []string
	// Held are results the executor reported before and holds until they are acknowledged.
	Held []Result
}

// Result is an executor's report that a task ended.
type Result struct {
	TaskID string
	// Failure is nil when the task's command completed.
	Failure    *Failure
	StartedAt  time.Time
	FinishedAt time.Time
}

// Assignment is a task sent to an executor.
type Assignment struct {
	TaskID  string
	Command []string
	Env     []EnvVar
}

// ExecutorLink is how the pool talks to one connected executor. Every method must return at once
// without blocking: the pool calls them while it holds its lock. Messages must reach the executor
// in the order of the calls.
type ExecutorLink interface {
	Assign(Assignment)
	Cancel(taskID string)
	Ack(taskID string)
}

// Executor is the pool's handle on one connected executor session. The executor service passes it
// back on every call for that session.
type Executor struct {
	env      *environment
	podName  string
	slots    int
	link     ExecutorLink
	running  map[string]*task
	detached bool
}

// PodName returns the executor's pod.
func (e *Executor) PodName() string { return e.podName }

func (e *Executor) freeSlots() int { return e.slots - len(e.running) }
