"""An actor task that says which flytekit it runs on, and where its flyteactors came from."""

import os
import typing

import flytekit
from flytekit import workflow

import flyteactors
from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="versions-actor", replica_count=1, ttl_seconds=60)


@actor.task
def versions() -> typing.Tuple[str, str]:
    return flytekit.__version__, os.path.dirname(os.path.abspath(flyteactors.__file__))


@workflow
def report() -> typing.Tuple[str, str]:
    return versions()
