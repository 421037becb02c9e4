"""A dynamic workflow (a pod) whose subtasks are actor tasks, and a dynamic actor task."""

import os
import typing

from flytekit import dynamic, workflow
from flytekit.core.python_function_task import PythonFunctionTask

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="dynamic-actor", replica_count=1, ttl_seconds=60)


@actor.task
def cube(x: int) -> typing.Tuple[int, int]:
    return x * x * x, os.getpid()


@dynamic
def cubes(n: int) -> typing.List[int]:
    return [cube(x=i)[0] for i in range(n)]


@workflow
def cubes_wf(n: int = 4) -> typing.List[int]:
    return cubes(n=n)


@actor.task(execution_mode=PythonFunctionTask.ExecutionBehavior.DYNAMIC)
def cubes_in_actor(n: int) -> typing.List[int]:
    return [cube(x=i)[0] for i in range(n)]


@workflow
def actor_cubes_wf(n: int = 4) -> typing.List[int]:
    return cubes_in_actor(n=n)
