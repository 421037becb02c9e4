#!/usr/bin/env bash
# Writes plugin/testdata/union/*.json: the task templates Union's real SDK (union 0.1.204 with flytekit
# 1.16.31) serializes for the seed's four examples (scripts/union_fixtures/seed), and
# plugin/testdata/flyteactors/*.json: the same examples with `from flyteactors import ActorEnvironment`,
# serialized by the same flytekit. The plugin's tests read only these committed files; run this script
# (it needs PyPI) when the SDK versions or the examples change. kubernetes is held at 36.0.3: from 37 its
# models are pydantic and refuse the seed's ImageSpec as a container image.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python3}
image=ghcr.io/flyteactors/seed:fixture

echo "building a throwaway venv with union 0.1.204 and flytekit 1.16.31 in $work"
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/pip" install -q --disable-pip-version-check)
# Left alone, pip backtracks for many minutes over flytekit's dependencies: hold them to the project's lock
# (but for flytekit itself), then hold union's install to what is there.
grep -v -E '^(flytekit|flyteidl)==' "$root/python/requirements.lock" >"$work/constraints.txt"
"${pip[@]}" -c "$work/constraints.txt" flytekit==1.16.31 kubernetes==36.0.3
"$work/venv/bin/pip" freeze >"$work/installed.txt"
"${pip[@]}" -c "$work/installed.txt" union==0.1.204
# From a copy: building the package in place would leave a build/ folder in the repository.
cp -r "$root/python" "$work/flyteactors"
"${pip[@]}" --no-deps "$work/flyteactors"

serialize() { # serialize <sdk> <import line>
  local sdk=$1 import=$2
  mkdir -p "$work/$sdk/seed" "$work/$sdk/out"
  for f in "$root"/scripts/union_fixtures/seed/*.py; do
    sed "s/^from union.actor import ActorEnvironment$/$import/" "$f" >"$work/$sdk/seed/$(basename "$f")"
  done
  (cd "$work/$sdk" && PYTHONPATH="$work/$sdk" "$work/venv/bin/pyflyte" --pkgs seed serialize --image "$image" \
    workflows -f "$work/$sdk/out" >/dev/null)
  rm -f "$root"/plugin/testdata/"$sdk"/*.json
  "$work/venv/bin/python" "$root/scripts/union_fixtures/to_json.py" "$work/$sdk/out" seed "$root/plugin/testdata/$sdk"
}

serialize union "from union.actor import ActorEnvironment"
serialize flyteactors "from flyteactors import ActorEnvironment"
