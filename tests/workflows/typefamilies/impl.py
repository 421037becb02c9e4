"""The bodies of the type-family tasks, shared by the actor and the pod-per-task modules."""

import datetime
import hashlib
import os
import typing
from dataclasses import dataclass, field

import pandas as pd

from flytekit import current_context
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset

MIB = 1024 * 1024


@dataclass
class Point:
    x: int
    y: float
    label: str
    tags: typing.List[str] = field(default_factory=list)
    scores: typing.Dict[str, float] = field(default_factory=dict)


def primitives(
    i: int, f: float, s: str, b: bool
) -> typing.Tuple[int, float, str, bool, datetime.datetime, datetime.timedelta]:
    when = datetime.datetime(2024, 2, 29, 12, 30, 15, 250000, tzinfo=datetime.timezone.utc)
    return i + 1, f * 2, s.upper(), not b, when, datetime.timedelta(hours=1, milliseconds=5)


def collections(
    n: int,
) -> typing.Tuple[typing.List[int], typing.Dict[str, float], typing.List[typing.Dict[str, typing.List[str]]]]:
    numbers = [i * i for i in range(n)]
    halves = {f"k{i}": i / 2 for i in range(n)}
    nested = [{"letters": [chr(ord("a") + j) for j in range(i)]} for i in range(n)]
    return numbers, halves, nested


def make_point(n: int) -> Point:
    return Point(x=n, y=n / 4, label=f"point {n}", tags=["a", "b"][: n % 3], scores={"s": 0.5 * n})


def describe_point(p: Point) -> str:
    return f"{p.label}: ({p.x}, {p.y}) tags={p.tags} scores={p.scores}"


def _new_path(name: str) -> str:
    return os.path.join(current_context().working_directory, name)


def write_file(n: int, mib: int) -> FlyteFile:
    """A file of n lines, or of mib MiB when mib > 0, with contents that depend only on the arguments."""
    path = _new_path("data.txt")
    with open(path, "wb") as f:
        if mib > 0:
            block = hashlib.sha256(str(n).encode()).digest() * (MIB // 32)
            for _ in range(mib):
                f.write(block)
        else:
            for i in range(n):
                f.write(f"line {i}\n".encode())
    return FlyteFile(path)


def digest_file(f: FlyteFile) -> str:
    h = hashlib.sha256()
    with open(f.download(), "rb") as data:
        for chunk in iter(lambda: data.read(MIB), b""):
            h.update(chunk)
    return f"{os.path.getsize(f.path)} bytes sha256 {h.hexdigest()}"


def write_dir(n: int) -> FlyteDirectory:
    root = _new_path("tree")
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    for i in range(n):
        folder = root if i % 2 == 0 else os.path.join(root, "sub")
        with open(os.path.join(folder, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * (i + 1))
    return FlyteDirectory(root)


def digest_dir(d: FlyteDirectory) -> str:
    local = d.download()
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(local)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            h.update(os.path.relpath(path, local).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def make_frame(n: int) -> StructuredDataset:
    df = pd.DataFrame({"i": list(range(n)), "name": [f"row {i}" for i in range(n)], "half": [i / 2 for i in range(n)]})
    return StructuredDataset(dataframe=df)


def frame_csv(sd: StructuredDataset) -> str:
    return sd.open(pd.DataFrame).all().to_csv(index=False)


def long_string(n: int) -> str:
    return "x" * n
