"""Runs flytekit task commands in this process, one at a time. What a task leaves behind stays for the next
task while the code is the same; what Flyte gives one attempt (its environment variables) does not."""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, TextIO

from flyteactors import contract
from flyteactors.runtime.code import Baseline, CodeVersion, LoadedCode, TaskEntities
from flyteactors.runtime.scratch import Scratch

CONTROL_IN_FD = 3
CONTROL_OUT_FD = 4

ENV_TASK_VERSION = "FLYTE_INTERNAL_TASK_VERSION"
"""The variable in which Flyte gives a task attempt its task's registered version."""


@dataclass
class Failure:
    """Why a task's command did not complete: executor-proto's Failure, but for ``oom``, which only the
    bridge can see. ``kind`` is ``"user"`` or ``"system"``; ``code`` is one of :mod:`flyteactors.contract`;
    ``exit_code`` is the status the task's process would have exited with in a pod of its own, when the
    failure is that it exited (Flyte classifies it as it classifies a pod's)."""

    kind: str
    code: str
    message: str
    retryable: bool
    exit_code: int = 0

    def __post_init__(self):
        self.message = truncate_message(self.message)


def truncate_message(message: str) -> str:
    """Cuts a message to contract.MAX_FAILURE_MESSAGE_BYTES, keeping a quarter from its beginning and the
    rest from its end, as go/contract's TruncateMessage does."""
    raw = message.encode("utf-8", errors="replace")
    if len(raw) <= contract.MAX_FAILURE_MESSAGE_BYTES:
        return message
    marker = b"\n... (truncated) ...\n"
    keep = contract.MAX_FAILURE_MESSAGE_BYTES - len(marker)
    head = keep // 4
    return (raw[:head] + marker + raw[len(raw) - (keep - head) :]).decode("utf-8", errors="ignore")


def exit_status(code: Any) -> int:
    """The status a process exits with for ``sys.exit(code)``, as CPython computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def finished_event(task_id: str, failure: Optional[Failure]) -> Dict[str, Any]:
    """The control channel's ``finished`` event; without ``failure`` the command completed."""
    event: Dict[str, Any] = {"event": "finished", "task_id": task_id}
    if failure is not None:
        event["failure"] = asdict(failure)
    return event


class AttemptEnvironment:
    """The environment variables of one task attempt, set for the attempt only.

    The bridge sends every variable Flyte gives the attempt (``FLYTE_INTERNAL_*``, the attempt number, the
    execution's own variables, the environment's variables). Each is set when the attempt starts and, when it
    ends, put back to what it was before (or removed), whatever the task did to it meanwhile: those variables
    are Flyte's, and the next attempt gets its own. Every other variable a task sets, changes or removes stays.
    """

    def __init__(self) -> None:
        self._before: Dict[str, Optional[str]] = {}

    def apply(self, env: Dict[str, str]) -> None:
        """Sets the attempt's variables, remembering what they were."""
        self._before = {name: os.environ.get(name) for name in env}
        os.environ.update(env)

    def undo(self) -> None:
        """Puts the attempt's variables back to what they were before :meth:`apply`."""
        for name, value in self._before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._before = {}


class WarmProcess:
    """What one runtime process keeps between tasks and the rules for it: user code and its state stay while
    the code version is the same; each attempt gets its own Flyte variables; the working directory is put
    back; flytekit's per-task temporary files, and its records of what the task made at run time, go."""

    def __init__(self, baseline: Baseline, scratch: Scratch):
        self.baseline = baseline
        self.scratch = scratch
        self.code = LoadedCode(baseline, scratch.bundles_dir)
        self._attempt_env = AttemptEnvironment()
        self._entities = TaskEntities()

    def begin_task(self, env: Dict[str, str]) -> None:
        """Prepares the process for one attempt with the attempt's environment variables."""
        self.scratch.mark()
        self._attempt_env.apply(env)

    def code_chosen(self) -> None:
        """Called once the attempt's code version is loaded, before the task runs. flytekit's records are
        noted only now: noted earlier, they would hold a version the switch just dropped, and all its module
        holds, until the task ends."""
        self._entities.mark()

    def end_task(self) -> None:
        """Undoes what belongs to the attempt alone: its variables, the working directory, flytekit's files and
        records."""
        self._attempt_env.undo()
        os.chdir(self.baseline.cwd)
        self.scratch.sweep()
        self._entities.sweep()


def _entrypoints() -> Dict[str, Callable[..., Any]]:
    from flytekit.bin import entrypoint

    return {
        "pyflyte-execute": entrypoint.execute_task_cmd,
        "pyflyte-map-execute": entrypoint.map_execute_task_cmd,
    }


def _parse_fast_execute(args: List[str]):
    """Splits pyflyte-fast-execute's arguments into (additional distribution, dest dir, inner command), parsed by
    flytekit's own command, so that its options are read exactly as pyflyte-fast-execute reads them."""
    from flytekit.bin import entrypoint

    ctx = entrypoint.fast_execute_task_cmd.make_context("pyflyte-fast-execute", list(args))
    inner = list(ctx.params.get("task_execute_cmd") or [])
    if not inner:
        raise ValueError("pyflyte-fast-execute: no task command after the options")
    return ctx.params.get("additional_distribution"), ctx.params.get("dest_dir"), inner


def _fast_execute_command(process: WarmProcess, args: List[str]) -> List[str]:
    """pyflyte-fast-execute, in-process: flytekit's own runs the task in a subprocess, which would throw the
    warm interpreter away. Loads the code bundle (each in a folder of its own, first on sys.path) and returns
    the inner command, rewritten as flytekit rewrites it so that a dynamic task's sub-tasks get the bundle."""
    distribution, dest_dir, inner = _parse_fast_execute(args)
    if not distribution:
        process.code.use(CodeVersion(None, os.environ.get(ENV_TASK_VERSION)))
        if dest_dir:
            process.code.add_path(os.path.realpath(os.path.expanduser(dest_dir)))
        return inner
    process.code.use_bundle(CodeVersion(distribution, os.environ.get(ENV_TASK_VERSION)))
    command: List[str] = []
    for arg in inner:
        if arg == "--resolver":
            command.extend(["--dynamic-addl-distro", distribution, "--dynamic-dest-dir", dest_dir or os.getcwd()])
        command.append(arg)
    return command


def _run_command(process: WarmProcess, command: List[str]) -> None:
    """Runs one flytekit entrypoint command line in this process, with the code version it needs loaded."""
    if not command:
        raise ValueError("empty task command")
    if os.path.basename(command[0]) == "pyflyte-fast-execute":
        command = _fast_execute_command(process, command[1:])
    else:
        process.code.use(CodeVersion(None, os.environ.get(ENV_TASK_VERSION)))
    process.code_chosen()
    name = os.path.basename(command[0])
    entry = _entrypoints().get(name)
    if entry is None:
        raise ValueError(f"command {name!r} is not a flytekit entrypoint this runtime runs in-process")
    entry.main(args=command[1:], prog_name=name, standalone_mode=False)


def run_task(process: WarmProcess, command: List[str], env: Dict[str, str]) -> Optional[Failure]:
    """Runs a task command with the attempt's env, then undoes what belongs to the attempt alone.
    Returns why the command did not complete, or None if it did."""
    process.begin_task(env)
    try:
        _run_command(process, command)
        return None
    except SystemExit as e:
        status = exit_status(e.code)
        if status == 0:
            return None
        # In a pod of its own the task's process would have exited with this status: the bridge passes
        # it on, and the plugin classifies it exactly as Flyte classifies such a pod.
        return Failure(
            kind="user",
            code=contract.CODE_ENTRYPOINT_EXITED,
            retryable=True,
            message=f"{command[0]} exited with {e.code!r}",
            exit_code=status,
        )
    except Exception as e:  # noqa: BLE001 - whatever escapes flytekit's own handling is the platform's
        return Failure(
            kind="system",
            code=contract.CODE_ENTRYPOINT_FAILED,
            retryable=True,
            message="".join(traceback.format_exception(e)),
        )
    finally:
        process.end_task()


def _restore_standard_streams() -> None:
    """Flushes the task's output into the pod's log. A task that closed ``sys.stdout`` or ``sys.stderr``, or set
    one to None, did no harm in a pod of its own, whose process ended with it: here the runtime's own stream is
    put back, so that neither this task's end nor the next task's output fails."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or getattr(stream, "closed", False):
            original = getattr(sys, f"__{name}__")
            if original is None or original.closed:
                # The interpreter's own stream was closed too: a new one on the same descriptor.
                original = io.TextIOWrapper(
                    io.FileIO(1 if name == "stdout" else 2, "w", closefd=False), line_buffering=True
                )
            setattr(sys, name, original)
            stream = original
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a stream the task replaced and broke: its output is lost, the task's result is not


class Worker:
    """Reads task requests from the control channel and runs them one by one."""

    def __init__(self, control_in: TextIO, control_out: TextIO):
        self._in = control_in
        self._out = control_out

    def send(self, event: Dict[str, Any]) -> None:
        self._out.write(json.dumps(event) + "\n")
        self._out.flush()

    def serve(self) -> int:
        started = time.monotonic()
        # First, so that the folders flytekit makes for each task go into this runtime's own scratch folder.
        scratch = Scratch.create()
        import flytekit  # noqa: F401 - the expensive import every task would otherwise pay

        _entrypoints()
        import flyteactors  # noqa: F401 - loaded once, so its state (actor_cache) outlives tasks
        from flyteactors import environment

        environment.mark_warm_runtime()

        scratch.adopt_flytekit_folders()
        process = WarmProcess(Baseline.capture(), scratch)
        self.send(
            {
                "event": "ready",
                "pid": os.getpid(),
                "warmup_seconds": round(time.monotonic() - started, 3),
                "version": contract.VERSION,
                "package": os.path.dirname(os.path.abspath(flyteactors.__file__)),
            }
        )
        try:
            for line in self._in:
                if not line.strip():
                    continue
                request = json.loads(line)
                task_id = request["task_id"]
                self.send({"event": "started", "task_id": task_id})
                failure = run_task(process, list(request["command"]), dict(request.get("env") or {}))
                _restore_standard_streams()
                self.send(finished_event(task_id, failure))
        finally:
            scratch.remove()
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    control_in = os.fdopen(CONTROL_IN_FD, "r", encoding="utf-8")
    control_out = os.fdopen(CONTROL_OUT_FD, "w", encoding="utf-8")
    return Worker(control_in, control_out).serve()
