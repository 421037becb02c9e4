"""A child launch plan with a default and a fixed input, whose actor task shares the parent's
environment; and a parent whose child launch plan runs a long actor task, to be aborted."""

import os
import time
import typing

from flytekit import LaunchPlan, workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="launchplan-actor", replica_count=1, ttl_seconds=60)


@actor.task
def combine(x: int, y: int, z: int) -> typing.Tuple[int, int]:
    return 100 * x + 10 * y + z, os.getpid()


@workflow
def child(x: int, y: int, z: int) -> typing.Tuple[int, int]:
    return combine(x=x, y=y, z=z)


child_lp = LaunchPlan.get_or_create(
    child, name="constructs.launchplans.child_lp", default_inputs={"y": 2}, fixed_inputs={"z": 3}
)


@workflow
def parent(x: int = 1) -> typing.Tuple[int, int, int]:
    first, pid = combine(x=x, y=0, z=0)
    second, child_pid = child_lp(x=first)
    return second, pid, child_pid


@actor.task
def sleep_long(seconds: int) -> int:
    print(f"sleeping in pid {os.getpid()}", flush=True)
    time.sleep(seconds)
    return os.getpid()


@workflow
def sleeping_child(seconds: int) -> int:
    return sleep_long(seconds=seconds)


sleeping_child_lp = LaunchPlan.get_or_create(sleeping_child, name="constructs.launchplans.sleeping_child_lp")


@workflow
def parent_of_sleeper(seconds: int = 60) -> int:
    return sleeping_child_lp(seconds=seconds)
