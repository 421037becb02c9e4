"""Node overrides on actor tasks: name, timeout, retries, and resources (which change the executor pod)."""

import datetime
import os
import time
import typing

from flytekit import Resources, workflow
from flytekit.exceptions.user import FlyteRecoverableException

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="override-actor", replica_count=1, ttl_seconds=60, requests=Resources(cpu="500m"))


@actor.task
def pid() -> int:
    return os.getpid()


@workflow
def renamed_and_resized() -> typing.Tuple[int, int]:
    default = pid()
    bigger = pid().with_overrides(name="bigger", requests=Resources(cpu="1500m"))
    return default, bigger


@actor.task
def nap(seconds: int) -> int:
    time.sleep(seconds)
    return os.getpid()


@workflow
def timeout_override() -> int:
    return nap(seconds=30).with_overrides(timeout=datetime.timedelta(seconds=2))


@actor.task
def recoverable_twice() -> int:
    attempt = int(os.environ["FLYTE_ATTEMPT_NUMBER"])
    if attempt < 2:
        raise FlyteRecoverableException(f"attempt {attempt} fails, recoverably")
    return attempt


@workflow
def retries_override() -> int:
    return recoverable_twice().with_overrides(retries=2)
