"""flyteactors.runtime.scratch: flytekit's temporary folders go after each task, and the scratch folders of dead
runtimes go at start."""

import os
import sys
import tempfile

from flyteactors.runtime import scratch
from runtime_helpers import run, write_module


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
