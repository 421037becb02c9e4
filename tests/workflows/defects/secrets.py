"""An actor task that looks for the executor pod's identity where a task could find it: its own
environment, and the initial environment of its parent process (the executor bridge)."""

import os

from flytekit import workflow

from flyteactors import ActorEnvironment

actor = ActorEnvironment(name="nosy-actor", replica_count=1, ttl_seconds=60)


@actor.task
def look_for_the_token() -> str:
    in_environ = sorted(k for k in os.environ if k.startswith("FLYTE_ACTOR_"))
    with open(f"/proc/{os.getppid()}/environ", "rb") as f:
        parent = sorted(kv.split(b"=", 1)[0].decode() for kv in f.read().split(b"\0") if kv.startswith(b"FLYTE_ACTOR_"))
    return f"environ={','.join(in_environ) or 'none'} parent={','.join(parent) or 'none'}"


@workflow
def wf() -> str:
    return look_for_the_token()
