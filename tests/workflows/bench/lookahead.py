"""A first step that takes longer than an executor's start (a data download, here a pod task that sleeps), then a
chain of actor tasks in an environment nobody has used yet: what lookahead prewarm is for. Two copies, each with an
environment of its own, so that one run can be measured with prewarm off and one with it on, both cold."""

from flytekit import task, workflow

from flyteactors import ActorEnvironment


@task
def download(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return 1


env_a = ActorEnvironment(name="bench-lookahead-a", replica_count=1, ttl_seconds=900)
env_b = ActorEnvironment(name="bench-lookahead-b", replica_count=1, ttl_seconds=900)


@env_a.task
def step_a(x: int) -> int:
    return x + 1


@env_b.task
def step_b(x: int) -> int:
    return x + 1


@workflow
def behind_download_a(seconds: float = 8.0) -> int:
    x = download(seconds=seconds)
    for _ in range(3):
        x = step_a(x=x)
    return x


@workflow
def behind_download_b(seconds: float = 8.0) -> int:
    x = download(seconds=seconds)
    for _ in range(3):
        x = step_b(x=x)
    return x
