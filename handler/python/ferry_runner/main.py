"""Start-up: the protocol pipes moved out of reach, output routed to calls, the event loop and
frame reader on threads of their own, and the main thread lent to synchronous calls."""

import asyncio
import faulthandler
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from . import frames
from .output import install_capture
from .runner import Runner

try:
    import cloudpickle
except ImportError:  # plain pickle still reads most of what cloudpickle wrote
    cloudpickle = None


def apply_memory_limit():
    limit_mb = os.environ.get("FERRY_CHILD_MEMORY_LIMIT_MB")
    if not limit_mb:
        return
    import resource

    limit = int(limit_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def serve_frames(loop, runner):
    """The event loop's thread: frames in, calls scheduled, frames out."""
    asyncio.set_event_loop(loop)
    threading.Thread(target=frames.reader_thread, args=(loop, runner.dispatch), daemon=True, name="ferry-frames").start()
    frames.send(
        {
            "t": "ready",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "cloudpickle": cloudpickle is not None,
        }
    )
    loop.run_forever()
    # The worker closed the pipe: no more calls will come. The main thread may still be in a
    # call; it and the daemon threads stop with the process.
    os._exit(0)


def main():
    frames.move_protocol_fds()
    # Ctrl-C in a terminal reaches the whole process group; the worker decides what stops, so
    # a SIGINT interrupts only a call the worker cancelled.
    frames.main_thread.install()
    faulthandler.enable(file=sys.__stderr__)
    apply_memory_limit()
    install_capture()

    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=int(os.environ.get("FERRY_MAX_THREADS", "64")), thread_name_prefix="ferry-call"))
    runner = Runner(loop)
    threading.Thread(target=serve_frames, args=(loop, runner), name="ferry-loop").start()
    # Synchronous calls run here, where a cancel's signal can break a blocking call.
    frames.main_thread.serve()
