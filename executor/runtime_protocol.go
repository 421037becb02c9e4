package executor

import (
	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// The control channel between the bridge and its Python runtime (python/flyteactors/runtime): one JSON
// object per line, requests on the runtime's fd 3, events on its fd 4.

// runtimeEvent is one line the Python runtime writes on its control channel.
type runtimeEvent struct {
	Event  string `json:"event"`
	TaskID string `json:"task_id"`
	PID    int    `json:"pid"`
	// Version and Package are, on the "ready" event, the release of the flyteactors package the runtime
	// runs and the folder it was imported from (the image's own, or the one the executor brought).
	Version string `json:"version"`
	Package string `json:"package"`
	// Failure is set on a "finished" event whose command did not complete.
	Failure *runtimeFailure `json:"failure"`
}

// runtimeFailure is a failure as the Python runtime reports it: the wire's Failure, but for OOM, which
// only the bridge can see (the runtime is killed).
type runtimeFailure struct {
	Kind      string `json:"kind"` // "user" or "system"
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	ExitCode  int32  `json:"exit_code"`
}

func (f *runtimeFailure) toWire() *executorv1.Failure {
	kind := executorv1.FailureKind_FAILURE_KIND_SYSTEM
	if f.Kind == "user" {
		kind = executorv1.FailureKind_FAILURE_KIND_USER
	}
	return &executorv1.Failure{Kind: kind, Code: f.Code, Message: contract.TruncateMessage(f.Message),
		Retryable: f.Retryable, ExitCode: f.ExitCode}
}

// runtimeRequest is one line the bridge writes to the runtime.
type runtimeRequest struct {
	TaskID  string            `json:"task_id"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"`
}

// systemFailure is a failure of the platform, with a code of package contract.
func systemFailure(code string, retryable bool, message string) *executorv1.Failure {
	return &executorv1.Failure{Kind: executorv1.FailureKind_FAILURE_KIND_SYSTEM, Code: code, Retryable: retryable,
		Message: contract.TruncateMessage(message)}
}

// cancelledFailure is the result of a task stopped because the pool cancelled it.
func cancelledFailure() *executorv1.Failure {
	return systemFailure(contract.CodeCancelled, false, "the task was cancelled")
}
