"""ActorEnvironment and the task type it produces."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Union

from flyteidl.core import execution_envs_pb2
from google.protobuf import json_format, struct_pb2
from flytekit import ImageSpec, PodTemplate, Resources, Secret
from flytekit.configuration import SerializationSettings
from flytekit.core.base_task import TaskResolverMixin
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.task import TaskPlugins, task
from flytekit.extras.accelerators import BaseAccelerator

ACTOR_TASK_TYPE = "actor"
"""The task type of every actor task; the backend also accepts the older ``fast-task``."""

ENVIRONMENT_TYPE = "actor"
"""ExecutionEnv.type of an actor environment."""

DEFAULT_TTL_SECONDS = 90
"""How long an environment with nothing to do stays up when ttl_seconds is not given."""

# Arguments of @task that belong to the environment: every task of an environment gets the same value,
# so a task may not set its own.
_ENVIRONMENT_ARGUMENTS = (
    "container_image",
    "environment",
    "requests",
    "limits",
    "accelerator",
    "secret_requests",
    "pod_template",
    "interruptible",
    "resources",
    "task_config",
)


@dataclass(frozen=True, eq=False)
class ActorEnvironment:
    """A pool of warm executor pods that run the tasks decorated with its :meth:`task`.

    :param name: the environment's name, unique within a project and domain.
    :param container_image: the image of the executor pods (and so of every task of the environment).
    :param replica_count: how many executor pods to run while the environment has work.
    :param ttl_seconds: how long to keep the environment after its last task finished (default 90).
    :param environment: environment variables of the executor pods.
    :param requests: resources requested per executor pod.
    :param limits: resource limits per executor pod.
    :param accelerator: the GPU accelerator the executor pods need.
    :param secret_requests: secrets mounted into the executor pods.
    :param pod_template: a pod template for the executor pods.
    :param interruptible: whether the executor pods may run on interruptible nodes.
    """

    name: str
    container_image: Optional[Union[str, ImageSpec]] = None
    replica_count: int = 1
    ttl_seconds: Optional[int] = None
    environment: Optional[Dict[str, str]] = None
    requests: Optional[Resources] = None
    limits: Optional[Resources] = None
    accelerator: Optional[BaseAccelerator] = None
    secret_requests: Optional[List[Secret]] = None
    pod_template: Optional[PodTemplate] = None
    interruptible: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("ActorEnvironment.name must be a non-empty string")
        if not isinstance(self.replica_count, int) or isinstance(self.replica_count, bool) or self.replica_count < 1:
            raise ValueError(f"ActorEnvironment.replica_count must be an integer >= 1, got {self.replica_count!r}")
        if self.ttl_seconds is not None and (
            not isinstance(self.ttl_seconds, int) or isinstance(self.ttl_seconds, bool) or self.ttl_seconds < 0
        ):
            raise ValueError(f"ActorEnvironment.ttl_seconds must be an integer >= 0, got {self.ttl_seconds!r}")
        for key, value in (self.environment or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"ActorEnvironment.environment must map strings to strings, got {key!r}: {value!r}")

    def task(self, _task_function: Optional[Callable] = None, **kwargs: Any):
        """Decorates a function as a task of this environment. Takes the per-task arguments of flytekit's
        ``@task`` (cache, retries, timeout, ...); the environment decides image, resources and the rest."""
        clashing = sorted(set(kwargs) & set(_ENVIRONMENT_ARGUMENTS))
        if clashing:
            raise ValueError(
                f"@{self.name}.task got {', '.join(clashing)}: set these on ActorEnvironment({self.name!r}), "
                "they apply to every task of the environment"
            )
        decorate = partial(
            task,
            task_config=self,
            container_image=self.container_image,
            environment=self.environment,
            requests=self.requests,
            limits=self.limits,
            accelerator=self.accelerator,
            secret_requests=self.secret_requests,
            pod_template=self.pod_template,
            interruptible=self.interruptible,
            **kwargs,
        )
        if _task_function is not None:
            return decorate(_task_function)
        return decorate

    def spec(self, settings: Optional[SerializationSettings] = None) -> Dict[str, Any]:
        """The environment's spec as the backend reads it (ExecutionEnv.spec, protobuf JSON field names)."""
        spec: Dict[str, Any] = {
            "replica_count": self.replica_count,
            "ttl_seconds": DEFAULT_TTL_SECONDS if self.ttl_seconds is None else self.ttl_seconds,
            "parallelism": 1,
        }
        image = self._image(settings)
        if image:
            spec["container_image"] = image
        return spec

    def version(self, settings: Optional[SerializationSettings] = None) -> str:
        """A stable version of the environment's definition: equal definitions give equal versions on every
        machine, and any change to what shapes the executor pods gives a new one."""
        definition = {
            "name": self.name,
            "spec": self.spec(settings),
            "environment": dict(sorted((self.environment or {}).items())),
            "requests": _resources(self.requests),
            "limits": _resources(self.limits),
            "accelerator": _proto_hex(self.accelerator.to_flyte_idl()) if self.accelerator else None,
            "secret_requests": sorted(_proto_hex(s.to_flyte_idl()) for s in self.secret_requests or []),
            "pod_template": self.pod_template.version_hash() if self.pod_template else None,
            "interruptible": self.interruptible,
        }
        canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def execution_env(self, settings: Optional[SerializationSettings] = None) -> execution_envs_pb2.ExecutionEnv:
        """The flyteidl ExecutionEnv that actor tasks carry in their custom field."""
        spec = struct_pb2.Struct()
        spec.update(self.spec(settings))
        return execution_envs_pb2.ExecutionEnv(
            name=self.name, type=ENVIRONMENT_TYPE, version=self.version(settings), spec=spec
        )

    def _image(self, settings: Optional[SerializationSettings]) -> Optional[str]:
        if settings is None:
            return self.container_image if isinstance(self.container_image, str) else None
        from flytekit.core.python_auto_container import get_registerable_container_image

        return get_registerable_container_image(self.container_image, settings.image_config)


class ActorTask(PythonFunctionTask[ActorEnvironment]):
    """A python function task that runs in an :class:`ActorEnvironment`."""

    _TASK_TYPE = ACTOR_TASK_TYPE

    def __init__(
        self,
        task_config: ActorEnvironment,
        task_function: Callable,
        task_resolver: Optional[TaskResolverMixin] = None,
        **kwargs: Any,
    ):
        super().__init__(
            task_config=task_config,
            task_function=task_function,
            task_type=self._TASK_TYPE,
            task_resolver=task_resolver,
            **kwargs,
        )

    def get_custom(self, settings: SerializationSettings) -> Dict[str, Any]:
        return json_format.MessageToDict(self.task_config.execution_env(settings), preserving_proto_field_name=True)


def _resources(resources: Optional[Resources]) -> Optional[Dict[str, Any]]:
    if resources is None:
        return None
    return {k: str(v) for k, v in sorted(vars(resources).items()) if v is not None}


def _proto_hex(message) -> str:
    return message.SerializeToString(deterministic=True).hex()


TaskPlugins.register_pythontask_plugin(ActorEnvironment, ActorTask)
