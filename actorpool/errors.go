package actorpool

import "errors"

// Errors AttachExecutor returns; the executor service maps them to gRPC codes.
var (
	// ErrUnknownEnvironment: no environment with that ID exists in this pool.
	ErrUnknownEnvironment = errors.New("unknown environment")
	// ErrEnvironmentNotReady: the environment exists but its token is not known yet; try again.
	ErrEnvironmentNotReady = errors.New("environment not ready")
	// ErrBadToken: the executor's token is not its environment's.
	ErrBadToken = errors.New("wrong environment token")
	// ErrBadHello: the hello is malformed (no pod name, no slots) or reports more than it may.
	ErrBadHello = errors.New("malformed hello")
)

// ErrExecutorPodRefused is what a Cluster's EnsureEnvironment wraps when the API server refuses the
// environment's executor pod for a reason that retrying the same pod cannot heal (it is invalid, or
// the namespace's Pod Security level forbids it): the environment's tasks fail at once, permanently,
// with the API server's message, instead of waiting out the start timeout again and again.
var ErrExecutorPodRefused = errors.New("the API server refuses the executor pod")
