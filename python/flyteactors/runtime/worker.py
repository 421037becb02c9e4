"""Runs flytekit task commands in this process, one at a time, leaving no trace of one task in the next."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, TextIO

from flyteactors import contract

CONTROL_IN_FD = 3
CONTROL_OUT_FD = 4


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


@dataclass
class Baseline:
    """What the process looked like when it became warm; every task starts from it."""

    environ: Dict[str, str]
    cwd: str
    path: List[str]
    modules: frozenset
    # Modules loaded from these folders (the interpreter's own and installed packages) stay loaded:
    # keeping them warm is the point of an actor.
    kept_prefixes: tuple = field(default_factory=tuple)

    @classmethod
    def capture(cls) -> "Baseline":
        prefixes = {
            os.path.realpath(p)
            for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
            if p
        }
        return cls(
            environ=dict(os.environ),
            cwd=os.getcwd(),
            path=list(sys.path),
            modules=frozenset(sys.modules),
            kept_prefixes=tuple(sorted(prefixes)),
        )

    def restore(self) -> None:
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)
        sys.path[:] = self.path
        for name in [m for m in sys.modules if m not in self.modules]:
            if self._is_user_module(sys.modules.get(name)):
                del sys.modules[name]

    def _is_user_module(self, module: Any) -> bool:
        filename = getattr(module, "__file__", None)
        if not filename:
            return False
        real = os.path.realpath(filename)
        return not any(real.startswith(prefix + os.sep) for prefix in self.kept_prefixes)


def _entrypoints() -> Dict[str, Callable[..., Any]]:
    from flytekit.bin import entrypoint

    return {
        "pyflyte-execute": entrypoint.execute_task_cmd,
        "pyflyte-map-execute": entrypoint.map_execute_task_cmd,
        "pyflyte-fast-execute": _fast_execute,
    }


def _fast_execute(args: List[str]) -> None:
    """pyflyte-fast-execute, in-process: flytekit's own runs the task in a subprocess, which would throw the
    warm interpreter away. Download the code bundle, put it first on sys.path, then run the inner command."""
    from flytekit.bin import entrypoint

    distribution, dest_dir, inner = None, None, []
    i = 0
    while i < len(args):
        if args[i] == "--additional-distribution":
            distribution, i = args[i + 1], i + 2
        elif args[i] == "--dest-dir":
            dest_dir, i = args[i + 1], i + 2
        elif args[i] == "--":
            inner, i = args[i + 1 :], len(args)
        else:
            inner, i = args[i:], len(args)
    if not inner:
        raise ValueError("pyflyte-fast-execute: no task command after the options")
    if distribution:
        dest_dir = dest_dir or os.getcwd()
        entrypoint._download_distribution(distribution, dest_dir)
    cmd: List[str] = []
    for arg in inner:
        if arg == "--resolver" and distribution:
            cmd.extend(["--dynamic-addl-distro", distribution, "--dynamic-dest-dir", dest_dir])
        cmd.append(arg)
    if dest_dir:
        sys.path.insert(0, os.path.realpath(os.path.expanduser(dest_dir)))
    _run_command(cmd)


def _run_command(command: List[str]) -> None:
    """Runs one flytekit entrypoint command line in this process."""
    if not command:
        raise ValueError("empty task command")
    name = os.path.basename(command[0])
    entry = _entrypoints().get(name)
    if entry is None:
        raise ValueError(f"command {name!r} is not a flytekit entrypoint this runtime runs in-process")
    if name == "pyflyte-fast-execute":
        entry(command[1:])
        return
    entry.main(args=command[1:], prog_name=name, standalone_mode=False)


def run_task(baseline: Baseline, command: List[str], env: Dict[str, str]) -> Optional[Failure]:
    """Runs a task command with env on top of the baseline environment, then restores the baseline.
    Returns why the command did not complete, or None if it did."""
    os.environ.update(env)
    try:
        _run_command(command)
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
        baseline.restore()


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
        import flytekit  # noqa: F401 - the expensive import every task would otherwise pay

        _entrypoints()
        import flyteactors  # noqa: F401 - loaded once, so its state (actor_cache) outlives tasks

        baseline = Baseline.capture()
        self.send({"event": "ready", "pid": os.getpid(), "warmup_seconds": round(time.monotonic() - started, 3)})
        for line in self._in:
            if not line.strip():
                continue
            request = json.loads(line)
            task_id = request["task_id"]
            self.send({"event": "started", "task_id": task_id})
            failure = run_task(baseline, list(request["command"]), dict(request.get("env") or {}))
            sys.stdout.flush()
            sys.stderr.flush()
            self.send(finished_event(task_id, failure))
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    control_in = os.fdopen(CONTROL_IN_FD, "r", encoding="utf-8")
    control_out = os.fdopen(CONTROL_OUT_FD, "w", encoding="utf-8")
    return Worker(control_in, control_out).serve()
