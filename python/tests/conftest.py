"""Fixtures of the runtime's tests: a warm process as the runtime makes it."""

import importlib
import os
import sys
import tempfile
import types

import pytest
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
