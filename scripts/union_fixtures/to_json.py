"""Writes the task templates of package's tasks that `pyflyte serialize` wrote in a folder as JSON fixtures,
one file per task: <dest>/<task name without the package>.json (protobuf JSON of flyteidl.core.TaskTemplate)."""

import glob
import os
import sys

from flyteidl.admin import task_pb2
from google.protobuf import json_format


def main(serialized: str, package: str, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(serialized, "*_1.pb"))):
        spec = task_pb2.TaskSpec()
        with open(path, "rb") as f:
            spec.ParseFromString(f.read())
        template = spec.template
        if not template.id.name.startswith(package + "."):
            continue  # tasks of installed packages (union makes one when imported)
        name = template.id.name.removeprefix(package + ".")
        with open(os.path.join(dest, name + ".json"), "w", encoding="utf-8") as out:
            out.write(json_format.MessageToJson(template, sort_keys=True, indent=2) + "\n")
        print(f"  {dest}/{name}.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
