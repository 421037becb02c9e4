"""flyteactors.runtime.worker: what a task leaves behind stays for the next task; per-attempt variables and the
working directory do not; exits and failures are reported as a pod would report them."""

import os
import sys
import time
import types

from flyteactors.runtime import worker
from runtime_helpers import run, write_module


def test_env_vars_and_globals_a_task_leaves_stay_for_the_next_task(process, tmp_path):
    src = tmp_path / "src"
    write_module(
        src,
        "stateful_task",
        """
        import os
        COUNT = 0
        SEEN = []

        def run():
            global COUNT
            COUNT += 1
            SEEN.append(os.environ.get("RUN_KEY"))
            os.environ["RUN_KEY"] = "run_time"
        """,
    )
    run(process, "stateful_task")
    run(process, "stateful_task")
    module = sys.modules["stateful_task"]
    assert module.COUNT == 2, "the module, and its globals, stayed loaded"
    assert module.SEEN == [None, "run_time"], "the second task saw the variable the first one set"
    assert os.environ["RUN_KEY"] == "run_time"
    os.environ.pop("RUN_KEY")


def test_per_attempt_variables_are_fresh_for_every_task(process, tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_THE_POD", "pod")
    src = tmp_path / "src"
    write_module(
        src,
        "attempt_vars",
        """
        import os
        SEEN = []

        def run():
            SEEN.append({k: os.environ.get(k) for k in ("FLYTE_INTERNAL_EXECUTION_ID", "FLYTE_ATTEMPT_NUMBER",
                                                         "ONLY_FIRST", "FROM_THE_POD")})
            os.environ["FLYTE_INTERNAL_EXECUTION_ID"] = "overwritten by the task"
            os.environ["FROM_THE_POD"] = "overwritten by the task"
        """,
    )
    run(
        process,
        "attempt_vars",
        env={
            "FLYTE_INTERNAL_EXECUTION_ID": "e1",
            "FLYTE_ATTEMPT_NUMBER": "0",
            "ONLY_FIRST": "x",
            "FROM_THE_POD": "pod",
        },
    )
    assert "FLYTE_INTERNAL_EXECUTION_ID" not in os.environ, "nothing of the attempt is left between tasks"
    assert "ONLY_FIRST" not in os.environ
    assert os.environ["FROM_THE_POD"] == "pod", "a variable the attempt set goes back to the pod's value"
    run(
        process,
        "attempt_vars",
        env={"FLYTE_INTERNAL_EXECUTION_ID": "e2", "FLYTE_ATTEMPT_NUMBER": "1", "FROM_THE_POD": "pod"},
    )
    seen = sys.modules["attempt_vars"].SEEN
    assert seen[0] == {
        "FLYTE_INTERNAL_EXECUTION_ID": "e1",
        "FLYTE_ATTEMPT_NUMBER": "0",
        "ONLY_FIRST": "x",
        "FROM_THE_POD": "pod",
    }
    assert seen[1] == {
        "FLYTE_INTERNAL_EXECUTION_ID": "e2",
        "FLYTE_ATTEMPT_NUMBER": "1",
        "ONLY_FIRST": None,
        "FROM_THE_POD": "pod",
    }, "the task's overwrite of an attempt variable did not reach the next"


def test_working_directory_is_restored(process, tmp_path):
    src = tmp_path / "src"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_module(src, "moves_away", f"import os\n\ndef run():\n    os.chdir({str(elsewhere)!r})\n")
    run(process, "moves_away")
    assert os.getcwd() == process.baseline.cwd


def test_run_task_maps_exits(process, monkeypatch):
    def entry(args):
        if args[0] == "exit":
            raise SystemExit(int(args[1]))
        if args[0] == "raise":
            raise RuntimeError("entrypoint blew up")

    monkeypatch.setattr(
        worker, "_entrypoints", lambda: {"pyflyte-execute": types.SimpleNamespace(main=lambda args, **_: entry(args))}
    )
    assert worker.run_task(process, ["pyflyte-execute", "exit", "0"], {}) is None
    failed = worker.run_task(process, ["pyflyte-execute", "exit", "2"], {})
    assert (failed.code, failed.exit_code) == ("EntrypointExited", 2), "the status a pod would have exited with"
    assert worker.exit_status("a message") == 1 and worker.exit_status(None) == 0 and worker.exit_status(256 + 3) == 3
    crashed = worker.run_task(process, ["pyflyte-execute", "raise"], {})
    assert crashed.code == "EntrypointFailed" and "entrypoint blew up" in crashed.message
    unknown = worker.run_task(process, ["bash", "-c", "true"], {})
    assert unknown is not None and "not a flytekit entrypoint" in unknown.message


def test_time_budget_of_a_warm_no_op_task(process, tmp_path):
    """Not a benchmark: a guard that bookkeeping between tasks stays cheap next to a task."""
    src = tmp_path / "src"
    write_module(src, "no_op", "def run():\n    pass\n")
    run(process, "no_op")
    start = time.monotonic()
    for _ in range(20):
        run(process, "no_op")
    assert (time.monotonic() - start) / 20 < 0.05


def test_failure_messages_are_truncated_keeping_the_end():
    from flyteactors import contract

    failure = worker.Failure(kind="system", code="X", retryable=True, message="x" * 100_000 + "the real reason")
    assert len(failure.message.encode()) <= contract.MAX_FAILURE_MESSAGE_BYTES
    assert failure.message.endswith("the real reason")
    assert "(truncated)" in failure.message


def test_fast_execute_rewrites_the_inner_command_as_flytekit_does(process, monkeypatch):
    from flytekit.bin import entrypoint

    monkeypatch.setattr(entrypoint, "_download_distribution", lambda dist, dest: None)
    os.environ["FLYTE_INTERNAL_TASK_VERSION"] = "v1"
    try:
        cmd = worker._fast_execute_command(
            process,
            [
                "--additional-distribution",
                "s3://bucket/fast/abc.tar.gz",
                "--dest-dir",
                "/root",
                "--",
                "pyflyte-execute",
                "--inputs",
                "s3://in",
                "--resolver",
                "r",
                "--",
                "task-module",
                "wf",
            ],
        )
    finally:
        del os.environ["FLYTE_INTERNAL_TASK_VERSION"]
    assert cmd == [
        "pyflyte-execute",
        "--inputs",
        "s3://in",
        "--dynamic-addl-distro",
        "s3://bucket/fast/abc.tar.gz",
        "--dynamic-dest-dir",
        "/root",
        "--resolver",
        "r",
        "--",
        "task-module",
        "wf",
    ]
    assert sys.path[0] == process.code.bundle_folder
    assert process.code.bundle_folder.startswith(process.scratch.bundles_dir + os.sep), "a folder of its own"
