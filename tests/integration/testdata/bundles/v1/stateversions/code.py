"""One task module registered twice, as two fast-registration bundles (v1 and v2) in one environment. The two
files differ only in VERSION, so they have the same size: with flytekit's fixed archive mtimes, a bundle
extracted over the other would let CPython run the other's bytecode."""

import importlib.util
import os
import typing

from flytekit import workflow

from flyteactors import ActorEnvironment

VERSION = "v1"

actor = ActorEnvironment(name="versions-actor", replica_count=1, ttl_seconds=300)

CALLS = 0


@actor.task
def which(after: int = 0) -> typing.Tuple[str, int, int, bool]:
    """Returns the code's version, how often this module's task ran, the process, and whether a module only
    bundle v1 has can be imported."""
    global CALLS
    CALLS += 1
    return VERSION, CALLS, os.getpid(), importlib.util.find_spec("stateversions.only_v1") is not None


@workflow
def twice() -> typing.Tuple[str, int, int, bool, str, int, int, bool]:
    version, calls, pid, only_v1 = which()
    version2, calls2, pid2, only_v1_2 = which(after=calls)
    return version, calls, pid, only_v1, version2, calls2, pid2, only_v1_2
