"""Retries of actor tasks: a recoverable error twice then success, a non-recoverable error, and a task
whose executor dies under it."""

import os
import time
import typing

from flytekit import workflow
from flytekit.exceptions.user import FlyteRecoverableException

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="retry-actor", replica_count=1, ttl_seconds=60)


@actor.task(retries=2)
def third_time_lucky() -> typing.Tuple[int, int]:
    attempt = int(os.environ["FLYTE_ATTEMPT_NUMBER"])
    if attempt < 2:
        raise FlyteRecoverableException(f"attempt {attempt} fails, recoverably")
    return attempt, os.getpid()


@workflow
def recoverable() -> typing.Tuple[int, int]:
    return third_time_lucky()


@actor.task(retries=2)
def always_wrong(x: int) -> int:
    if x >= 0:
        raise ValueError(f"{x} is not negative: not recoverable")
    return x


@workflow
def non_recoverable(x: int = 1) -> int:
    return always_wrong(x=x)


@actor.task
def slow_first_attempt() -> int:
    attempt = int(os.environ["FLYTE_ATTEMPT_NUMBER"])
    if attempt == 0:
        print(f"attempt 0 waits to be killed in pid {os.getpid()}", flush=True)
        time.sleep(120)
    return attempt


@workflow
def survives_executor_loss() -> int:
    return slow_first_attempt()
