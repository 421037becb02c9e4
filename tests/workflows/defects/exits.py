"""A task that calls sys.exit(3), once as a plain task (its own pod) and once as an actor task: Flyte
must classify both failures the same way."""

import sys

from flytekit import task, workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="exiting-actor", replica_count=1, ttl_seconds=60)


@task
def exit_in_a_pod():
    sys.exit(3)


@actor.task
def exit_in_an_actor():
    sys.exit(3)


@workflow
def in_a_pod():
    exit_in_a_pod()


@workflow
def in_an_actor():
    exit_in_an_actor()
