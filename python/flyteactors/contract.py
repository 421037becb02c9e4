"""What the actor pool and its executors agree on besides executor-proto's messages: the environment
variables that give an executor pod its identity and the failure codes either side reports.

This mirrors the Go package ``go/contract`` (the source; read it for each code's meaning), which a Go
test keeps equal to this file.
"""

# The release of Flyte Actors (the Python package's version too).
VERSION = "0.1.0"

# Environment variables the pool sets on every executor pod. Neither the runtime nor a task sees them.
ENV_POOL_ADDRESS = "FLYTE_ACTOR_POOL_ADDRESS"
ENV_ENVIRONMENT_ID = "FLYTE_ACTOR_ENVIRONMENT_ID"
ENV_POD_NAME = "FLYTE_ACTOR_POD_NAME"
ENV_TOKEN = "FLYTE_ACTOR_TOKEN"
ENV_SLOTS = "FLYTE_ACTOR_SLOTS"
ENV_WARMUP_TIMEOUT = "FLYTE_ACTOR_WARMUP_TIMEOUT"
ENV_CA = "FLYTE_ACTOR_CA"
ENV_DRAIN_TIMEOUT = "FLYTE_ACTOR_DRAIN_TIMEOUT"

# Failure codes.
CODE_EXECUTOR_LOST = "ExecutorLost"
CODE_CANCELLED = "Cancelled"
CODE_RUNTIME_EXITED = "RuntimeExited"
CODE_RUNTIME_START_FAILED = "RuntimeStartFailed"
CODE_NO_FREE_SLOT = "NoFreeSlot"
CODE_ENTRYPOINT_EXITED = "EntrypointExited"
CODE_ENTRYPOINT_FAILED = "EntrypointFailed"
CODE_EXECUTOR_DRAINING = "ExecutorDraining"
CODE_EXECUTOR_CANNOT_START = "ExecutorCannotStart"

# Exit codes of the executor, which tell the pool why its pod ended.
EXIT_CODE_REFUSED = 77
EXIT_CODE_RUNTIME_CANNOT_START = 78
EXIT_CODE_RUNTIME_UNAVAILABLE = 79

# Results an executor's Hello may carry per slot; it sends the rest after the Hello.
MAX_HELD_RESULTS_PER_SLOT = 32

# A failure message longer than this keeps its beginning and its end (see go/contract TruncateMessage).
MAX_FAILURE_MESSAGE_BYTES = 8 * 1024

# A waiting reason longer than this is cut the same way (see go/contract TruncateReason).
MAX_REASON_BYTES = 1024
