"""A cached actor task."""

import os
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="cache-actor", replica_count=1, ttl_seconds=60)


@actor.task(cache=True, cache_version="1")
def cached_square(x: int) -> typing.Tuple[int, int]:
    return x * x, os.getpid()


@workflow
def cached(x: int = 3) -> typing.Tuple[int, int]:
    return cached_square(x=x)
