"""bench.actors with plain @task: one pod per task, the baseline."""

import typing

from flytekit import map_task, task, workflow


@task
def step(x: int) -> int:
    return x + 1


@workflow
def chain20(x: int = 0) -> int:
    for _ in range(20):
        x = step(x=x)
    return x


@task
def say_hello(name: str) -> str:
    return f"hello {name}"


@workflow
def hello_world(names: typing.List[str]) -> typing.List[str]:
    return map_task(say_hello)(name=names)
