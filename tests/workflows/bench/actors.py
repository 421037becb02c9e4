"""The benchmarks' actor workflows: a chain of 20 no-op steps on one replica, a chain of five 50 ms steps, Union's
"Hello World" shape (a map of short items over four replicas), and a chain of 20 on an environment of ten replicas for
ten workflows at once."""

import time
import typing

from flytekit import map_task, workflow

from flyteactors import ActorEnvironment

chain_env = ActorEnvironment(name="bench-chain", replica_count=1, ttl_seconds=900)


@chain_env.task
def step(x: int) -> int:
    return x + 1


@workflow
def chain20(x: int = 0) -> int:
    for _ in range(20):
        x = step(x=x)
    return x


@chain_env.task
def step_50ms(x: int) -> int:
    time.sleep(0.05)
    return x + 1


@workflow
def chain5_50ms(x: int = 0) -> int:
    """Five tasks of 50 ms: longer than a round of propeller, shorter than a wake-up."""
    for _ in range(5):
        x = step_50ms(x=x)
    return x


hello_env = ActorEnvironment(name="bench-hello", replica_count=4, ttl_seconds=900)


@hello_env.task
def say_hello(name: str) -> str:
    return f"hello {name}"


@workflow
def hello_world(names: typing.List[str]) -> typing.List[str]:
    return map_task(say_hello)(name=names)


many_env = ActorEnvironment(name="bench-many", replica_count=10, ttl_seconds=900)


@many_env.task
def many_step(x: int) -> int:
    return x + 1


@workflow
def chain20_many(x: int = 0) -> int:
    """chain20 on an environment with an executor for each of ten workflows that run at once."""
    for _ in range(20):
        x = many_step(x=x)
    return x
