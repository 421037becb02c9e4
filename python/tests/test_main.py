"""The runtime as the executor starts it: ``python -m flyteactors.runtime``, its control channel on fds 3 and 4."""

import json
import subprocess
import textwrap
import typing

from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from runtime_helpers import start_runtime, write_module


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

    runtime, requests, events = start_runtime(src, cwd="/")
    try:
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


def _no_inputs(tmp_path):
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(LiteralMap({}).to_flyte_idl().SerializeToString())
    return inputs


def _execute(task_id, module, name, inputs, out):
    command = ["pyflyte-execute", "--inputs", str(inputs), "--output-prefix", str(out), "--raw-output-data-prefix",
               str(out / "raw"), "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--",
               "task-module", module, "task-name", name]  # fmt: skip
    return json.dumps({"task_id": task_id, "command": command, "env": {"FLYTE_INTERNAL_TASK_VERSION": "v1"}}) + "\n"


def test_closed_stdout_does_not_fail_succeeded_task(tmp_path):
    """A task that closes sys.stdout, or sets sys.stderr to None, succeeds as in a pod of its own; the next
    task's output reaches the pod's log."""
    src = tmp_path / "src"
    write_module(
        src,
        "closer",
        """
        import sys

        from flytekit import task

        @task
        def closes() -> int:
            print("closing my stdout")
            sys.stdout.close()
            sys.stderr = None
            return 1

        @task
        def prints() -> int:
            print("printed by the next task")
            return 2
        """,
    )
    inputs = _no_inputs(tmp_path)
    runtime, requests, events = start_runtime(src, cwd=str(tmp_path), stdout=subprocess.PIPE)
    try:
        for task_id, name in [("t1", "closes"), ("t2", "prints")]:
            requests.write(_execute(task_id, "closer", name, inputs, tmp_path / task_id))
            requests.flush()
            assert json.loads(events.readline())["event"] == "started"
            assert json.loads(events.readline()) == {"event": "finished", "task_id": task_id}
            assert (tmp_path / task_id / "outputs.pb").exists()
    finally:
        requests.close()
        output, _ = runtime.communicate(timeout=30)
        events.close()
    assert b"printed by the next task" in output


def test_os_exit_zero(tmp_path):
    """A task that ends its process with os._exit(0) ends the runtime with status 0 and no failure reported:
    the bridge reads that as the task's pod would have ended, a success, and starts a fresh runtime."""
    src = tmp_path / "src"
    write_module(
        src,
        "exiter",
        """
        import os

        from flytekit import task

        @task
        def leaves() -> int:
            os._exit(0)
        """,
    )
    runtime, requests, events = start_runtime(src, cwd=str(tmp_path))
    try:
        requests.write(_execute("t1", "exiter", "leaves", _no_inputs(tmp_path), tmp_path / "t1"))
        requests.flush()
        assert json.loads(events.readline())["event"] == "started"
        assert events.readline() == "", "no finished event: the process ended"
        assert runtime.wait(timeout=30) == 0
    finally:
        requests.close()
        events.close()


def read_literal_map(path):
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    message.ParseFromString(path.read_bytes())
    return message
