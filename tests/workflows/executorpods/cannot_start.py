"""Actor environments whose executor pods cannot start, one per cause, and one that works (the
executor injected into an image that does not contain it). Each workflow runs one task of its
environment; the integration tests check how, and how fast, each ends."""

import os

from flytekit import Resources, workflow
from flytekit.core.pod_template import PodTemplate
from kubernetes.client.models import V1Container, V1EnvVar, V1EnvVarSource, V1PodSpec, V1SecretKeySelector

from flyteactors import ActorEnvironment

# Names the harness knows (tests/harness/stack_images.go).
IMAGE_WITHOUT_FLYTEKIT = "localhost/python-without-flytekit:3.11"
IMAGE_WHOSE_PYTHON_CRASHES = "localhost/python-that-crashes:1"


def _environment(name: str, **kwargs) -> ActorEnvironment:
    return ActorEnvironment(name=name, replica_count=1, ttl_seconds=60, **kwargs)


invalid_image = _environment("invalid-image", container_image="Not A Valid::Image")
unpullable_image = _environment("unpullable-image", container_image="registry.invalid/flyteactors/nope:1")
missing_secret = _environment(
    "missing-secret",
    pod_template=PodTemplate(
        primary_container_name="primary",
        pod_spec=V1PodSpec(
            containers=[
                V1Container(
                    name="primary",
                    env=[
                        V1EnvVar(
                            name="DB_PASSWORD",
                            value_from=V1EnvVarSource(
                                secret_key_ref=V1SecretKeySelector(name="db-credentials", key="password")
                            ),
                        )
                    ],
                )
            ]
        ),
    ),
)
unschedulable = _environment("unschedulable", requests=Resources(cpu="500"))
without_flytekit = _environment("without-flytekit", container_image=IMAGE_WITHOUT_FLYTEKIT)
python_crashes = _environment("python-crashes", container_image=IMAGE_WHOSE_PYTHON_CRASHES)
injected = _environment("injected")


@invalid_image.task
def on_invalid_image() -> str:
    return "ran"


@unpullable_image.task
def on_unpullable_image() -> str:
    return "ran"


@missing_secret.task
def on_missing_secret() -> str:
    return os.environ["DB_PASSWORD"]


@unschedulable.task
def on_unschedulable() -> str:
    return "ran"


@without_flytekit.task
def on_image_without_flytekit() -> str:
    return "ran"


@python_crashes.task
def on_crashing_python() -> str:
    return "ran"


@injected.task
def where_the_executor_runs_from() -> str:
    return os.path.realpath(f"/proc/{os.getppid()}/exe")


@workflow
def invalid_image_wf() -> str:
    return on_invalid_image()


@workflow
def unpullable_image_wf() -> str:
    return on_unpullable_image()


@workflow
def missing_secret_wf() -> str:
    return on_missing_secret()


@workflow
def unschedulable_wf() -> str:
    return on_unschedulable()


@workflow
def without_flytekit_wf() -> str:
    return on_image_without_flytekit()


@workflow
def python_crashes_wf() -> str:
    return on_crashing_python()


@workflow
def injected_wf() -> str:
    return where_the_executor_runs_from()
