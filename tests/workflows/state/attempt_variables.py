"""Per-attempt Flyte variables are fresh for every task: a task that sees its first attempt fail and
changes those variables does not hand its values to the next task."""

import json
import os
import typing

from flytekit import workflow
from flytekit.exceptions.user import FlyteRecoverableException

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="attempt-actor", replica_count=1, ttl_seconds=300)

WATCHED = ("FLYTE_INTERNAL_EXECUTION_ID", "FLYTE_ATTEMPT_NUMBER", "FLYTE_INTERNAL_TASK_NAME")


def _seen() -> str:
    return json.dumps({name: os.environ.get(name) for name in WATCHED}, sort_keys=True)


@actor.task(retries=1)
def retried_and_tampering() -> str:
    """Fails its first attempt (retryably), then overwrites its attempt variables before returning."""
    seen = _seen()
    if os.environ.get("FLYTE_ATTEMPT_NUMBER") == "0":
        raise FlyteRecoverableException("first attempt fails on purpose")
    os.environ["FLYTE_INTERNAL_EXECUTION_ID"] = "tampered"
    os.environ["FLYTE_INTERNAL_TASK_NAME"] = "tampered"
    return seen


@actor.task
def observe(after: str) -> str:
    return _seen()


@workflow
def attempt_variables() -> typing.Tuple[str, str]:
    first = retried_and_tampering()
    return first, observe(after=first)
