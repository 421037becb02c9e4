"""An actor task that sleeps, to be caught running: it returns the pid of the process that ran it."""

import os
import time

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="sleepy-actor", replica_count=1, ttl_seconds=60)


@actor.task
def sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@workflow
def sleepy(seconds: float = 3.0) -> int:
    return sleep_then_pid(seconds=seconds)
