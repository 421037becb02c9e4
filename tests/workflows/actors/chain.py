"""Three chained actor tasks on one replica: all three must run in the same warm Python process."""

import os
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="chain-actor", replica_count=1, ttl_seconds=300)


@actor.task
def plus_one(x: int) -> typing.Tuple[int, int]:
    return x + 1, os.getpid()


@workflow
def chain(x: int = 0) -> typing.Tuple[int, int, int, int]:
    a, pid_a = plus_one(x=x)
    b, pid_b = plus_one(x=a)
    c, pid_c = plus_one(x=b)
    return c, pid_a, pid_b, pid_c
