"""An environment that scales between one and three executors (a burst of work grows it, and executors idle for two
seconds go again), and one whose executor runs two tasks at once (parallelism=2)."""

import os
import time
import typing

from flytekit import map_task, workflow

from flyteactors import ActorEnvironment

scaling_env = ActorEnvironment(
    name="scaling-actor", replica_count=3, min_replica_count=1, scaledown_ttl_seconds=2, ttl_seconds=300
)


@scaling_env.task
def hold(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@workflow
def one(seconds: float = 0.1) -> int:
    return hold(seconds=seconds)


@workflow
def burst(seconds: typing.List[float]) -> typing.List[int]:
    return map_task(hold)(seconds=seconds)


parallel_env = ActorEnvironment(name="parallel-actor", replica_count=1, parallelism=2, ttl_seconds=300)


@parallel_env.task
def hold_in_parallel(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@workflow
def two_at_once(seconds: typing.List[float]) -> typing.List[int]:
    return map_task(hold_in_parallel)(seconds=seconds)
