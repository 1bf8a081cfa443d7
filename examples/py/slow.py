"""The Python side of examples/cancel-timeout.ts: a job that takes as long as it is told."""
import time


def work(seconds: float) -> str:
    step = 0.25
    for done in range(int(seconds / step)):
        print(f"working... {done * step:.2f}s of {seconds}s")
        time.sleep(step)
    return f"finished {seconds}s of work"
