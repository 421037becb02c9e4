"""An actor task that prints, so that its output can be found in the executor pod's log."""

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="shout-actor", replica_count=1, ttl_seconds=60)


@actor.task
def shout(word: str) -> str:
    for i in range(3):
        print(f"shouting {word} {i}", flush=True)
    return word.upper()


@workflow
def shouting(word: str = "hello") -> str:
    return shout(word=word)
