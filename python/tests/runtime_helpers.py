"""Helpers of the runtime's tests: user modules, tasks run through a warm process, fast-registration bundles."""

import json
import os
import subprocess
import sys
import textwrap

from flyteactors.runtime import worker


def write_module(folder, name, source):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def run(process, module, version="v1", env=None, function="run"):
    env = {"FLYTE_INTERNAL_TASK_VERSION": version, **(env or {})}
    failure = worker.run_task(process, ["pyflyte-execute", module, function], env)
    assert failure is None, failure and failure.message


def bundle_writer(files_by_distribution):
    """A stand-in for flytekit's download: extracts the files of a distribution into the destination, all with
    the same fixed mtime, as flytekit's archives have."""

    def download(distribution, destination):
        for name, source in files_by_distribution[distribution].items():
            path = os.path.join(destination, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(source)
            os.utime(path, (1_000_000, 1_000_000))
        with open(os.path.join(destination, os.path.basename(distribution)), "w") as archive:
            archive.write("the downloaded archive")

    return download


def fast_command(distribution, module):
    return [
        "pyflyte-fast-execute",
        "--additional-distribution",
        distribution,
        "--dest-dir",
        ".",
        "--",
        "pyflyte-execute",
        module,
    ]


def read_literal_map(path):
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    message.ParseFromString(path.read_bytes())
    return message


def start_runtime(src, cwd, stdout=None):
    """Starts ``python -m flyteactors.runtime`` as the executor does, its control channel on fds 3 and 4 and user
    modules in src importable, and waits until it is ready. Returns the process, the request writer and the
    event reader."""
    to_runtime, from_runtime = os.pipe(), os.pipe()
    start = f"import os, sys; os.dup2({to_runtime[0]}, 3); os.dup2({from_runtime[1]}, 4); " + (
        "os.execv(sys.executable, [sys.executable, '-m', 'flyteactors.runtime'])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *sys.path])}
    runtime = subprocess.Popen(
        [sys.executable, "-c", start], cwd=cwd, env=env, pass_fds=(to_runtime[0], from_runtime[1]), stdout=stdout
    )
    os.close(to_runtime[0])
    os.close(from_runtime[1])
    requests = os.fdopen(to_runtime[1], "w")
    events = os.fdopen(from_runtime[0], "r")
    assert json.loads(events.readline())["event"] == "ready"
    return runtime, requests, events
