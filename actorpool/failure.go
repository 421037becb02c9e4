package actorpool

import (
	"fmt"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
)

// FailureKind says whose fault a failure is; it decides whose retry budget the failure spends.
type FailureKind int

const (
	// FailureUser: the task's own code or inputs failed.
	FailureUser FailureKind = iota + 1
	// FailureSystem: the platform failed (executor lost, runtime crashed, environment cannot start).
	FailureSystem
)

// Failure describes why a task did not succeed.
type Failure struct {
	Kind      FailureKind
	Retryable bool
	OOM       bool
	// Code is a short machine-readable reason, one of the codes of package contract.
	Code string
	// ExitCode is, when the failure is that the task's process ended (it exited, or a signal killed
	// it), the exit status a pod would have reported for it (128+signal for a signal); 0 otherwise.
	ExitCode int32
	// Message says what happened, for people.
	Message string
}

// The failures below are every way the pool itself ends an attempt; the others come from the
// executor, in its Result (the task failed, its runtime died, it was cancelled). All are the
// platform's fault (FailureSystem): they spend the system retry budget, never the user's.

// refusedUnrun reports whether r says the executor refused the attempt without running it: it was
// stopping when the assignment arrived. Such an attempt is queued again, not failed.
func (r Result) refusedUnrun() bool {
	return r.Failure != nil && r.Failure.Code == contract.CodeExecutorDraining
}

// lostFailure: the executor that ran the attempt went away (its stream ended and it did not come back
// within the reconnect grace, or its pod ended, or it came back without the attempt). pod is how its
// pod ended, if known: an OOM kill makes it an OOM failure.
func lostFailure(executor, why string, pod ExecutorPodState) Failure {
	msg := fmt.Sprintf("executor %s was lost while running the task: %s", executor, why)
	if pod.Problem != "" {
		msg += "; its pod: " + pod.Problem
	}
	return Failure{Kind: FailureSystem, Retryable: true, OOM: pod.OOM, Code: contract.CodeExecutorLost, Message: msg}
}

// startTimeoutFailure: no executor of the attempt's environment ran within the start timeout;
// problems is what its pods report.
func startTimeoutFailure(environment string, timeout time.Duration, problems string) Failure {
	return Failure{Kind: FailureSystem, Retryable: true, Code: contract.CodeExecutorCannotStart,
		Message: fmt.Sprintf("no executor of environment %s started within %s: %s", environment, timeout, problems)}
}

// brokenFailure: the environment's executors cannot start, for a reason that waiting or a new pod of
// the same spec cannot heal (Environment.broken); retrying the task cannot help.
func brokenFailure(reason string) Failure {
	return Failure{Kind: FailureSystem, Retryable: false, Code: contract.CodeExecutorCannotStart, Message: reason}
}
