"""The runtime's own scratch folder, and the sweep of what flytekit leaves behind after each task.

flytekit was written for one task per process: every task makes a temporary folder (``flyte*``, with the
task's downloaded inputs) and a work folder in its sandbox, and nobody removes them, since the pod goes. In a
warm process they would fill the pod's ephemeral storage. Each runtime therefore gets a scratch folder of its
own (``<tmp>/flyteactors-runtime-<pid>``, the process's temporary folder): the new ``flyte*`` entries there and the
new entries of flytekit's sandbox are removed after every task. Other files a task writes (its own temporary
files included) stay, like the rest of what it leaves behind. Bundles are extracted under ``code/`` there, so
that two runtimes of one pod never extract into the same folder. A runtime that was killed leaves its scratch
folder; the next runtime to start removes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import List, Optional, Set

_PREFIX = "flyteactors-runtime-"
# Written in the scratch folder: flytekit's own temporary folder (made when flytekit is imported, which is
# before the runtime can choose where), to be removed with the scratch folder.
_FLYTEKIT_FOLDER_NOTE = "flytekit-folder"
# flytekit's per-task temporary folders: tempfile.mkdtemp(prefix="flyte").
_FLYTEKIT_TEMP_PREFIX = "flyte"


class Scratch:
    """One runtime's scratch folder; see the module docstring."""

    def __init__(self, root: str):
        self.root = root
        self.bundles_dir = os.path.join(root, "code")
        # flytekit's sandbox folder, where each task gets a work folder.
        self.sandbox: Optional[str] = None
        self._before: Set[str] = set()
        self.sandbox_before: Set[str] = set()

    @classmethod
    def create(cls, parent: Optional[str] = None) -> "Scratch":
        """Makes this process's scratch folder under parent (the system's temporary folder) and makes it the
        process's temporary folder (TMPDIR, for the task's subprocesses too). Removes the scratch folders of
        runtimes that are gone."""
        parent = parent or tempfile.gettempdir()
        _remove_abandoned(parent)
        root = os.path.join(parent, f"{_PREFIX}{os.getpid()}")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "code"))
        os.environ["TMPDIR"] = root
        tempfile.tempdir = root
        return cls(root)

    def adopt_flytekit_folders(self) -> None:
        """Records flytekit's process-wide temporary folder (to remove it with the scratch folder) and its
        sandbox (to sweep it after every task)."""
        from flytekit.core import data_persistence
        from flytekit.core.context_manager import FlyteContextManager

        with open(os.path.join(self.root, _FLYTEKIT_FOLDER_NOTE), "w", encoding="utf-8") as note:
            note.write(data_persistence.flyte_tmp_dir)
        self.sandbox = str(FlyteContextManager.current_context().file_access.local_sandbox_dir)

    def mark(self) -> None:
        """Remembers what is there before a task, so that :meth:`sweep` removes only what the task added."""
        self._before = set(_list(self.root))
        self.sandbox_before = set(_list(self.sandbox))

    def sweep(self) -> None:
        """Removes the folders flytekit made for the task that just ended."""
        for name in set(_list(self.root)) - self._before:
            if name.startswith(_FLYTEKIT_TEMP_PREFIX):
                _remove(os.path.join(self.root, name))
        if self.sandbox:
            for name in set(_list(self.sandbox)) - self.sandbox_before:
                _remove(os.path.join(self.sandbox, name))

    def remove(self) -> None:
        """Removes the scratch folder and flytekit's temporary folder: the runtime is stopping."""
        _remove_scratch(self.root)


def _list(folder: Optional[str]) -> List[str]:
    if not folder:
        return []
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _remove_scratch(root: str) -> None:
    try:
        with open(os.path.join(root, _FLYTEKIT_FOLDER_NOTE), encoding="utf-8") as note:
            flytekit_folder = note.read().strip()
        if flytekit_folder:
            shutil.rmtree(flytekit_folder, ignore_errors=True)
    except OSError:
        pass
    shutil.rmtree(root, ignore_errors=True)


def _remove_abandoned(parent: str) -> None:
    """Removes scratch folders of runtimes that no longer run (killed, so they could not clean up)."""
    for name in _list(parent):
        if not name.startswith(_PREFIX):
            continue
        pid = name[len(_PREFIX) :]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _remove_scratch(os.path.join(parent, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
