"""A stand-in for flyteactors.runtime that speaks its control protocol (fd 3 in, fd 4 out) and "runs" a
command by its first word: ok, fail, sleep <seconds>, crash <exit code>, exit <status> (the task calls
sys.exit), envcheck (fails listing the FLYTE_ACTOR_* variables it sees), spawn (starts a child process
that sleeps, prints its pid, and sleeps). When ready it says it runs the flyteactors release
FAKE_FLYTEACTORS_VERSION from FAKE_FLYTEACTORS_PACKAGE, if they are set, as the real runtime does."""
import json
import os
import subprocess
import sys
import time

control_in = os.fdopen(3, "r")
control_out = os.fdopen(4, "w")


def send(event):
    control_out.write(json.dumps(event) + "\n")
    control_out.flush()


def fail(task_id, **failure):
    send({"event": "finished", "task_id": task_id, "failure": failure})


ready = {"event": "ready", "pid": os.getpid()}
if "FAKE_FLYTEACTORS_VERSION" in os.environ:
    ready["version"] = os.environ["FAKE_FLYTEACTORS_VERSION"]
    ready["package"] = os.environ.get("FAKE_FLYTEACTORS_PACKAGE", "")
send(ready)
for line in control_in:
    request = json.loads(line)
    task_id, command = request["task_id"], request["command"]
    send({"event": "started", "task_id": task_id})
    word = command[0]
    if word == "crash":
        os._exit(int(command[1]))
    if word == "sleep":
        time.sleep(float(command[1]))
    if word == "spawn":
        child = subprocess.Popen(["sleep", "60"])
        print(f"child {child.pid}", flush=True)
        time.sleep(60)
    if word == "fail":
        fail(task_id, kind="user", code="Boom", message=request["env"].get("MESSAGE", ""), retryable=False)
        continue
    if word == "exit":
        fail(task_id, kind="user", code="EntrypointExited", message="exited", retryable=True, exit_code=int(command[1]))
        continue
    if word == "envcheck":
        seen = sorted(k for k in os.environ if k.startswith("FLYTE_ACTOR_"))
        fail(task_id, kind="user", code="EnvCheck", message=",".join(seen) or "none", retryable=False)
        continue
    print(f"ran {task_id} in {os.getpid()}", flush=True)
    send({"event": "finished", "task_id": task_id})
