// Package contract is what the actor pool and its executors agree on besides the messages of
// executor-proto: the environment variables that give an executor pod its identity, the failure codes
// either side reports (with their meaning), and the protocol's default timing. Both sides import it;
// neither imports the other. python/flyteactors/contract.py mirrors it for the Python runtime, and a
// test keeps the two equal.
package contract

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the release of Flyte Actors: of the pool, the executor, the flyteactors Python package and
// the Helm chart, which are released together (docs/release.md). A test keeps the Python package, the
// chart and this equal.
const Version = "0.1.0"

// Environment variables the pool sets on every executor pod it creates. The executor reads them at
// start; the Python runtime and the tasks it runs never see them (FLYTE_ACTOR_TOKEN is a secret).
const (
	// EnvPoolAddress is the host:port the executor dials to reach its pool.
	EnvPoolAddress = "FLYTE_ACTOR_POOL_ADDRESS"
	// EnvEnvironmentID is the ID of the executor's environment (actorpool.EnvironmentKey.ID).
	EnvEnvironmentID = "FLYTE_ACTOR_ENVIRONMENT_ID"
	// EnvPodName is the executor's pod name, from the downward API.
	EnvPodName = "FLYTE_ACTOR_POD_NAME"
	// EnvToken is the environment's token, from the environment's anchor Secret.
	EnvToken = "FLYTE_ACTOR_TOKEN"
	// EnvSlots is how many tasks the executor runs at once.
	EnvSlots = "FLYTE_ACTOR_SLOTS"
	// EnvWarmupTimeout is how long the executor's Python runtimes may take to warm up (a Go duration;
	// DefaultWarmupTimeout when unset).
	EnvWarmupTimeout = "FLYTE_ACTOR_WARMUP_TIMEOUT"
	// EnvCA is the PEM certificate of the CA the executor verifies the pool against; unset, the
	// executor speaks to the pool without TLS.
	EnvCA = "FLYTE_ACTOR_CA"
	// EnvDrainTimeout is how long a stopping executor lets its running tasks finish (a Go duration,
	// within the pod's terminationGracePeriodSeconds; DefaultDrainTimeout when unset).
	EnvDrainTimeout = "FLYTE_ACTOR_DRAIN_TIMEOUT"
)

// DefaultDrainTimeout is how long a stopping executor lets its tasks finish unless told: Kubernetes'
// default grace period of 30 s, less time to report what did not finish.
const DefaultDrainTimeout = 25 * time.Second

// DefaultWarmupTimeout is how long an executor waits for its Python runtimes to warm up unless told.
const DefaultWarmupTimeout = 5 * time.Minute

// Failure codes: executor-proto's Failure.code, the pool's Failure.Code, and the code of the
// ExecutionError Flyte records for the task. Each says who produces it and how Flyte treats it.
const (
	// CodeExecutorLost (pool): the executor running the task went away before it reported a result.
	// System, retryable: Flyte runs the task again as a new attempt.
	CodeExecutorLost = "ExecutorLost"
	// CodeCancelled (executor): the task was stopped because the pool cancelled it. The pool cancels
	// only tasks it no longer wants, so this result only frees the slot.
	CodeCancelled = "Cancelled"
	// CodeRuntimeExited (executor): the Python runtime died while it ran the task. System, retryable;
	// the executor starts a fresh runtime for the next task.
	CodeRuntimeExited = "RuntimeExited"
	// CodeRuntimeStartFailed (executor): no Python runtime could be started for the task. System,
	// retryable.
	CodeRuntimeStartFailed = "RuntimeStartFailed"
	// CodeNoFreeSlot (executor): the executor was given more tasks than it has slots, which the pool
	// never does on purpose. System, retryable.
	CodeNoFreeSlot = "NoFreeSlot"
	// CodeEntrypointExited (runtime): flytekit's entrypoint exited with a non-zero status.
	CodeEntrypointExited = "EntrypointExited"
	// CodeEntrypointFailed (runtime): an exception escaped flytekit's entrypoint, which handles the
	// task's own exceptions itself: this is the platform's failure. System, retryable.
	CodeEntrypointFailed = "EntrypointFailed"
	// CodeExecutorDraining (executor): the task reached an executor that is stopping, which did not
	// start it. System, retryable.
	CodeExecutorDraining = "ExecutorDraining"
	// CodeExecutorCannotStart (pool): no executor of the task's environment could run: its pods
	// report why (an image that cannot be pulled, a missing secret, no room on any node, a runtime
	// that cannot start). System; retryable after plugins.actor.start-timeout, permanent at once for a
	// problem that cannot heal.
	CodeExecutorCannotStart = "ExecutorCannotStart"
)

// Exit codes of the executor (the executor pod's primary container), which tell the pool why a pod
// ended before its executor could serve.
const (
	// ExitCodeRefused: the pool refused the executor for good (its token, its protocol version).
	ExitCodeRefused = 77
	// ExitCodeRuntimeCannotStart: the Python runtime could not start (no flytekit, an import that
	// fails). A new pod of the same image would fail the same way.
	ExitCodeRuntimeCannotStart = 78
	// ExitCodeRuntimeUnavailable: a Python runtime was not ready within the warm-up timeout, or could
	// not be started again after it died, so the executor stopped to have its pod replaced. A new pod
	// may fare better: this is not a problem of the image.
	ExitCodeRuntimeUnavailable = 79
)

// DefaultHeartbeatInterval is how often an idle executor speaks when its pool does not say otherwise.
const DefaultHeartbeatInterval = 5 * time.Second

// KeepaliveInterval is how often an executor pings the pool's connection when it is idle, so that a
// half-open connection is noticed and the executor reconnects; the pool accepts pings this often.
const KeepaliveInterval = 10 * time.Second

// MaxHeldResultsPerSlot bounds the results an executor's Hello may carry, per slot of the executor;
// an executor that holds more sends the rest after its Hello, as results.
const MaxHeldResultsPerSlot = 32

// MaxFailureMessageBytes bounds a failure message. Messages travel in Hellos and into the
// FlyteWorkflow's status, whose size etcd limits; a longer one keeps its beginning and its end, where
// a Python traceback says what went wrong.
const MaxFailureMessageBytes = 8 * 1024

// MaxReasonBytes bounds a waiting reason (why a queued task does not run yet), which Flyte records in
// the task's events and the workflow's status with each new reason.
const MaxReasonBytes = 1024

// truncationMarker stands where a message was cut.
const truncationMarker = "\n... (truncated) ...\n"

// TruncateMessage returns msg as valid UTF-8 of at most MaxFailureMessageBytes: a quarter from its
// beginning and the rest from its end, as Flyte's own event recorder keeps both ends of long errors.
func TruncateMessage(msg string) string { return truncate(msg, MaxFailureMessageBytes) }

// TruncateReason returns msg as valid UTF-8 of at most MaxReasonBytes, cut as TruncateMessage cuts.
func TruncateReason(msg string) string { return truncate(msg, MaxReasonBytes) }

// truncate returns msg as valid UTF-8 of at most limit bytes. It cuts between characters, never inside
// one: a protobuf string must be valid UTF-8, or the message that carries it cannot be sent at all.
func truncate(msg string, limit int) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) <= limit {
		return msg
	}
	keep := limit - len(truncationMarker)
	head := keep / 4
	for head > 0 && !utf8.RuneStart(msg[head]) {
		head--
	}
	tail := len(msg) - (keep - head)
	for tail < len(msg) && !utf8.RuneStart(msg[tail]) {
		tail++
	}
	return msg[:head] + truncationMarker + msg[tail:]
}
