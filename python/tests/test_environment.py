"""ActorEnvironment: validation, the task it makes, and how that task serializes."""

import pytest
from flytekit import Resources, Secret
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.tools.translator import get_serializable
from collections import OrderedDict

from flyteactors import ACTOR_TASK_TYPE, ActorEnvironment, ActorTask

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


def test_task_is_an_actor_task_with_the_environment_filled_in():
    assert isinstance(plus_one, ActorTask)
    assert plus_one.task_type == ACTOR_TASK_TYPE == "actor"
    assert plus_one(x=1) == 2, "runs locally like any task"
    spec = serialize(plus_one)
    template = spec.template
    assert template.type == "actor"
    assert template.container.env == {"KEY": "value"}
    assert [(r.name, r.value) for r in template.container.resources.requests] == [(1, "1"), (3, "300Mi")]
    assert [s.key for s in template.security_context.secrets] == ["password"]
    assert template.metadata.retries.retries == 0
    assert serialize(with_retries).template.metadata.retries.retries == 2


def test_custom_is_the_execution_env_of_the_wire_format():
    custom = serialize(plus_one).template.custom
    assert custom["name"] == "my-actor"
    assert custom["type"] == "actor"
    assert len(custom["version"]) == 16
    assert custom["spec"] == {"replica_count": 2, "ttl_seconds": 30, "parallelism": 1, "container_image": "img:1"}


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
        ActorEnvironment(name="other", replica_count=2, ttl_seconds=30),
    ):
        assert changed.version(SETTINGS) != actor.version(SETTINGS)


def test_ttl_defaults_to_ninety_seconds():
    assert ActorEnvironment(name="e").spec()["ttl_seconds"] == 90


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": ""}, "ActorEnvironment.name must be a non-empty string"),
        ({"name": "e", "replica_count": 0}, "ActorEnvironment.replica_count must be an integer >= 1, got 0"),
        ({"name": "e", "replica_count": True}, "ActorEnvironment.replica_count must be an integer >= 1"),
        ({"name": "e", "ttl_seconds": -1}, "ActorEnvironment.ttl_seconds must be an integer >= 0, got -1"),
        ({"name": "e", "environment": {"A": 1}}, "ActorEnvironment.environment must map strings to strings"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ActorEnvironment(**kwargs)


def test_a_task_cannot_override_what_belongs_to_the_environment():
    with pytest.raises(ValueError, match="container_image, requests: set these on ActorEnvironment"):

        @actor.task(requests=Resources(cpu="8"), container_image="other")
        def greedy() -> None: ...
