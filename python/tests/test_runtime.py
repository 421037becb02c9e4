"""The warm runtime: tasks run in-process and leave nothing behind for the next one."""

import os
import sys
import types

import pytest

from flyteactors.runtime import worker


@pytest.fixture
def baseline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snapshot = worker.Baseline.capture()
    yield snapshot
    snapshot.restore()


def test_restore_undoes_env_cwd_path_and_user_modules(baseline, tmp_path):
    user_file = tmp_path / "user_module_for_test.py"
    user_file.write_text("GLOBAL = 1\n")
    os.environ["TASK_SET_THIS"] = "1"
    sys.path.insert(0, str(tmp_path))
    import user_module_for_test  # noqa: F401

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)

    baseline.restore()
    assert "TASK_SET_THIS" not in os.environ
    assert os.getcwd() == baseline.cwd
    assert str(tmp_path) not in sys.path
    assert "user_module_for_test" not in sys.modules, "user modules are unloaded"
    assert "json" in sys.modules, "standard and installed modules stay warm"


def test_run_task_applies_env_and_maps_exits(baseline, monkeypatch):
    seen = {}

    def entry(args):
        seen["args"] = args
        seen["env"] = os.environ.get("FLYTE_INTERNAL_EXECUTION_ID")
        if args and args[0] == "exit":
            raise SystemExit(int(args[1]))
        if args and args[0] == "raise":
            raise RuntimeError("entrypoint blew up")

    monkeypatch.setattr(
        worker, "_entrypoints", lambda: {"pyflyte-execute": types.SimpleNamespace(main=lambda args, **_: entry(args))}
    )

    ok = worker.run_task(baseline, ["pyflyte-execute", "--inputs", "x"], {"FLYTE_INTERNAL_EXECUTION_ID": "e1"})
    assert ok is None and seen == {"args": ["--inputs", "x"], "env": "e1"}
    assert "FLYTE_INTERNAL_EXECUTION_ID" not in os.environ, "the task's env is gone afterwards"

    assert worker.run_task(baseline, ["pyflyte-execute", "exit", "0"], {}) is None
    failed = worker.run_task(baseline, ["pyflyte-execute", "exit", "2"], {})
    assert (failed.code, failed.exit_code) == ("EntrypointExited", 2), "the status a pod would have exited with"
    assert worker.exit_status("a message") == 1 and worker.exit_status(None) == 0 and worker.exit_status(256 + 3) == 3
    crashed = worker.run_task(baseline, ["pyflyte-execute", "raise"], {})
    assert crashed.code == "EntrypointFailed" and "entrypoint blew up" in crashed.message

    unknown = worker.run_task(baseline, ["bash", "-c", "true"], {})
    assert unknown is not None and "not a flytekit entrypoint" in unknown.message


def test_fast_execute_downloads_the_bundle_and_runs_the_inner_command_in_process(baseline, monkeypatch, tmp_path):
    from flytekit.bin import entrypoint

    downloads, ran = [], []
    monkeypatch.setattr(entrypoint, "_download_distribution", lambda dist, dest: downloads.append((dist, dest)))
    monkeypatch.setattr(worker, "_run_command", lambda cmd: ran.append((cmd, list(sys.path))))
    dest = tmp_path / "code"
    worker._fast_execute(
        [
            "--additional-distribution",
            "s3://bucket/fast/abc.tar.gz",
            "--dest-dir",
            str(dest),
            "--",
            "pyflyte-execute",
            "--inputs",
            "s3://in",
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
            "task-module",
            "wf",
        ]
    )
    assert downloads == [("s3://bucket/fast/abc.tar.gz", str(dest))]
    ((cmd, path),) = ran
    assert cmd == [
        "pyflyte-execute",
        "--inputs",
        "s3://in",
        "--dynamic-addl-distro",
        "s3://bucket/fast/abc.tar.gz",
        "--dynamic-dest-dir",
        str(dest),
        "--resolver",
        "flytekit.core.python_auto_container.default_task_resolver",
        "--",
        "task-module",
        "wf",
    ], "as flytekit's own pyflyte-fast-execute rewrites it"
    assert path[0] == os.path.realpath(dest), "the bundle's code comes first on sys.path"
    baseline.restore()
    assert os.path.realpath(dest) not in sys.path


def test_failure_messages_are_truncated_keeping_the_end():
    from flyteactors import contract

    failure = worker.Failure(kind="system", code="X", retryable=True, message="x" * 100_000 + "the real reason")
    assert len(failure.message.encode()) <= contract.MAX_FAILURE_MESSAGE_BYTES
    assert failure.message.endswith("the real reason")
    assert "(truncated)" in failure.message
