"""map_task over an actor task: 50 items on three replicas; and a map that tolerates failures."""

import os
import time
import typing

from flytekit import map_task, workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="map-actor", replica_count=3, ttl_seconds=60)


@actor.task
def square(x: int) -> int:
    # Long enough for the three replicas to overlap, short enough for 50 items.
    time.sleep(0.2)
    return x * x


@workflow
def squares(xs: typing.List[int]) -> typing.List[int]:
    return map_task(square)(x=xs)


flaky_actor = ActorEnvironment(name="flaky-map-actor", replica_count=1, ttl_seconds=60)


@flaky_actor.task
def fail_on_multiples_of_four(x: int) -> int:
    if x % 4 == 0:
        raise ValueError(f"{x} is a multiple of four")
    return os.getpid()


@workflow
def tolerant(xs: typing.List[int]) -> typing.List[typing.Optional[int]]:
    return map_task(fail_on_multiples_of_four, min_success_ratio=0.7)(x=xs)


@workflow
def intolerant(xs: typing.List[int]) -> typing.List[typing.Optional[int]]:
    return map_task(fail_on_multiples_of_four, min_success_ratio=0.9)(x=xs)
