"""The warm runtime: what a task leaves behind stays for the next task of the same code; per-attempt variables,
the working directory, flytekit's temporary files and other code versions do not."""

import gc
import importlib
import os
import sys
import tempfile
import textwrap
import time
import types
import typing
import weakref

import pytest

from flyteactors import actor_cache, cache
from flyteactors.runtime import code, scratch, worker


@pytest.fixture
def process(tmp_path, monkeypatch):
    """A warm process as the runtime makes it, with its scratch folder under tmp_path and tasks run by a fake
    entrypoint: ``pyflyte-execute <module> [<function>]`` imports module and calls function (default run).
    User modules written to tmp_path/src are importable."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", ""))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setattr(sys, "path", list(sys.path))
    # The "image": code there is on sys.path from the start, as PYTHONPATH would put it.
    (tmp_path / "src").mkdir()
    sys.path.insert(0, str(tmp_path / "src"))
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    warm = worker.WarmProcess(code.Baseline.capture(), scratch.Scratch.create(str(scratch_root)))

    def entry(args):
        module = importlib.import_module(args[0])
        getattr(module, args[1] if len(args) > 1 else "run")()

    monkeypatch.setattr(
        worker, "_entrypoints", lambda: {"pyflyte-execute": types.SimpleNamespace(main=lambda args, **_: entry(args))}
    )
    yield warm
    warm.code.unload()
    warm.scratch.remove()


def write_module(folder, name, source):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def run(process, module, version="v1", env=None, function="run"):
    env = {"FLYTE_INTERNAL_TASK_VERSION": version, **(env or {})}
    failure = worker.run_task(process, ["pyflyte-execute", module, function], env)
    assert failure is None, failure and failure.message


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


def test_another_task_version_gets_fresh_modules_and_cache(process, tmp_path):
    src = tmp_path / "src"
    path = write_module(
        src, "versioned_task", "VALUE = 'one'\nCOUNT = 0\n\ndef run():\n    global COUNT\n    COUNT += 1\n"
    )
    calls = []

    @actor_cache
    def expensive(x):
        calls.append(x)
        return x

    run(process, "versioned_task", version="v1")
    expensive(1)
    run(process, "versioned_task", version="v1")
    assert sys.modules["versioned_task"].COUNT == 2
    path.write_text("VALUE = 'two'\nCOUNT = 0\n\ndef run():\n    global COUNT\n    COUNT += 1\n")
    run(process, "versioned_task", version="v2")
    module = sys.modules["versioned_task"]
    assert (module.VALUE, module.COUNT) == ("two", 1), "version v2 ran its own code from a fresh module"
    assert cache.size() == 0, "the actor_cache was emptied for the new code"
    expensive(1)
    assert calls == [1, 1]


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


def test_each_bundle_runs_its_own_code_in_its_own_folder(process, monkeypatch):
    from flytekit.bin import entrypoint

    # Same size, same mtime: in one shared folder CPython's .pyc check would run v1's bytecode for v2.
    v1 = {"pkg/__init__.py": "", "pkg/task.py": "VALUE = 'v1'\n\ndef run():\n    pass\n", "pkg/only_v1.py": ""}
    v2 = {"pkg/__init__.py": "", "pkg/task.py": "VALUE = 'v2'\n\ndef run():\n    pass\n"}
    downloads = []
    write = bundle_writer({"s3://b/fast/one.tar.gz": v1, "s3://b/fast/two.tar.gz": v2})
    monkeypatch.setattr(entrypoint, "_download_distribution", lambda d, dest: (downloads.append(d), write(d, dest)))

    def run_bundle(distribution, version):
        env = {"FLYTE_INTERNAL_TASK_VERSION": version}
        assert worker.run_task(process, fast_command(distribution, "pkg.task"), env) is None
        return sys.modules["pkg.task"]

    first = run_bundle("s3://b/fast/one.tar.gz", "v1")
    assert first.VALUE == "v1"
    importlib.import_module("pkg.only_v1")
    folder_one = process.code.bundle_folder
    assert not os.path.exists(os.path.join(folder_one, "one.tar.gz")), "the archive is deleted once extracted"
    assert run_bundle("s3://b/fast/one.tar.gz", "v1") is first, "the same bundle keeps its modules"
    assert downloads == ["s3://b/fast/one.tar.gz"], "and is downloaded once"

    second = run_bundle("s3://b/fast/two.tar.gz", "v2")
    assert second.VALUE == "v2"
    assert process.code.bundle_folder != folder_one and not os.path.exists(folder_one), "the old bundle is gone"
    assert folder_one not in sys.path
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pkg.only_v1")
    assert run_bundle("s3://b/fast/one.tar.gz", "v1").VALUE == "v1", "and back"


def test_a_bundle_uploaded_again_under_a_new_version_is_new_code(process, monkeypatch):
    from flytekit.bin import entrypoint

    contents = {"s3://b/code.tar.gz": {"same_place.py": "VALUE = 1\n\ndef run():\n    pass\n"}}
    write = bundle_writer(contents)
    monkeypatch.setattr(entrypoint, "_download_distribution", write)
    assert (
        worker.run_task(process, fast_command("s3://b/code.tar.gz", "same_place"), {"FLYTE_INTERNAL_TASK_VERSION": "a"})
        is None
    )
    assert sys.modules["same_place"].VALUE == 1
    contents["s3://b/code.tar.gz"] = {"same_place.py": "VALUE = 2\n\ndef run():\n    pass\n"}
    assert (
        worker.run_task(process, fast_command("s3://b/code.tar.gz", "same_place"), {"FLYTE_INTERNAL_TASK_VERSION": "b"})
        is None
    )
    assert sys.modules["same_place"].VALUE == 2


def test_switching_code_frees_the_old_modules_objects(process, tmp_path):
    """flytekit records every task, workflow and launch plan it makes, and every type transformer; the runtime
    removes the dropped modules' entries, so that each code switch does not keep the old module, and what its
    globals hold, alive."""
    from flytekit.core.context_manager import FlyteEntities

    src = tmp_path / "src"
    write_module(
        src,
        "holds_a_model",
        """
        from flytekit import task, workflow, LaunchPlan
        from flytekit.core.type_engine import SimpleTransformer, TypeEngine
        from flytekit.models.types import LiteralType, SimpleType

        class Big:  # stands for what a module holds that must be freed with it (a model)
            pass

        MODEL = Big()

        class Point:  # a user type with a transformer of its own
            pass

        TypeEngine.register(
            SimpleTransformer("point", Point, LiteralType(simple=SimpleType.STRING), lambda p: None, lambda lit: Point())
        )

        @task
        def predict(x: int) -> int:
            return x

        @workflow
        def wf(x: int) -> int:
            return predict(x=x)

        LP = LaunchPlan.get_or_create(wf, name="holds_a_model.lp")

        def run():
            pass
        """,
    )
    run(process, "holds_a_model", version="v0")
    entities = len(FlyteEntities.entities)
    models = []
    for i in range(1, 6):
        models.append(weakref.ref(sys.modules["holds_a_model"].MODEL))
        run(process, "holds_a_model", version=f"v{i}")
        assert len(FlyteEntities.entities) == entities, "flytekit's records do not grow with each version"
    gc.collect()
    assert [m() for m in models] == [None] * 5, "every old version's model was freed"


def test_flytekit_temporary_folders_are_swept_after_each_task(process, tmp_path):
    sandbox = tmp_path / "sandbox"
    (sandbox / "before").mkdir(parents=True)
    process.scratch.sandbox = str(sandbox)  # flytekit's own, in the real runtime
    src = tmp_path / "src"
    write_module(
        src,
        "makes_files",
        f"""
        import os, tempfile, uuid
        KEPT = []

        def run():
            tempfile.mkdtemp(prefix="flyte")  # as flytekit does for every task
            os.makedirs(os.path.join({str(sandbox)!r}, uuid.uuid4().hex))  # flytekit's work folder
            KEPT.append(tempfile.mkdtemp(prefix="mine"))  # the task's own
        """,
    )
    run(process, "makes_files")
    run(process, "makes_files")
    left = os.listdir(process.scratch.root)
    assert [n for n in left if n.startswith("flyte")] == [], left
    assert all(os.path.isdir(k) for k in sys.modules["makes_files"].KEPT), "the task's own temporary folders stay"
    assert os.listdir(sandbox) == ["before"], "the sandbox entries of tasks are removed"


def test_scratch_folders_of_dead_runtimes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", ""))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    flytekit_folder = tmp_path / "flyte-abc"
    flytekit_folder.mkdir()
    dead = tmp_path / "flyteactors-runtime-999999999"
    dead.mkdir()
    (dead / "flytekit-folder").write_text(str(flytekit_folder))
    alive = tmp_path / f"flyteactors-runtime-{os.getppid()}"
    alive.mkdir()
    another_programs = tmp_path / "flyteactors-demo-123.log"
    another_programs.write_text("not a runtime's")
    s = scratch.Scratch.create(str(tmp_path))
    assert not dead.exists() and not flytekit_folder.exists()
    assert alive.exists(), "a running runtime's folder stays"
    assert another_programs.exists()
    assert tempfile.gettempdir() == s.root == os.environ["TMPDIR"]
    s.remove()
    assert not os.path.exists(s.root)


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


def test_actor_cache_hits_within_a_code_version(process, tmp_path):
    src = tmp_path / "src"
    write_module(
        src,
        "uses_cache",
        """
        import time
        from flyteactors import actor_cache
        TIMES = []

        @actor_cache
        def load(name):
            time.sleep(0.2)
            return object()

        def run():
            start = time.monotonic()
            load("model")
            TIMES.append(time.monotonic() - start)
        """,
    )
    run(process, "uses_cache")
    run(process, "uses_cache")
    first, second = sys.modules["uses_cache"].TIMES
    assert first >= 0.2 > second * 10, (first, second)


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


def test_map_task_items_leave_no_records_behind(tmp_path, monkeypatch):
    """flytekit's real pyflyte-map-execute makes a map task object for every item it runs, and flytekit records
    every entity it makes. In a pod that ends with the process; in a warm runtime the records piled up (about
    50 KiB an item: the soak's runtimes grew 2 MiB a minute). The records of what a task made at run time go
    with the task; the tasks its module defines stay."""
    from flytekit.core.context_manager import FlyteContextManager, FlyteEntities
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(sys, "path", [str(tmp_path / "src"), *sys.path])
    monkeypatch.setattr(FlyteEntities, "entities", list(FlyteEntities.entities))
    write_module(
        tmp_path / "src",
        "mapped",
        """
        from flytekit import task

        @task
        def work(i: int) -> int:
            return i + 1
        """,
    )
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    warm = worker.WarmProcess(code.Baseline.capture(), scratch.Scratch.create(str(scratch_root)))
    ctx = FlyteContextManager.current_context()
    inputs = tmp_path / "inputs.pb"
    items = TypeEngine.to_literal(ctx, [10, 20, 30], typing.List[int], TypeEngine.to_literal_type(typing.List[int]))
    inputs.write_bytes(LiteralMap({"i": items}).to_flyte_idl().SerializeToString())

    def run_item(n):
        command = ["pyflyte-map-execute", "--inputs", str(inputs), "--output-prefix", str(tmp_path / "out" / str(n)),
                   "--raw-output-data-prefix", str(tmp_path / "raw"), "--checkpoint-path", str(tmp_path / "cp"),
                   "--prev-checkpoint", '""', "--resolver", "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver",
                   "--", "vars", "", "resolver", "flytekit.core.python_auto_container.default_task_resolver",
                   "task-module", "mapped", "task-name", "work"]  # fmt: skip
        # As propeller runs an ArrayNode's item: the whole list, and the item's index in a variable. The
        # execution id makes flytekit run it as a task execution, not as a local run of the map.
        env = {"FLYTE_INTERNAL_TASK_VERSION": "v1", "FLYTE_INTERNAL_EXECUTION_ID": "e1", "FLYTE_ATTEMPT_NUMBER": "0",
               "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "FLYTE_K8S_ARRAY_INDEX", "FLYTE_K8S_ARRAY_INDEX": str(n % 3)}  # fmt: skip
        failure = worker.run_task(warm, command, env)
        assert failure is None, failure and failure.message
        out = tmp_path / "out" / str(n)
        assert not (out / "error.pb").exists(), f"item {n} failed"
        output = LiteralMap.from_flyte_idl(_read_literal_map(out / "outputs.pb"))
        assert output.literals["o0"].scalar.primitive.integer == [11, 21, 31][n % 3]

    try:
        run_item(0)
        recorded = list(FlyteEntities.entities)
        assert any(e is sys.modules["mapped"].work for e in recorded), "the module's task stays recorded"
        for n in range(1, 20):
            run_item(n)
        assert FlyteEntities.entities == recorded, "twenty items later flytekit records nothing more"
    finally:
        warm.code.unload()
        warm.scratch.remove()


def _read_literal_map(path):
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    message.ParseFromString(path.read_bytes())
    return message


def test_the_old_versions_objects_are_freed_before_the_new_version_runs(process, tmp_path, monkeypatch):
    """The first task of a new code version already runs without the old version's objects: nothing the
    runtime notes about the task before it (flytekit's records) holds the old module's tasks."""
    monkeypatch.setattr(worker, "old_models", [], raising=False)
    write_module(
        tmp_path / "src",
        "holds_a_task",
        """
        import gc
        from flytekit import task
        from flyteactors.runtime import worker

        class Big:  # stands for a model the version's module holds
            pass

        MODEL = Big()

        @task
        def predict(x: int) -> int:
            return x

        def run():
            gc.collect()
            alive = [ref for ref in worker.old_models if ref() is not None]
            assert not alive, "an old version's model is alive while the new version runs"
        """,
    )
    for version in ("v1", "v2", "v3"):
        run(process, "holds_a_task", version=version)
        worker.old_models.append(weakref.ref(sys.modules["holds_a_task"].MODEL))
