"""actor_cache: an expensive result built by one task is there for the next, in this workflow and others."""

import os
import time
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment, actor_cache

actor = ActorEnvironment(name="cache-actor", replica_count=1, ttl_seconds=300)

BUILD_SECONDS = 2.0


@actor_cache
def load_model(name: str) -> dict:
    time.sleep(BUILD_SECONDS)  # stands for loading a model
    return {"name": name, "built_by": os.getpid()}


@actor.task
def predict(name: str, after: float = 0.0) -> typing.Tuple[float, int]:
    """Returns how long getting the model took, and the process that built it. (after orders calls.)"""
    start = time.monotonic()
    model = load_model(name)
    return time.monotonic() - start, model["built_by"]


@workflow
def cached_twice(name: str = "model") -> typing.Tuple[float, float, int, int]:
    first, first_builder = predict(name=name)
    second, second_builder = predict(name=name, after=first)
    return first, second, first_builder, second_builder


@workflow
def cached_elsewhere(name: str = "model") -> typing.Tuple[float, int]:
    return predict(name=name)
