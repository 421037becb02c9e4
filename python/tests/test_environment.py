"""ActorEnvironment and ActorTask: Union's SDK surface, validation, the task it makes, and how that task
serializes."""

import datetime
import re
from collections import OrderedDict

import pytest
from flytekit import Resources, Secret, task, workflow
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.models.documentation import Description, Documentation
from flytekit.tools.translator import get_serializable

from flyteactors import ACTOR_TASK_TYPE, ActorEnvironment, ActorTask
from flyteactors.environment import MAX_TTL_SECONDS, MIN_TTL_SECONDS

SETTINGS = SerializationSettings(
    project="p",
    domain="d",
    version="v1",
    image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="1")),
)


def serialize(entity):
    return get_serializable(OrderedDict(), SETTINGS, entity)


actor = ActorEnvironment(
    name="my-actor",
    replica_count=2,
    ttl_seconds=30,
    environment={"KEY": "value"},
    requests=Resources(cpu="1", mem="300Mi"),
    secret_requests=[Secret(group="db", key="password")],
)


@actor.task
def plus_one(x: int) -> int:
    return x + 1


@actor.task(retries=2)
def with_retries(x: int) -> int:
    return x


@actor.task(
    cache=True,
    cache_serialize=True,
    cache_version="7",
    timeout=datetime.timedelta(minutes=5),
    docs=Documentation(short_description="documented"),
)
def with_per_task_arguments(x: int) -> int:
    return x


try:  # flytekit's Cache object came with 1.15; older releases take cache=True, cache_version=...
    from flytekit import Cache

    @actor.task(cache=Cache(version="c1"))
    def with_cache_object(x: int) -> int:
        return x
except ImportError:
    with_cache_object = None


@actor.dynamic
def fan_out(n: int) -> int:
    return plus_one(x=n)


@actor.task(execution_mode=PythonFunctionTask.ExecutionBehavior.DYNAMIC, node_dependency_hints=[plus_one])
def fan_out_with_hints(n: int) -> int:
    return plus_one(x=n)


@task(
    retries=3,
    requests=Resources(cpu="2"),
    limits=Resources(mem="1Gi"),
    environment={"A": "b"},
    secret_requests=[Secret(group="g", key="k")],
    interruptible=True,
    cache=True,
    cache_version="9",
    timeout=60,
    container_image="other:2",
)
def ordinary_task(x: int) -> int:
    return x * 2


from_task = ActorTask.from_task(ordinary_task, replica_count=3)


@workflow
def uses_from_task(x: int) -> int:
    return from_task(x=x)


def test_task_is_an_actor_task_with_the_environment_filled_in():
    assert isinstance(plus_one, ActorTask)
    assert plus_one.task_type == ACTOR_TASK_TYPE == "actor"
    assert plus_one(x=1) == 2, "runs locally like any task"
    template = serialize(plus_one).template
    assert template.type == "actor"
    assert template.container.env == {"KEY": "value"}
    assert [(r.name, r.value) for r in template.container.resources.requests] == [(1, "1"), (3, "300Mi")]
    assert [s.key for s in template.security_context.secrets] == ["password"]
    assert template.metadata.retries.retries == 0
    assert serialize(with_retries).template.metadata.retries.retries == 2


def test_custom_is_the_execution_env_union_writes():
    custom = serialize(plus_one).template.custom
    assert set(custom) == {"name", "type", "version", "spec"}
    assert (custom["name"], custom["type"]) == ("my-actor", "actor")
    assert re.fullmatch("[0-9a-f]{16}", custom["version"])
    assert custom["spec"] == {
        "container_image": "img:1",
        "backlog_length": None,
        "parallelism": 1,
        "replica_count": 2,
        "ttl_seconds": 30,
    }


def test_scaling_arguments_are_the_spec_fields_flyte_2_writes():
    scaling = ActorEnvironment(
        name="e", replica_count=4, min_replica_count=1, scaledown_ttl_seconds=45, parallelism=2, backlog_length=3
    )
    spec = scaling.spec()
    assert (spec["min_replica_count"], spec["replica_count"]) == (1, 4)
    assert (spec["scaledown_ttl_seconds"], spec["parallelism"], spec["backlog_length"]) == (45, 2, 3)
    fixed = ActorEnvironment(name="e", replica_count=4)
    assert "min_replica_count" not in fixed.spec() and "scaledown_ttl_seconds" not in fixed.spec(), (
        "unset, they are not written: a fixed environment's spec, and version, are what they always were"
    )
    assert scaling.version() != fixed.version()
    assert ActorEnvironment(name="e", replica_count=4, parallelism=2).version() != fixed.version()


def test_unset_ttl_is_null_so_the_backend_default_applies():
    assert ActorEnvironment(name="e").spec()["ttl_seconds"] is None


def test_version_is_stable_and_follows_the_definition():
    same = ActorEnvironment(
        name="my-actor",
        replica_count=2,
        ttl_seconds=30,
        environment={"KEY": "value"},
        requests=Resources(cpu="1", mem="300Mi"),
        secret_requests=[Secret(group="db", key="password")],
    )
    assert same.version(SETTINGS) == actor.version(SETTINGS)
    for changed in (
        ActorEnvironment(name="my-actor", replica_count=3, ttl_seconds=30),
        ActorEnvironment(name="my-actor", replica_count=2, ttl_seconds=30, environment={"KEY": "other"}),
        ActorEnvironment(name="my-actor", replica_count=2, ttl_seconds=30, requests=Resources(cpu="2")),
        ActorEnvironment(name="my-actor", replica_count=2, ttl_seconds=30, interruptible=False),
        ActorEnvironment(name="other", replica_count=2, ttl_seconds=30),
    ):
        assert changed.version(SETTINGS) != actor.version(SETTINGS)


@pytest.mark.parametrize("name", ["a", "my-actor", "my.actor", "a1.b-2.c", "0"])
def test_names_union_describes_are_accepted(name):
    assert ActorEnvironment(name=name).name == name


NAME_RULE = "ActorEnvironment.name must consist of lower case alphanumeric characters, '-' or '.'"


@pytest.mark.parametrize("name", ["", "My-Actor", "my_actor", "-a", "a-", "a..b", ".a", "a.", "a b", "ä", "a\\xb", 3])
def test_other_names_are_refused_saying_what_a_name_may_hold(name):
    with pytest.raises(ValueError, match=re.escape(NAME_RULE)) as refused:
        ActorEnvironment(name=name)
    assert repr(name) in str(refused.value)


@pytest.mark.parametrize("ttl", [MIN_TTL_SECONDS, 30, 900, MAX_TTL_SECONDS, None])
def test_ttl_bounds_accept(ttl):
    assert ActorEnvironment(name="e", ttl_seconds=ttl).ttl_seconds == ttl


@pytest.mark.parametrize("ttl", [0, -1, MAX_TTL_SECONDS + 1, 1.5, "30", True])
def test_ttl_bounds_refuse(ttl):
    message = f"ActorEnvironment.ttl_seconds must be an integer from 1 to 86400 (seconds), got {ttl!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        ActorEnvironment(name="e", ttl_seconds=ttl)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"replica_count": 0}, "ActorEnvironment.replica_count must be an integer >= 1, got 0"),
        ({"replica_count": True}, "ActorEnvironment.replica_count must be an integer >= 1, got True"),
        ({"replica_count": "2"}, "ActorEnvironment.replica_count must be an integer >= 1, got '2'"),
        ({"environment": {"A": 1}}, "ActorEnvironment.environment must map strings to strings, got 'A': 1"),
        ({"interruptible": "yes"}, "ActorEnvironment.interruptible must be True, False or None, got 'yes'"),
        (
            {"replica_count": 2, "min_replica_count": 3},
            "ActorEnvironment.min_replica_count must be an integer from 0 to replica_count (2), got 3",
        ),
        (
            {"min_replica_count": -1},
            "ActorEnvironment.min_replica_count must be an integer from 0 to replica_count (1), got -1",
        ),
        (
            {"scaledown_ttl_seconds": 0},
            "ActorEnvironment.scaledown_ttl_seconds must be an integer from 1 to 86400 (seconds), got 0",
        ),
        ({"parallelism": 0}, "ActorEnvironment.parallelism must be an integer >= 1, got 0"),
        ({"parallelism": 1.5}, "ActorEnvironment.parallelism must be an integer >= 1, got 1.5"),
        ({"backlog_length": -1}, "ActorEnvironment.backlog_length must be an integer >= 0, got -1"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ActorEnvironment(name="e", **kwargs)


def test_a_task_cannot_override_what_belongs_to_the_environment():
    with pytest.raises(ValueError, match="container_image, requests: set these on ActorEnvironment"):

        @actor.task(requests=Resources(cpu="8"), container_image="other")
        def greedy() -> None: ...


def test_interruptible_none_means_not_set():
    assert ActorEnvironment(name="e").interruptible is None
    assert serialize(plus_one).template.metadata.to_flyte_idl().HasField("interruptible") is False
    interruptible = ActorEnvironment(name="e", interruptible=True)

    @interruptible.task
    def on_spot() -> None: ...

    assert serialize(on_spot).template.metadata.interruptible is True


def test_per_task_arguments_pass_through():
    metadata = serialize(with_per_task_arguments).template.metadata
    assert (metadata.discoverable, metadata.cache_serializable, metadata.discovery_version) == (True, True, "7")
    assert metadata.timeout.seconds == 300
    assert with_per_task_arguments.docs.short_description == "documented"
    if with_cache_object is not None:
        assert serialize(with_cache_object).template.metadata.discovery_version == "c1", "flytekit's Cache works"


def test_unknown_per_task_arguments_are_flytekits_error():
    # flytekit 1.15 and later name it (ValueError); earlier ones reject the keyword (TypeError).
    with pytest.raises((ValueError, TypeError), match="Unrecognized argument|no_such_argument"):

        @actor.task(no_such_argument=1)
        def typo() -> None: ...


def test_dynamic_actor_tasks():
    @actor._dynamic
    def union_spelling(n: int) -> int:
        return plus_one(x=n)

    for dynamic in (fan_out, fan_out_with_hints, union_spelling):
        assert isinstance(dynamic, ActorTask)
        assert dynamic.execution_mode == PythonFunctionTask.ExecutionBehavior.DYNAMIC
    assert fan_out_with_hints.node_dependency_hints == [plus_one]
    assert serialize(fan_out).template.type == "actor"
    assert fan_out(n=1) == 2, "runs locally like any dynamic task"


def test_task_resolver_passes_through():
    from flytekit.core.python_auto_container import DefaultTaskResolver

    resolver = DefaultTaskResolver()
    with_resolver = actor.task(task_resolver=resolver)(plus_one.task_function)
    assert with_resolver.task_resolver is resolver


def test_from_task_makes_an_actor_task_from_an_ordinary_one():
    assert isinstance(from_task, ActorTask)
    env = from_task.task_config
    assert (env.name, env.replica_count, env.ttl_seconds) == ("ordinary-task", 3, 60)
    assert env.container_image == "other:2"
    assert env.environment == {"A": "b"}
    assert env.requests.cpu == "2" and env.limits.mem == "1Gi"
    assert [s.key for s in env.secret_requests] == ["k"]
    assert env.interruptible is True
    template = serialize(from_task).template
    assert template.type == "actor"
    assert template.id.name == f"{ordinary_task.name}-ordinary-task", "not the original's name: both register"
    assert template.metadata.retries.retries == 3
    assert (template.metadata.discoverable, template.metadata.discovery_version) == (True, "9")
    assert template.metadata.timeout.seconds == 60
    assert template.container.image == "other:2"
    assert from_task(x=2) == 4
    assert uses_from_task(x=3) == 6


def test_from_task_names_and_validates():
    named = ActorTask.from_task(ordinary_task, replica_count=1, ttl_seconds=45, name="named")
    assert (named.task_config.name, named.task_config.ttl_seconds) == ("named", 45)
    with pytest.raises(ValueError, match=re.escape(NAME_RULE)):
        ActorTask.from_task(ordinary_task, replica_count=1, name="Bad_Name")
    with pytest.raises(ValueError, match="ActorTask.from_task takes a PythonFunctionTask"):
        ActorTask.from_task(uses_from_task, replica_count=1)
    with pytest.raises(ValueError, match="replica_count must be an integer >= 1"):
        ActorTask.from_task(ordinary_task, replica_count=0)


def test_description_docs_object():
    doc = Documentation(short_description="s", long_description=Description(value="l"))
    documented = actor.task(docs=doc)(plus_one.task_function)
    assert documented.docs is doc


def test_actor_task_outside_an_executor_says_so(capfd, monkeypatch):
    """A cluster whose FlytePropeller does not run the actor plugin runs actor tasks as ordinary pods: the
    task says so in its log, unless it runs locally, where that is meant, or in an executor's warm runtime."""
    from flytekit.core.context_manager import ExecutionState, FlyteContextManager

    from flyteactors import environment

    monkeypatch.setattr(environment, "_in_warm_runtime", False)
    assert plus_one(x=1) == 2
    assert "runs in a pod of its own" not in capfd.readouterr().err, "a local run is what is meant"

    ctx = FlyteContextManager.current_context()
    in_a_pod = ctx.with_execution_state(ctx.new_execution_state().with_params(mode=ExecutionState.Mode.TASK_EXECUTION))
    with FlyteContextManager.with_context(in_a_pod):
        assert plus_one.execute(x=1) == 2
    err = capfd.readouterr().err
    assert f"actor task {plus_one.name} runs in a pod of its own, not on an actor executor" in err

    environment.mark_warm_runtime()
    with FlyteContextManager.with_context(in_a_pod):
        plus_one.execute(x=1)
    assert "runs in a pod of its own" not in capfd.readouterr().err


def test_pyflyte_run_runs_actor_tasks_locally(tmp_path):
    """`pyflyte run` without --remote runs an actor task as a plain function, as it runs any task."""
    import os
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "hello_actors.py"
    script.write_text(
        textwrap.dedent(
            """
            from flytekit import workflow
            from flyteactors import ActorEnvironment

            actor = ActorEnvironment(name="my-actor", replica_count=1, ttl_seconds=300)

            @actor.task
            def plus_one(x: int) -> int:
                return x + 1

            @workflow
            def wf(x: int = 0) -> int:
                return plus_one(x=plus_one(x=plus_one(x=x)))
            """
        )
    )
    pyflyte = os.path.join(os.path.dirname(sys.executable), "pyflyte")
    done = subprocess.run(
        [pyflyte, "run", str(script), "wf", "--x", "41"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "44" in done.stdout
    assert "runs in a pod of its own" not in done.stderr, "a local run is what is meant"
