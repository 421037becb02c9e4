"""The warm Python side of an actor executor.

The executor's Go bridge starts ``python -m flyteactors.runtime`` once per slot and keeps it. The runtime
imports flytekit once, then runs one task at a time, in-process, through the same flytekit entrypoint a
task pod would run (``pyflyte-execute``, ``pyflyte-fast-execute``, ``pyflyte-map-execute``).

What a task leaves behind stays for the next task of the environment while the code is the same: module
globals and imported user modules, environment variables it set, ``actor_cache`` results, files. What Flyte
gives one attempt does not: the variables sent with the assignment (``FLYTE_INTERNAL_*``, the attempt number,
the execution's variables) are set for the attempt and put back afterwards (:class:`worker.AttemptEnvironment`),
the working directory is restored, and flytekit's per-task temporary folders are removed
(:mod:`.scratch`). A task of another code version (another fast-registration bundle, or another registered
version) first drops the old user code and what holds on to it (:mod:`.code`).

Control channel: the bridge writes one JSON object per line on file descriptor 3 and reads one per line
from file descriptor 4; the task's own stdout and stderr stay the runtime's, which are the pod's logs.

- bridge -> runtime: ``{"task_id": str, "command": [str, ...], "env": {str: str}}``
- runtime -> bridge: ``{"event": "ready", "pid": int, "warmup_seconds": float, "version": str, "package": str}`` once warm (how
  long the start took; the flyteactors release and the folder it was imported from); then per task
  ``{"event": "started", "task_id": str}`` and ``{"event": "finished", "task_id": str}``, with
  ``"failure": {"kind": "user"|"system", "code": str, "message": str, "retryable": bool}`` when the
  command did not complete (codes: :mod:`flyteactors.contract`).

A finished event without a failure means the entrypoint completed; a task's own error travels, as for a
pod, as an error document in the blob store, which FlytePropeller reads.
"""
