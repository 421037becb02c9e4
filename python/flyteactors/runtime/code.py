"""Which version of the user's code the warm process has loaded, and how it changes to another one.

A task's code version is its fast-registration bundle (pyflyte-fast-execute's ``--additional-distribution``)
and its registered task version (``FLYTE_INTERNAL_TASK_VERSION``). The bundle alone is not enough: a bundle
may be uploaded to the same place again with other contents, and a task registered without a bundle has its
code in the image, where the version is the only sign of a new registration. Tasks of one version share the
loaded modules and everything they hold; a task of another version first gets a clean slate: the old user
modules, what flytekit keeps of them, the ``actor_cache`` and the old bundle are dropped.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import linecache
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Set

# Modules of these packages stay loaded whatever code runs: they hold the process's own state.
_KEPT_PACKAGES = ("flyteactors",)


@dataclass(frozen=True)
class CodeVersion:
    """The identity of a task's code: its bundle (None: the code is in the image) and registered version."""

    distribution: Optional[str]
    task_version: Optional[str]

    def folder_name(self) -> str:
        """A folder name that is the same for the same version and differs between versions."""
        raw = f"{self.distribution}\0{self.task_version}".encode()
        return hashlib.sha256(raw).hexdigest()[:20]


@dataclass
class Baseline:
    """What the process looked like when it became warm: user code comes and goes on top of it."""

    cwd: str
    path: List[str]
    modules: frozenset
    # Modules loaded from these folders (the interpreter's own and installed packages) stay loaded:
    # keeping them warm is the point of an actor.
    kept_prefixes: tuple = field(default_factory=tuple)

    @classmethod
    def capture(cls) -> "Baseline":
        prefixes = {
            os.path.realpath(p)
            for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
            if p
        }
        return cls(
            cwd=os.getcwd(),
            path=list(sys.path),
            modules=frozenset(sys.modules),
            kept_prefixes=tuple(sorted(prefixes)),
        )

    def user_modules(self) -> List[str]:
        """The names of the loaded modules that are user code: loaded since the baseline, from outside the
        interpreter's and installed packages' folders (a namespace package counts by its folders). Failed
        imports (None entries) count too, so that other code may provide them."""
        names = []
        for name, module in list(sys.modules.items()):
            if name in self.modules or name.split(".")[0] in _KEPT_PACKAGES:
                continue
            if module is None or self._is_user_module(module):
                names.append(name)
        return names

    def _is_user_module(self, module: Any) -> bool:
        locations = [getattr(module, "__file__", None)] + list(getattr(module, "__path__", None) or [])
        return any(loc and not self._is_kept_location(loc) for loc in locations)

    def _is_kept_location(self, location: str) -> bool:
        real = os.path.realpath(location)
        return any(real == prefix or real.startswith(prefix + os.sep) for prefix in self.kept_prefixes)


class LoadedCode:
    """The user code loaded in this process: its version and, for a bundle, the folder it was extracted to
    (one folder per version under ``bundles_dir``, so that no two versions share files or bytecode)."""

    def __init__(self, baseline: Baseline, bundles_dir: str):
        self._baseline = baseline
        self._bundles_dir = bundles_dir
        self.version: Optional[CodeVersion] = None
        self.bundle_folder: Optional[str] = None

    def use(self, version: CodeVersion) -> None:
        """Makes version the loaded code version, dropping the previous version's code if it differs."""
        if self.version is not None and version != self.version:
            self.unload()
        self.version = version

    def use_bundle(self, version: CodeVersion) -> str:
        """Like :meth:`use`, for a fast-registered bundle: extracts it into its own folder (once per version)
        and puts that folder first on sys.path. Returns the folder."""
        self.use(version)
        folder = os.path.join(self._bundles_dir, version.folder_name())
        if not os.path.isdir(folder):
            _download_bundle(version.distribution, folder)
        self.bundle_folder = folder
        self.add_path(folder, first=True)
        return folder

    def add_path(self, folder: str, first: bool = False) -> None:
        """Puts folder on sys.path (first, or last as flytekit does for a pod) unless it is there."""
        if folder in sys.path:
            return
        if first:
            sys.path.insert(0, folder)
        else:
            sys.path.append(folder)

    def unload(self) -> None:
        """Drops the loaded user code and what holds on to it, so that the next import loads the files of the
        next version and the old version's objects (and what they hold, a model say) can be freed."""
        dropped = set(self._baseline.user_modules())
        for name in dropped:
            sys.modules.pop(name, None)
        _forget_flytekit_entities(dropped)
        from flyteactors import cache

        cache.clear()
        sys.path[:] = self._baseline.path
        if self.bundle_folder:
            for key in [k for k in sys.path_importer_cache if _within(k, self.bundle_folder)]:
                del sys.path_importer_cache[key]
            shutil.rmtree(self.bundle_folder, ignore_errors=True)
        self.bundle_folder = None
        self.version = None
        # Finders cache folder listings: without this, files of the old version could still be found.
        importlib.invalidate_caches()
        linecache.clearcache()
        gc.collect()


def _within(path: Any, folder: str) -> bool:
    return isinstance(path, str) and (path == folder or path.startswith(folder + os.sep))


def _download_bundle(distribution: Optional[str], folder: str) -> None:
    """Downloads and extracts a fast-registration bundle into folder, then deletes the archive."""
    from flytekit.bin import entrypoint

    os.makedirs(folder)
    try:
        entrypoint._download_distribution(distribution, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    archive = os.path.join(folder, os.path.basename(distribution or ""))
    if archive.endswith(".tar.gz") and os.path.isfile(archive):
        os.remove(archive)


def _forget_flytekit_entities(modules: Set[str]) -> None:
    """Removes from flytekit's process-wide registries what the given modules defined. flytekit records
    every task, workflow and launch plan ever made (for registration); left there, each dropped module's
    objects, and all its globals with them, would live on."""
    from flytekit.core.context_manager import FlyteEntities
    from flytekit.core.launch_plan import LaunchPlan
    from flytekit.core.type_engine import TypeEngine

    FlyteEntities.entities[:] = [e for e in FlyteEntities.entities if not _defined_in(e, modules)]
    for name in [n for n, lp in LaunchPlan.CACHE.items() if _defined_in(lp, modules)]:
        del LaunchPlan.CACHE[name]
    registry = TypeEngine._REGISTRY
    for python_type in [t for t, tf in registry.items() if _defined_in_any((t, tf), modules)]:
        del registry[python_type]


class TaskEntities:
    """flytekit's record of the entities one task makes while it runs. flytekit records every task, workflow
    and launch plan it makes (for registration) and never lets go, which costs nothing in a pod: the process
    ends with its task. Here tasks make some at run time, task after task: pyflyte-map-execute makes a map
    task for every item it runs (with classes of its own, some 50 KiB), a dynamic task its sub-workflow. Those
    records go when the task ends; entities a module made as it was imported stay with the module.

    Launch plans and imperative workflows do not note the module that made them, so the sweep drops their
    records even when a module made them; that loses nothing: flytekit keeps launch plans in LaunchPlan.CACHE
    and a module keeps what it made in its globals, and these records only serve registration."""

    def __init__(self) -> None:
        self._before: Optional[List[Any]] = None

    def mark(self) -> None:
        """Notes the entities made before the task. Holding them keeps their ids theirs until sweep."""
        from flytekit.core.context_manager import FlyteEntities

        self._before = list(FlyteEntities.entities)

    def sweep(self) -> None:
        """Forgets the entities the task made at run time; nothing if mark was not called (the task failed
        before its code was loaded, so it made none)."""
        from flytekit.core.context_manager import FlyteEntities

        if self._before is None:
            return
        before = {id(e) for e in self._before}
        FlyteEntities.entities[:] = [e for e in FlyteEntities.entities if id(e) in before or _made_by_a_module(e)]
        self._before = None


def _made_by_a_module(entity: Any) -> bool:
    """Whether entity was made by a loaded user module as it was imported (flytekit notes the module whose
    top level made it; at run time it finds none, or the runtime's own)."""
    module = getattr(entity, "instantiated_in", None)
    return (
        bool(module) and module in sys.modules and module != "__main__" and module.split(".")[0] not in _KEPT_PACKAGES
    )


def _defined_in(entity: Any, modules: Set[str]) -> bool:
    """Whether a flytekit entity (task, workflow, launch plan) was made by one of modules."""
    candidates: Iterable[Any] = (
        getattr(entity, "instantiated_in", None),
        getattr(getattr(entity, "task_function", None), "__module__", None),
        getattr(getattr(entity, "workflow", None), "instantiated_in", None),
    )
    return any(c in modules for c in candidates if c)


def _defined_in_any(objects: Iterable[Any], modules: Set[str]) -> bool:
    """Whether any of objects (types or instances) comes from one of modules."""
    for obj in objects:
        cls = obj if isinstance(obj, type) else type(obj)
        if getattr(cls, "__module__", None) in modules:
            return True
    return False
