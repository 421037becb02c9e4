"""seed.multiple_instances with a plain @task."""

from flytekit import Resources, task, workflow


@task(requests=Resources(cpu="2", mem="500Mi"))
def plus_one(input: int) -> int:
    return input + 1


@workflow
def wf(input: int = 0) -> int:
    a = plus_one(input=input)
    b = plus_one(input=a)
    c = plus_one(input=b)
    return plus_one(input=c)
