"""The Python child's main thread, lent to one synchronous user call at a time.

Only the main thread runs Python signal handlers, and only a signal handler can break a call
blocked in `time.sleep`, `socket.recv`, `queue.get` or `subprocess.wait`: an exception set on
another thread (PyThreadState_SetAsyncExc) waits for the next bytecode, which a blocked call
never reaches. So the runner's event loop and frame reader live on other threads, and the main
thread waits here for synchronous work. A cancel of the call it runs sends SIGINT to the main
thread; the handler raises KeyboardInterrupt inside the user's call, which the runner reports as
the cancel. A SIGINT that is no cancel (Ctrl-C in a terminal, a call that already finished) is
ignored: the worker decides what stops.

The main thread takes one call at a time. A synchronous call that arrives while it is taken runs
on the thread pool, where a cancel is delivered at the next bytecode only (a blocked call there
is stopped by the worker's kill after its grace period, as is a call stuck in C code anywhere).
"""

import queue
import signal
import threading

MAIN_THREAD_ID = threading.main_thread().ident


class CallCancelled(BaseException):
    """Raised when a cancelled call finishes by way of the interrupt it was sent."""


class MainThreadExecutor:
    def __init__(self):
        self.work = queue.Queue()
        self.lock = threading.Lock()
        self.busy = False
        # The call whose cancel may interrupt the main thread, set only while its work runs.
        self.call = None
        # Set while the main thread writes a frame: an interrupt then would leave half a frame
        # on the pipe, so it waits until the frame is whole.
        self.shield_depth = 0
        self.deferred = False

    # Any thread -------------------------------------------------------------------------
    def try_claim(self):
        """True when the main thread is free: it is then reserved for one `submit`."""
        with self.lock:
            if self.busy:
                return False
            self.busy = True
            return True

    def submit(self, loop, call, work):
        """Runs work() on the main thread (after `try_claim`); an asyncio future of its result."""
        future = loop.create_future()

        def done(ok, value):
            loop.call_soon_threadsafe(_settle, future, ok, value)

        self.work.put((call, work, done))
        return future

    def interrupt(self):
        """Breaks the main thread's blocking call; its handler checks that a cancel asked for it."""
        signal.pthread_kill(MAIN_THREAD_ID, signal.SIGINT)

    # The main thread ----------------------------------------------------------------------
    def install(self):
        signal.signal(signal.SIGINT, self.on_sigint)

    def on_sigint(self, _signum, _frame):
        call = self.call
        if call is None or not call.cancel_reason:
            return
        if self.shield_depth:
            self.deferred = True
            return
        raise KeyboardInterrupt()

    def serve(self):
        """Runs submitted work until the process exits (the event loop's thread ends it)."""
        while True:
            call, work, done = self.work.get()
            # User code may have replaced the handler in an earlier call; each call gets it back.
            if signal.getsignal(signal.SIGINT) != self.on_sigint:
                self.install()
            ok, value = True, None
            try:
                try:
                    self.call = call
                    value = work()
                finally:
                    self.call = None
            except BaseException as exc:  # noqa: BLE001 - the caller gets every outcome
                self.call = None
                # The work turns the interrupt into CallCancelled itself; one that lands in its
                # last bytecodes, after the user's code returned, is the same cancel. A
                # KeyboardInterrupt must not reach the event loop, which would stop on it.
                ok, value = False, CallCancelled() if isinstance(exc, KeyboardInterrupt) else exc
            with self.lock:
                self.busy = False
            done(ok, value)
            # Held by this loop's names, the finished call's arguments and result would stay in
            # memory until the next synchronous call came.
            del call, work, done, value

    def shielded(self):
        return _Shield(self)


class _Shield:
    """Holds off the cancel interrupt on the main thread while a frame is written."""

    __slots__ = ("executor", "main")

    def __init__(self, executor):
        self.executor = executor
        self.main = threading.get_ident() == MAIN_THREAD_ID

    def __enter__(self):
        if self.main:
            self.executor.shield_depth += 1

    def __exit__(self, *_exc):
        if not self.main:
            return False
        executor = self.executor
        executor.shield_depth -= 1
        if executor.shield_depth == 0 and executor.deferred:
            executor.deferred = False
            raise KeyboardInterrupt()
        return False


def _settle(future, ok, value):
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
