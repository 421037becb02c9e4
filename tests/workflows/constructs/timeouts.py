"""A task that outlives its timeout, long and short tasks for aborts, in one environment of one slot."""

import datetime
import os
import time

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="timeout-actor", replica_count=1, ttl_seconds=120)


@actor.task(timeout=datetime.timedelta(seconds=2))
def sleep_past_timeout() -> int:
    print(f"sleeping past the timeout in pid {os.getpid()}", flush=True)
    time.sleep(30)
    return os.getpid()


@workflow
def times_out() -> int:
    return sleep_past_timeout()


@actor.task
def sleep_for(seconds: int) -> int:
    print(f"sleeping {seconds}s in pid {os.getpid()}", flush=True)
    time.sleep(seconds)
    return os.getpid()


@workflow
def sleeper(seconds: int) -> int:
    return sleep_for(seconds=seconds)
