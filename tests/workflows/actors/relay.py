"""Four actor tasks in a row, each taking a while: time enough to lose FlytePropeller's leader between
them, or during one."""

import time

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="relay-actor", replica_count=1, ttl_seconds=120)


@actor.task
def leg(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x + 1


@workflow
def relay(seconds: float = 1.0) -> int:
    a = leg(x=0, seconds=seconds)
    b = leg(x=a, seconds=seconds)
    c = leg(x=b, seconds=seconds)
    return leg(x=c, seconds=seconds)
