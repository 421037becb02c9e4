"""Plain flytekit python tasks (one pod each): the harness's own proof and the pod-per-task baseline."""

import os
import typing

from flytekit import task, workflow


@task
def plus_one(x: int) -> typing.Tuple[int, int]:
    return x + 1, os.getpid()


@workflow
def chain(x: int = 0) -> typing.Tuple[int, int, int, int]:
    a, pid_a = plus_one(x=x)
    b, pid_b = plus_one(x=a)
    c, pid_c = plus_one(x=b)
    return c, pid_a, pid_b, pid_c
