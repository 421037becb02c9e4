"""A conditional choosing between two actor tasks of one environment."""

import os
import typing

from flytekit import conditional, workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="branch-actor", replica_count=1, ttl_seconds=60)


@actor.task
def describe_positive(x: int) -> typing.Tuple[str, int]:
    return f"{x} is positive", os.getpid()


@actor.task
def describe_other(x: int) -> typing.Tuple[str, int]:
    return f"{x} is not positive", os.getpid()


@workflow
def describe(x: int) -> typing.Tuple[str, int]:
    return conditional("sign").if_(x > 0).then(describe_positive(x=x)).else_().then(describe_other(x=x))
