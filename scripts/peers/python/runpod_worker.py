"""RunPod's official Python worker (runpod.serverless.start) with a small handler.

PEER_HANDLER=generator: a generator handler (streams {"i": i} for input.n, aggregate returned);
otherwise a plain handler that echoes input.value with the pod id, posts a progress update when
input.progress is set, and raises when input.fail is set.
"""
import os
import time

import runpod


def plain(job):
    inp = job["input"] or {}
    if inp.get("progress"):
        runpod.serverless.progress_update(job, {"halfway": True})
        time.sleep(float(inp.get("progress_hold_s", 1.0)))
    if inp.get("fail"):
        raise ValueError(inp["fail"])
    if inp.get("sleep_s"):
        time.sleep(float(inp["sleep_s"]))
    return {"echo": inp.get("value"), "pod": os.environ.get("RUNPOD_POD_ID")}


def generator(job):
    for i in range(int((job["input"] or {}).get("n", 3))):
        time.sleep(0.05)
        yield {"i": i}


if os.environ.get("PEER_HANDLER") == "generator":
    runpod.serverless.start({"handler": generator, "return_aggregate_stream": True})
else:
    runpod.serverless.start({"handler": plain})
