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
	// ErrBadHello: the hello is malformed (no pod name, no slots).
	ErrBadHello = errors.New("malformed hello")
)
