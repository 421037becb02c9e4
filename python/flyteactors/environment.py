"""ActorEnvironment and the task type it produces: the surface of Union's ``union.actor``."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from flyteidl.core import execution_envs_pb2
from flytekit import ImageSpec, PodTemplate, Resources, Secret, logger
from flytekit.configuration import SerializationSettings
from flytekit.core.base_task import TaskResolverMixin
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.task import TaskPlugins, task
from flytekit.extras.accelerators import BaseAccelerator
from flytekit.models.documentation import Documentation
from google.protobuf import json_format, struct_pb2

ACTOR_TASK_TYPE = "actor"
"""The task type of every actor task; the backend also accepts the older ``fast-task``."""

ENVIRONMENT_TYPE = "actor"
"""ExecutionEnv.type of an actor environment."""

MIN_TTL_SECONDS = 1
"""The shortest ``ttl_seconds`` accepted. Union accepts 30 and more; shorter suits tests and quick dev loops.
0 is refused: the environment would be deleted between two chained tasks."""

MAX_TTL_SECONDS = 24 * 60 * 60
"""The longest ``ttl_seconds`` accepted: a day. Union caps it at 900 s; a self-hosted cluster may keep an
environment that is expensive to warm (a model on a GPU) up longer."""

DEFAULT_FROM_TASK_TTL_SECONDS = 60
"""``ttl_seconds`` of :meth:`ActorTask.from_task` when not given, as in Union's SDK."""

# Union's name rule (a DNS-1123 subdomain). Union 0.1.204 writes the dot as "\\." inside a raw string, which
# refuses every name with a dot; this is the rule its error message states.
_NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

# Arguments of @task that shape the executor pod: every task of an environment gets the environment's value,
# so a task may not set its own.
_ENVIRONMENT_ARGUMENTS = (
    "container_image",
    "environment",
    "requests",
    "limits",
    "resources",
    "accelerator",
    "secret_requests",
    "pod_template",
    "pod_template_name",
    "shared_memory",
    "interruptible",
    "task_config",
)


@dataclass(frozen=True, eq=False)
class ActorEnvironment:
    """A pool of warm executor pods that run the tasks decorated with its :meth:`task`.

    What a task leaves behind in its executor process (module globals, imported modules, environment
    variables it set, :func:`flyteactors.actor_cache` results, files) is there for the next task of the
    environment that runs there, as long as the code is the same; see the project's README.

    :param name: the environment's name, unique within a project and domain: lowercase letters, digits, '-' and
        '.', starting and ending with a letter or digit.
    :param container_image: the image of the executor pods (and so of every task of the environment).
    :param replica_count: how many executor pods to run while the environment has work.
    :param ttl_seconds: how long to keep the environment after its last task finished, from
        :data:`MIN_TTL_SECONDS` to :data:`MAX_TTL_SECONDS`; not set: the backend's default (90 s).
    :param environment: environment variables of the executor pods.
    :param requests: resources requested per executor pod.
    :param limits: resource limits per executor pod.
    :param accelerator: the GPU accelerator the executor pods need.
    :param secret_requests: secrets mounted into the executor pods.
    :param pod_template: a pod template for the executor pods.
    :param interruptible: whether the executor pods may run on interruptible nodes; None: not set (the
        workflow's or platform's default applies).
    :param min_replica_count: the fewest executor pods while the environment lives; with it below
        ``replica_count`` the environment grows with its work up to ``replica_count`` and removes executors
        idle for ``scaledown_ttl_seconds`` (Flyte 2's ``replicas=(min, max)``). None: ``replica_count``, a fixed
        size, as Union's actors have.
    :param scaledown_ttl_seconds: how long an executor of an environment that scales stays idle before it is
        removed (at least 1); None: the backend's default (30 s).
    :param parallelism: how many tasks one executor pod runs at once, each in a warm Python process of its
        own (so each holds its own copy of what tasks leave behind, and its own memory).
    :param backlog_length: how many queued tasks one executor may have waiting on its account before the
        environment grows; None: 0.

    ``min_replica_count`` is an argument of its own rather than a ``(min, max)`` tuple in ``replica_count``
    (Flyte 2's ``replicas``): ``replica_count`` keeps the one meaning it has in Union's API and on the wire
    (the most executors), code written for ``union.actor`` runs unchanged, and each argument names exactly the
    spec field it becomes (``min_replica_count``, ``replica_count``), as Flyte 2's SDK writes them.
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
    interruptible: Optional[bool] = None
    min_replica_count: Optional[int] = None
    scaledown_ttl_seconds: Optional[int] = None
    parallelism: int = 1
    backlog_length: Optional[int] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                "ActorEnvironment.name must consist of lower case alphanumeric characters, '-' or '.', and start "
                f"and end with an alphanumeric character, got {self.name!r}"
            )
        if not _is_int(self.replica_count) or self.replica_count < 1:
            raise ValueError(f"ActorEnvironment.replica_count must be an integer >= 1, got {self.replica_count!r}")
        if self.ttl_seconds is not None and (
            not _is_int(self.ttl_seconds) or not MIN_TTL_SECONDS <= self.ttl_seconds <= MAX_TTL_SECONDS
        ):
            raise ValueError(
                f"ActorEnvironment.ttl_seconds must be an integer from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS} "
                f"(seconds), got {self.ttl_seconds!r}"
            )
        for key, value in (self.environment or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"ActorEnvironment.environment must map strings to strings, got {key!r}: {value!r}")
        if self.interruptible is not None and not isinstance(self.interruptible, bool):
            raise ValueError(f"ActorEnvironment.interruptible must be True, False or None, got {self.interruptible!r}")
        if self.min_replica_count is not None and (
            not _is_int(self.min_replica_count) or not 0 <= self.min_replica_count <= self.replica_count
        ):
            raise ValueError(
                f"ActorEnvironment.min_replica_count must be an integer from 0 to replica_count ({self.replica_count}), "
                f"got {self.min_replica_count!r}"
            )
        if self.scaledown_ttl_seconds is not None and (
            not _is_int(self.scaledown_ttl_seconds) or not 1 <= self.scaledown_ttl_seconds <= MAX_TTL_SECONDS
        ):
            raise ValueError(
                f"ActorEnvironment.scaledown_ttl_seconds must be an integer from 1 to {MAX_TTL_SECONDS} (seconds), "
                f"got {self.scaledown_ttl_seconds!r}"
            )
        if not _is_int(self.parallelism) or self.parallelism < 1:
            raise ValueError(f"ActorEnvironment.parallelism must be an integer >= 1, got {self.parallelism!r}")
        if self.backlog_length is not None and (not _is_int(self.backlog_length) or self.backlog_length < 0):
            raise ValueError(f"ActorEnvironment.backlog_length must be an integer >= 0, got {self.backlog_length!r}")

    def task(
        self,
        _task_function: Optional[Callable] = None,
        *,
        cache: Any = None,
        cache_serialize: Optional[bool] = None,
        cache_version: Optional[str] = None,
        retries: Optional[int] = None,
        timeout: Optional[Union[datetime.timedelta, int]] = None,
        node_dependency_hints: Optional[Iterable[Any]] = None,
        task_resolver: Optional[TaskResolverMixin] = None,
        docs: Optional[Documentation] = None,
        execution_mode: Optional[PythonFunctionTask.ExecutionBehavior] = None,
        **kwargs: Any,
    ):
        """Decorates a function as a task of this environment, as ``@task`` would, with the environment's image,
        resources, env, secrets, pod template, accelerator and interruptible.

        Takes the per-task arguments Union's ``@actor.task`` takes (cache, cache_serialize, cache_version,
        retries, timeout, node_dependency_hints, task_resolver, docs, execution_mode) and any other per-task
        argument of flytekit's ``@task``. Only the arguments given reach flytekit, so its defaults apply to the
        rest (``cache=True`` without a version, or ``cache=Cache(...)``, work as with ``@task``)."""
        clashing = sorted(set(kwargs) & set(_ENVIRONMENT_ARGUMENTS))
        if clashing:
            raise ValueError(
                f"@{self.name}.task got {', '.join(clashing)}: set these on ActorEnvironment({self.name!r}), "
                "they apply to every task of the environment"
            )
        per_task = {
            "cache": cache,
            "cache_serialize": cache_serialize,
            "cache_version": cache_version,
            "retries": retries,
            "timeout": timeout,
            "node_dependency_hints": node_dependency_hints,
            "task_resolver": task_resolver,
            "docs": docs,
            "execution_mode": execution_mode,
        }
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
            **{k: v for k, v in per_task.items() if v is not None},
            **kwargs,
        )
        if _task_function is not None:
            return decorate(_task_function)
        return decorate

    @property
    def dynamic(self):
        """Like :meth:`task`, for a dynamic task: its function runs in the environment and returns the
        workflow Flyte runs next."""
        return partial(self.task, execution_mode=PythonFunctionTask.ExecutionBehavior.DYNAMIC)

    @property
    def _dynamic(self):
        """Union's (private) name for :attr:`dynamic`."""
        return self.dynamic

    def spec(self, settings: Optional[SerializationSettings] = None) -> Dict[str, Any]:
        """The environment's spec as Union's SDK writes it (ExecutionEnv.spec; None is "not set": the backend's
        default applies), with Flyte 2's ``min_replica_count`` and ``scaledown_ttl_seconds`` when they are set
        (an environment that does not set them has the spec, and so the version, it always had)."""
        spec = {
            "container_image": self._image(settings),
            "backlog_length": self.backlog_length,
            "parallelism": self.parallelism,
            "replica_count": self.replica_count,
            "ttl_seconds": self.ttl_seconds,
        }
        if self.min_replica_count is not None:
            spec["min_replica_count"] = self.min_replica_count
        if self.scaledown_ttl_seconds is not None:
            spec["scaledown_ttl_seconds"] = self.scaledown_ttl_seconds
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


# _in_warm_runtime is True in a warm runtime of an actor executor (flyteactors.runtime sets it at start).
_in_warm_runtime = False


def mark_warm_runtime() -> None:
    """Called by the warm runtime of an actor executor when it starts: actor tasks run on an actor here."""
    global _in_warm_runtime
    _in_warm_runtime = True


OUTSIDE_EXECUTOR_WARNING = (
    "flyteactors: actor task {name} runs in a pod of its own, not on an actor executor: the FlytePropeller "
    "that runs it does not run the actor plugin (or sends task type 'actor' to another plugin), so nothing "
    "stays warm between tasks and what one task leaves behind is gone for the next. Ask your platform team "
    "to deploy Flyte Actors (see docs/quickstart.md, 'A cluster without the plugin')."
)


def _warn_if_outside_an_executor(t: "ActorTask") -> None:
    """Says, in the task's log, that an actor task runs outside an actor executor, unless it runs locally
    (pyflyte run without --remote, or a call in Python), where that is what is meant."""
    from flytekit.core.context_manager import FlyteContextManager

    state = FlyteContextManager.current_context().execution_state
    if state is None or state.is_local_execution():
        return
    message = OUTSIDE_EXECUTOR_WARNING.format(name=t.name)
    logger.warning(message)
    print(message, file=sys.stderr, flush=True)


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

    def execute(self, **kwargs: Any) -> Any:
        if not _in_warm_runtime:
            _warn_if_outside_an_executor(self)
        return super().execute(**kwargs)

    @classmethod
    def from_task(
        cls,
        task: PythonFunctionTask,
        replica_count: int,
        ttl_seconds: int = DEFAULT_FROM_TASK_TTL_SECONDS,
        name: Optional[str] = None,
    ) -> "ActorTask":
        """Turns an existing ``@task`` into an actor task of a new environment made from the task's image,
        environment, resources, secrets, accelerator, pod template and interruptible, keeping its per-task
        settings (cache, retries, timeout, docs, execution mode). The environment is named ``name``, or
        after the task's function with '_' as '-'; the actor task is named ``<task's name>-<environment name>``,
        so that both can be registered."""
        if not isinstance(task, PythonFunctionTask):
            raise ValueError(f"ActorTask.from_task takes a PythonFunctionTask (a @task), got {type(task).__name__}")
        if name is None:
            name = task.task_function.__name__.replace("_", "-")
        security = task.security_context
        environment = ActorEnvironment(
            name=name,
            container_image=task.container_image,
            replica_count=replica_count,
            ttl_seconds=ttl_seconds,
            environment=task.environment or None,
            requests=task.resources.requests,
            limits=task.resources.limits,
            accelerator=task.accelerator,
            secret_requests=list(security.secrets) if security and security.secrets else None,
            pod_template=task.pod_template,
            interruptible=task.metadata.interruptible,
        )
        metadata = task.metadata
        actor_task = environment.task(
            task.task_function,
            cache=metadata.cache,
            cache_serialize=metadata.cache_serialize,
            cache_version=metadata.cache_version,
            cache_ignore_input_vars=metadata.cache_ignore_input_vars,
            retries=metadata.retries,
            timeout=metadata.timeout,
            deprecated=metadata.deprecated,
            docs=task.docs,
            execution_mode=task.execution_mode,
            node_dependency_hints=task.node_dependency_hints,
        )
        # flytekit names a function task after its function, so the actor task would share the original's
        # name and the two would collide at registration (they do with Union's SDK). Both run the same
        # function: the resolver loads it by module and function name.
        actor_task._name = f"{task.name}-{environment.name}"
        return actor_task


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _resources(resources: Optional[Resources]) -> Optional[Dict[str, Any]]:
    if resources is None:
        return None
    return {k: str(v) for k, v in sorted(vars(resources).items()) if v is not None}


def _proto_hex(message) -> str:
    return message.SerializeToString(deterministic=True).hex()


TaskPlugins.register_pythontask_plugin(ActorEnvironment, ActorTask)
