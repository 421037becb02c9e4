"""seed.multiple_tasks with plain @tasks."""

from flytekit import LaunchPlan, Resources, current_context, task, workflow


@task(requests=Resources(cpu="1", mem="450Mi"))
def say_hello(name: str) -> str:
    return f"hello {name}"


@task(requests=Resources(cpu="1", mem="450Mi"))
def scream_hello(name: str) -> str:
    return f"HELLO {name}"


@workflow
def my_child_wf(name: str) -> str:
    return scream_hello(name=name)


my_child_wf_lp = LaunchPlan.get_default_launch_plan(current_context(), my_child_wf)


@workflow
def my_parent_wf(name: str) -> str:
    a = say_hello(name=name)
    b = my_child_wf(name=a)
    return my_child_wf_lp(name=b)
