"""A dynamic workflow of plain python tasks (one pod each): the harness's proof that dynamic workflows,
whose outputs propeller copies from the dynamic sub-workflow's end node, work on the test stack."""

import typing

from flytekit import dynamic, task, workflow


@task
def square(x: int) -> int:
    return x * x


@dynamic
def squares(n: int) -> typing.List[int]:
    return [square(x=i) for i in range(n)]


@workflow
def squares_wf(n: int = 3) -> typing.List[int]:
    return squares(n=n)
