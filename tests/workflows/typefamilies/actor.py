"""The type families as actor tasks of one environment; see impl.py."""

import datetime
import typing

from flytekit import workflow
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset

from flyteactors import ActorEnvironment

from typefamilies import impl
from typefamilies.impl import Point

actor = ActorEnvironment(name="types-actor", replica_count=1, ttl_seconds=120)


@actor.task
def primitives(
    i: int, f: float, s: str, b: bool
) -> typing.Tuple[int, float, str, bool, datetime.datetime, datetime.timedelta]:
    return impl.primitives(i, f, s, b)


@workflow
def primitives_wf(
    i: int = 41, f: float = 1.25, s: str = "héllo", b: bool = True
) -> typing.Tuple[int, float, str, bool, datetime.datetime, datetime.timedelta]:
    return primitives(i=i, f=f, s=s, b=b)


@actor.task
def collections(
    n: int,
) -> typing.Tuple[typing.List[int], typing.Dict[str, float], typing.List[typing.Dict[str, typing.List[str]]]]:
    return impl.collections(n)


@workflow
def collections_wf(
    n: int = 4,
) -> typing.Tuple[typing.List[int], typing.Dict[str, float], typing.List[typing.Dict[str, typing.List[str]]]]:
    return collections(n=n)


@actor.task
def make_point(n: int) -> Point:
    return impl.make_point(n)


@actor.task
def describe_point(p: Point) -> str:
    return impl.describe_point(p)


@workflow
def dataclass_wf(n: int = 5) -> typing.Tuple[Point, str]:
    p = make_point(n=n)
    return p, describe_point(p=p)


@actor.task
def write_file(n: int, mib: int) -> FlyteFile:
    return impl.write_file(n, mib)


@actor.task
def digest_file(f: FlyteFile) -> str:
    return impl.digest_file(f)


@workflow
def file_wf(n: int = 100, mib: int = 0) -> typing.Tuple[FlyteFile, str]:
    f = write_file(n=n, mib=mib)
    return f, digest_file(f=f)


@actor.task
def write_dir(n: int) -> FlyteDirectory:
    return impl.write_dir(n)


@actor.task
def digest_dir(d: FlyteDirectory) -> str:
    return impl.digest_dir(d)


@workflow
def dir_wf(n: int = 5) -> typing.Tuple[FlyteDirectory, str]:
    d = write_dir(n=n)
    return d, digest_dir(d=d)


@actor.task
def make_frame(n: int) -> StructuredDataset:
    return impl.make_frame(n)


@actor.task
def frame_csv(sd: StructuredDataset) -> str:
    return impl.frame_csv(sd)


@workflow
def frame_wf(n: int = 6) -> typing.Tuple[StructuredDataset, str]:
    sd = make_frame(n=n)
    return sd, frame_csv(sd=sd)


@actor.task
def long_string(n: int) -> str:
    return impl.long_string(n)


@workflow
def long_string_wf(n: int) -> str:
    return long_string(n=n)
