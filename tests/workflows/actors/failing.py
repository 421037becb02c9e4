"""An actor task whose code raises: Flyte must see a user error carrying flytekit's message."""

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="failing-actor", replica_count=1, ttl_seconds=60)


@actor.task
def divide(x: int, y: int) -> float:
    if y == 0:
        raise ValueError(f"cannot divide {x} by zero")
    return x / y


@workflow
def divide_wf(x: int, y: int) -> float:
    return divide(x=x, y=y)
