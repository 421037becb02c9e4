"""A stand-in for flyteactors.runtime that speaks its control protocol (fd 3 in, fd 4 out) and "runs" a
command by its first word: ok, fail, sleep <seconds>, crash <exit code>, pid."""
import json
import os
import sys
import time

control_in = os.fdopen(3, "r")
control_out = os.fdopen(4, "w")


def send(event):
    control_out.write(json.dumps(event) + "\n")
    control_out.flush()


send({"event": "ready", "pid": os.getpid()})
for line in control_in:
    request = json.loads(line)
    task_id, command = request["task_id"], request["command"]
    send({"event": "started", "task_id": task_id})
    word = command[0]
    if word == "crash":
        os._exit(int(command[1]))
    if word == "sleep":
        time.sleep(float(command[1]))
    if word == "fail":
        failure = {"kind": "user", "code": "Boom", "message": request["env"].get("MESSAGE", ""), "retryable": False}
        send({"event": "finished", "task_id": task_id, "failure": failure})
        continue
    print(f"ran {task_id} in {os.getpid()}", flush=True)
    send({"event": "finished", "task_id": task_id})
