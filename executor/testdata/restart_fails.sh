#!/bin/sh
# A runtime that starts once: started again (after its first process died), it fails at once, or,
# with RESTART=hang, never becomes ready.
marker="$1"
if [ -e "$marker" ]; then
  [ "$RESTART" = hang ] && exec sleep 60
  echo "cannot start again" >&2
  exit 1
fi
touch "$marker"
exec python3 "$(dirname "$0")/fake_runtime.py"
