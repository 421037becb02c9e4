"""The runtime as the executor starts it: ``python -m flyteactors.runtime``, its control channel on fds 3 and 4."""

import json
import os
import subprocess
import sys
import textwrap
import typing

from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap


def test_map_items_leave_sys_path_and_records_as_they_were_in_a_runtime_started_in_root(tmp_path):
    """Started in / (an image without a WORKDIR), flytekit took the runtime's own file for the module that made
    each map task item's task: it imported it again and put / on sys.path for every item, and kept a record of
    each task. Items run later see the same sys.path and records as the first."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "probe.py").write_text(
        textwrap.dedent(
            """
            import sys

            from flytekit import task
            from flytekit.core.context_manager import FlyteEntities

            @task
            def probe(i: int) -> int:
                return len(sys.path) * 1000 + len(FlyteEntities.entities)
            """
        )
    )
    ctx = FlyteContextManager.current_context()
    items = TypeEngine.to_literal(ctx, [0, 0, 0], typing.List[int], TypeEngine.to_literal_type(typing.List[int]))
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(LiteralMap({"i": items}).to_flyte_idl().SerializeToString())

    to_runtime, from_runtime = os.pipe(), os.pipe()
    start = f"import os, sys; os.dup2({to_runtime[0]}, 3); os.dup2({from_runtime[1]}, 4); " + (
        "os.execv(sys.executable, [sys.executable, '-m', 'flyteactors.runtime'])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *sys.path])}
    runtime = subprocess.Popen(
        [sys.executable, "-c", start], cwd="/", env=env, pass_fds=(to_runtime[0], from_runtime[1])
    )
    os.close(to_runtime[0])
    os.close(from_runtime[1])
    requests = os.fdopen(to_runtime[1], "w")
    events = os.fdopen(from_runtime[0], "r")
    try:
        assert json.loads(events.readline())["event"] == "ready"
        results = []
        for n in range(4):
            out = tmp_path / "out" / str(n)
            command = ["pyflyte-map-execute", "--inputs", str(inputs), "--output-prefix", str(out),
                       "--raw-output-data-prefix", str(tmp_path / "raw"), "--checkpoint-path", str(tmp_path / "cp"),
                       "--prev-checkpoint", '""', "--resolver",
                       "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver", "--", "vars", "", "resolver",
                       "flytekit.core.python_auto_container.default_task_resolver", "task-module", "probe",
                       "task-name", "probe"]  # fmt: skip
            task_env = {"FLYTE_INTERNAL_EXECUTION_ID": "e1", "FLYTE_INTERNAL_TASK_VERSION": "v1",
                        "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "FLYTE_K8S_ARRAY_INDEX", "FLYTE_K8S_ARRAY_INDEX": str(n % 3)}  # fmt: skip
            requests.write(json.dumps({"task_id": f"t{n}", "command": command, "env": task_env}) + "\n")
            requests.flush()
            assert json.loads(events.readline())["event"] == "started"
            finished = json.loads(events.readline())
            assert finished == {"event": "finished", "task_id": f"t{n}"}, finished
            output = LiteralMap.from_flyte_idl(read_literal_map(out / "outputs.pb"))
            results.append(output.literals["o0"].scalar.primitive.integer)
        # The first item imported the module (its records appear); every later item sees what it saw.
        assert results[1:] == [results[1]] * 3, f"(sys.path length * 1000 + records) per item: {results}"
    finally:
        requests.close()
        runtime.wait(timeout=30)
        events.close()


def read_literal_map(path):
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    message.ParseFromString(path.read_bytes())
    return message
