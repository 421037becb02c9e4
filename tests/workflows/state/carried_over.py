"""What one actor task leaves behind is there for the next task of the environment: an environment variable
it set and a module global it changed (the seed's pod-template example relies on the first)."""

import os
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="state-actor", replica_count=1, ttl_seconds=300)

COUNTER = 0


@actor.task
def leave_state_behind() -> int:
    global COUNTER
    COUNTER += 1
    os.environ["RUN_KEY_EX"] = "run_time"
    return os.getpid()


@actor.task
def read_state(after: int) -> typing.Tuple[str, int, int]:
    return os.environ.get("RUN_KEY_EX", "<not set>"), COUNTER, os.getpid()


@workflow
def carried_over() -> typing.Tuple[str, int, int, int]:
    pid = leave_state_behind()
    value, counter, reader_pid = read_state(after=pid)
    return value, counter, pid, reader_pid
