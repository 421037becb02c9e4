"""seed.hello_world with a plain @task."""

from flytekit import Resources, task, workflow


@task(requests=Resources(cpu="2", mem="300Mi"))
def say_hello() -> str:
    return "hello"


@workflow
def wf():
    say_hello()
