"""Subworkflows two levels deep, an actor task at every level: all run in the one warm process."""

import os
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="subworkflow-actor", replica_count=1, ttl_seconds=60)


@actor.task
def double(x: int) -> typing.Tuple[int, int]:
    return 2 * x, os.getpid()


@workflow
def inner(x: int) -> typing.Tuple[int, int]:
    return double(x=x)


@workflow
def middle(x: int) -> typing.Tuple[int, int, int]:
    y, pid = double(x=x)
    z, inner_pid = inner(x=y)
    return z, pid, inner_pid


@workflow
def outer(x: int = 1) -> typing.Tuple[int, int, int, int]:
    y, pid = double(x=x)
    z, middle_pid, inner_pid = middle(x=y)
    return z, pid, middle_pid, inner_pid
