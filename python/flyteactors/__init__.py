"""Flyte Actors for flytekit.

Decorate tasks with an :class:`ActorEnvironment` to run them in a pool of warm executor pods that stay up
between tasks, instead of one new pod per task::

    from flyteactors import ActorEnvironment

    actor = ActorEnvironment(name="my-actor", replica_count=1, ttl_seconds=30)

    @actor.task
    def plus_one(x: int) -> int:
        return x + 1

Results of functions decorated with :func:`actor_cache` stay in the executor process for the next tasks.

The task is serialized as task type ``actor`` with a ``flyteidl.core.ExecutionEnv`` in its custom field; the
Flyte Actors FlytePropeller plugin routes it to the environment's executors.
"""

try:
    import flytekit  # noqa: F401 - first, so that a Python without it says so
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        f"flyteactors needs flytekit, which this Python cannot import ({missing}): install flytekit in the image"
    ) from missing

from flyteactors.cache import actor_cache  # noqa: E402
from flyteactors.environment import ACTOR_TASK_TYPE, ActorEnvironment, ActorTask  # noqa: E402

__all__ = ["ACTOR_TASK_TYPE", "ActorEnvironment", "ActorTask", "actor_cache"]
