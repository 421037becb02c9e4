"""Load for the chaos and soak tests: five actor environments of four replicas each, and a workflow per
environment that maps a short task over a list of items."""

import time
import typing

from flytekit import map_task, workflow

from flyteactors import ActorEnvironment

ENVIRONMENTS = 5
REPLICAS = 4


def _work(i: int) -> int:
    # 50 to 250 ms, different for each item, the same on every run.
    time.sleep(0.05 + (i * 37 % 200) / 1000)
    return i


env_0 = ActorEnvironment(name="chaos-0", replica_count=REPLICAS, ttl_seconds=120)
env_1 = ActorEnvironment(name="chaos-1", replica_count=REPLICAS, ttl_seconds=120)
env_2 = ActorEnvironment(name="chaos-2", replica_count=REPLICAS, ttl_seconds=120)
env_3 = ActorEnvironment(name="chaos-3", replica_count=REPLICAS, ttl_seconds=120)
env_4 = ActorEnvironment(name="chaos-4", replica_count=REPLICAS, ttl_seconds=120)


@env_0.task
def work_0(i: int) -> int:
    return _work(i)


@env_1.task
def work_1(i: int) -> int:
    return _work(i)


@env_2.task
def work_2(i: int) -> int:
    return _work(i)


@env_3.task
def work_3(i: int) -> int:
    return _work(i)


@env_4.task
def work_4(i: int) -> int:
    return _work(i)


@workflow
def load_0(items: typing.List[int]) -> typing.List[int]:
    return map_task(work_0)(i=items)


@workflow
def load_1(items: typing.List[int]) -> typing.List[int]:
    return map_task(work_1)(i=items)


@workflow
def load_2(items: typing.List[int]) -> typing.List[int]:
    return map_task(work_2)(i=items)


@workflow
def load_3(items: typing.List[int]) -> typing.List[int]:
    return map_task(work_3)(i=items)


@workflow
def load_4(items: typing.List[int]) -> typing.List[int]:
    return map_task(work_4)(i=items)
