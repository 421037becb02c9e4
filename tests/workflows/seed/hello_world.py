"""The seed's "Hello world" example, with this project's import in place of union.actor; the workflow
returns the greeting so that the demo can check it."""

from flytekit import Resources, workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(
    name="my-actor",
    replica_count=1,
    ttl_seconds=30,
    requests=Resources(
        cpu="2",
        mem="300Mi",
    ),
)


@actor.task
def say_hello() -> str:
    return "hello"


@workflow
def wf() -> str:
    return say_hello()
