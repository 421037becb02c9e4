"""flyteactors.runtime.code: a task of another code version gets fresh modules, bundles and caches, and the old
version's objects are freed."""

import gc
import importlib
import os
import sys
import tempfile
import typing
import weakref

import pytest
from flyteactors import actor_cache, cache
from flyteactors.runtime import code, scratch, worker
from runtime_helpers import bundle_writer, fast_command, read_literal_map, run, write_module


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
    # The scratch folder becomes the process's temporary folder: put it back for the tests that follow.
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", ""))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
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
        output = LiteralMap.from_flyte_idl(read_literal_map(out / "outputs.pb"))
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
