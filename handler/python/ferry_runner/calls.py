"""One call in the child: its output, the thread its synchronous code runs on, its cancel, and
the values it yields."""

import asyncio
import contextvars
import ctypes
import threading

from .frames import main_thread, send
from .main_thread import MAIN_THREAD_ID, CallCancelled
from .output import CallOutput
from .values import encode_for_frame


class UserKeyboardInterrupt(Exception):
    """A KeyboardInterrupt user code raised on its own, not Ferry's cancel: reported as itself."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


class Call:
    def __init__(self, call_id, job):
        self.id = call_id
        self.job = job
        self.format = job.get("serialization_format") or "cloudpickle"
        self.output = CallOutput(call_id)
        self.cancel_reason = None
        self.cancel_message = None
        self.task = None
        self.thread_id = None
        self.lock = threading.Lock()
        self.stream_count = 0
        # The function is a generator: its response carries stream_count even when it yielded nothing.
        self.generator = False
        self.aggregate = [] if job.get("return_aggregate_stream") else None

    def release(self):
        """Drops what the finished call holds. The call, its task and the task's context (whose
        current_call is this call) form a cycle; unbroken, each finished call's arguments and
        result would stay in memory until the cyclic collector happened to run."""
        self.task = None
        self.job = None
        self.aggregate = None
        self.output.release()

    def capture(self, stream, text):
        self.output.capture(stream, text)

    # Cancellation -----------------------------------------------------------------------
    def cancel(self, reason, message):
        if self.cancel_reason:
            return
        self.cancel_reason = reason
        self.cancel_message = message
        with self.lock:
            if self.thread_id == MAIN_THREAD_ID:
                # SIGINT to the main thread: its handler raises KeyboardInterrupt there, which
                # breaks a blocking call too (main_thread.py).
                main_thread.interrupt()
                return
            if self.thread_id is not None:
                # KeyboardInterrupt in a pool thread: delivered at its next bytecode. A call
                # blocked there, or stuck inside C code anywhere, does not see it and so never
                # answers; the worker kills the child after a grace period. The task is left
                # alone: cancelling it would answer while the thread still runs.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(KeyboardInterrupt))
                return
        if self.task is not None:
            self.task.cancel()

    def run_in_thread(self, fn, *args, **kwargs):
        """Runs fn on the main thread when it is free, else on the thread pool; `cancel` can
        interrupt it on either (on the main thread, even when it blocks)."""

        def target():
            with self.lock:
                if self.cancel_reason:
                    raise CallCancelled()
                self.thread_id = threading.get_ident()
            try:
                return fn(*args, **kwargs)
            except KeyboardInterrupt as exc:
                # Neither leaves as a KeyboardInterrupt, which asyncio would treat as a Ctrl-C of
                # the runner: the cancel interrupt becomes CallCancelled, and one the user's code
                # raised itself stays the user's exception, wrapped.
                if self.cancel_reason:
                    raise CallCancelled() from None
                raise UserKeyboardInterrupt(exc) from None
            finally:
                with self.lock:
                    self.thread_id = None

        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        if main_thread.try_claim():
            return main_thread.submit(loop, self, lambda: context.run(target))
        return loop.run_in_executor(None, context.run, target)

    # Streaming --------------------------------------------------------------------------
    def emit(self, value):
        index = self.stream_count
        attachments = []
        # A plain call's values come back in its result; only a streamed one goes to a file of its own.
        files = self.job.get("value_files") if self.aggregate is None else None
        encoded = encode_for_frame(value, self.format, f"yield[{index}]", attachments, files)
        self.stream_count += 1
        if self.aggregate is not None:
            self.aggregate.append(value)
        send({"t": "yield", "id": self.id, "index": index, "value": encoded}, attachments)
