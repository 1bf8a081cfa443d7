"""Ferry's Python runner: the persistent child that executes calls for the worker.

It reads frames from fd 3 and writes frames to fd 4 (a 4-byte big-endian length, then one
MessagePack map), so that the user code's stdout and stderr (fds 1 and 2) can never corrupt the
protocol. It knows nothing of RunPod: it runs functions and class methods, keeps class instances
alive between calls, captures output per call, streams generator values, and answers small
requests (requirement checks, import cache invalidation, instance destruction).

Standard library + msgpack; cloudpickle when present (plain pickle reads what it wrote), numpy
when an array crosses the boundary. Values are encoded and decoded by `_ferry_values.py` beside it.
"""

import asyncio
import collections
import contextvars
import ctypes
import datetime
import faulthandler
import hashlib
import importlib
import inspect
import io
import linecache
import logging
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

import msgpack

from _ferry_main_thread import MAIN_THREAD_ID, CallCancelled, MainThreadExecutor
from _ferry_requirements import check_requirements
from _ferry_values import EncodeError, decode_arguments, encode_value

try:
    import cloudpickle
except ImportError:  # plain pickle still reads most of what cloudpickle wrote
    cloudpickle = None

IN_FD = int(os.environ.get("FERRY_IN_FD", "3"))
OUT_FD = int(os.environ.get("FERRY_OUT_FD", "4"))
MAX_INSTANCES = int(os.environ.get("FERRY_MAX_INSTANCES", "16"))
MAX_CAPTURE_CHARS = int(os.environ.get("FERRY_MAX_CAPTURE_CHARS", str(4 * 1024 * 1024)))
RUNNER_FILES = {os.path.abspath(__file__)} | {
    os.path.join(os.path.dirname(os.path.abspath(__file__)), name) for name in ("_ferry_values.py", "_ferry_main_thread.py")
}

# Error categories the worker understands, beside Python exception class names.
E_CANCELLED = "Cancelled"
E_SERIALIZATION = "SerializationError"
E_DESERIALIZATION = "DeserializationError"
E_OOM = "OutOfMemory"
E_CUDA_OOM = "CudaOutOfMemory"


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

_write_lock = threading.Lock()
main_thread = MainThreadExecutor()


def send(frame):
    data = msgpack.packb(frame, use_bin_type=True)
    # Header and body leave as two buffers of one write: a large body is never copied to prepend four bytes.
    parts = [memoryview(struct.pack(">I", len(data))), memoryview(data)]
    with main_thread.shielded(), _write_lock:
        while parts:
            written = os.writev(OUT_FD, parts)
            while parts and written >= len(parts[0]):
                written -= len(parts[0])
                parts.pop(0)
            if parts and written:
                parts[0] = parts[0][written:]


def _read_exact(n):
    """n bytes from the worker, read straight into one buffer (no pieces to join)."""
    buf = bytearray(n)
    view = memoryview(buf)
    filled = 0
    while filled < n:
        got = os.readv(IN_FD, [view[filled:]])
        if not got:
            return None
        filled += got
    return buf


def _attach(job, attached):
    """Puts each attachment (bytes written after the frame, read into a buffer of its own) where
    the job's document holds its `{"$attachment": i}` marker."""

    def resolve(item):
        if isinstance(item, dict) and "$attachment" in item:
            return attached[item["$attachment"]]
        return item

    for field in ("args", "constructor_args"):
        if isinstance(job.get(field), list):
            job[field] = [resolve(item) for item in job[field]]
    for field in ("kwargs", "constructor_kwargs"):
        if isinstance(job.get(field), dict):
            job[field] = {key: resolve(item) for key, item in job[field].items()}


def reader_thread(loop, dispatch):
    while True:
        header = _read_exact(4)
        if header is None:
            break
        (length,) = struct.unpack(">I", header)
        body = _read_exact(length)
        if body is None:
            break
        try:
            frame = msgpack.unpackb(body, raw=False, strict_map_key=False)
            attached = [_read_exact(int(n)) for n in frame.get("attachments") or []]
            if any(a is None for a in attached):
                break
            if attached:
                _attach(frame["job"], attached)
        except Exception as exc:
            # A frame this process cannot read leaves the protocol in an unknown state: exit, and
            # the worker answers the calls in flight and starts a new child.
            sys.__stderr__.write(f"ferry runner: unreadable frame from the worker: {type(exc).__name__}: {exc}\n")
            sys.__stderr__.flush()
            os._exit(70)
        loop.call_soon_threadsafe(dispatch, frame)
    end_of_input(loop)


def end_of_input(loop):
    """The worker closed the pipe: it stopped, or it died. No more calls will come.

    When this process leads its own process group (the worker starts it that way), everything
    user code started in it goes too, this process included, even if a call blocks the event
    loop: a daemon left behind would otherwise outlive its worker.
    """
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    loop.call_soon_threadsafe(loop.stop)


# ---------------------------------------------------------------------------------------------
# Per-call output capture
# ---------------------------------------------------------------------------------------------

current_call = contextvars.ContextVar("ferry_current_call", default=None)


class RoutedStream(io.TextIOBase):
    """sys.stdout / sys.stderr replacement: text written inside a call goes to that call.

    The call is found through a context variable, which asyncio tasks and asyncio.to_thread
    carry, so concurrent calls each capture their own output. Writes outside any call (or from
    threads the user started themselves) go to the real stream, which the worker logs.
    """

    def __init__(self, name, fallback):
        super().__init__()
        self.name = name
        self.fallback = fallback

    def write(self, text):
        call = current_call.get()
        if call is None:
            return self.fallback.write(text)
        call.capture(self.name, text)
        return len(text)

    def flush(self):
        self.fallback.flush()

    def fileno(self):
        return self.fallback.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True

    @property
    def encoding(self):
        return "utf-8"


LINE_END = re.compile(r"\r\n|\r|\n")
# A line longer than this (output with no line end at all) is sent on in pieces of this size.
MAX_LIVE_PIECE_CHARS = 1 << 20


class LiveLines:
    """Splits a call's output into the lines streamed live, in time linear in its size.

    A line still open is kept as a list of the pieces written, joined once when it ends, never
    re-joined per write. A carriage return ends a line too, so progress bars that redraw with
    `\r` stream each state instead of nothing until their final newline.
    """

    def __init__(self, send_line):
        self.send_line = send_line
        self.pieces = {}
        self.sizes = {}
        self.after_cr = set()

    def write(self, stream, text):
        pieces = self.pieces.setdefault(stream, [])
        start = 0
        if stream in self.after_cr:
            self.after_cr.discard(stream)
            if text.startswith("\n"):
                start = 1  # the second half of a \r\n split across two writes
        for match in LINE_END.finditer(text, start):
            pieces.append(text[start : match.start()])
            line = "".join(pieces)
            # A redraw that starts with `\r` (tqdm's first write) ends no line worth sending.
            if line or match.group() != "\r":
                self.send_line(stream, line)
            pieces.clear()
            self.sizes[stream] = 0
            start = match.end()
        if text.endswith("\r") and start == len(text):
            self.after_cr.add(stream)
        if start < len(text):
            pieces.append(text[start:])
            self.sizes[stream] = self.sizes.get(stream, 0) + len(text) - start
            if self.sizes[stream] >= MAX_LIVE_PIECE_CHARS:
                self.send_line(stream, "".join(pieces))
                pieces.clear()
                self.sizes[stream] = 0

    def flush(self):
        for stream, pieces in self.pieces.items():
            if pieces:
                self.send_line(stream, "".join(pieces))
        self.pieces = {}
        self.sizes = {}


class CallLogHandler(logging.Handler):
    def emit(self, record):
        call = current_call.get()
        try:
            text = self.format(record)
        except Exception:
            text = str(record.msg)
        if call is None:
            sys.__stderr__.write(text + "\n")
        else:
            call.capture("log", text + "\n")


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------


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
        self.chunks = []
        self.captured_chars = 0
        self.truncated = False
        self.live = LiveLines(self.send_line)
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
        self.chunks = []

    # Output -----------------------------------------------------------------------------
    def capture(self, stream, text):
        if self.captured_chars < MAX_CAPTURE_CHARS:
            self.chunks.append(text)
            self.captured_chars += len(text)
        else:
            self.truncated = True
        self.live.write(stream, text)

    def send_line(self, stream, line):
        # Whole lines: the worker redacts secrets, then clips long lines for display.
        send({"t": "log", "id": self.id, "stream": stream, "line": line})

    def flush_lines(self):
        self.live.flush()

    def stdout(self):
        text = "".join(self.chunks)
        if self.truncated:
            text += f"\n[output truncated at {MAX_CAPTURE_CHARS} characters]\n"
        return text

    # Cancellation -----------------------------------------------------------------------
    def cancel(self, reason, message):
        if self.cancel_reason:
            return
        self.cancel_reason = reason
        self.cancel_message = message
        with self.lock:
            if self.thread_id == MAIN_THREAD_ID:
                # SIGINT to the main thread: its handler raises KeyboardInterrupt there, which
                # breaks a blocking call too (_ferry_main_thread.py).
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
        encoded = encode_value(value, self.format, f"yield[{index}]")
        self.stream_count += 1
        if self.aggregate is not None:
            self.aggregate.append(value)
        send({"t": "yield", "id": self.id, "index": index, "value": encoded})


class Instance:
    def __init__(self, obj, class_name):
        now = utc_now()
        self.obj = obj
        self.class_name = class_name
        self.created_at = now
        self.last_used = now
        self.method_calls = 0
        self.in_use = 0

    def info(self, created, rebuilt):
        return {
            "class_name": self.class_name,
            "created_at": self.created_at,
            "method_calls": self.method_calls,
            "last_used": self.last_used,
            "created": created,
            "rebuilt": rebuilt,
        }


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class Runner:
    def __init__(self, loop):
        self.loop = loop
        self.calls = {}
        self.instances = collections.OrderedDict()
        self.namespaces = {}
        self.instance_locks = {}

    # Dispatch ---------------------------------------------------------------------------
    def dispatch(self, frame):
        kind = frame.get("t")
        if kind == "call":
            call = Call(frame["id"], frame["job"])
            self.calls[call.id] = call
            call.task = self.loop.create_task(self.run_call(call))
        elif kind == "cancel":
            call = self.calls.get(frame["id"])
            if call is not None:
                call.cancel(frame.get("reason") or E_CANCELLED, frame.get("message") or "Cancelled by request")
        elif kind == "rpc" and frame.get("method") == "echo":
            send({"t": "reply", "id": frame["id"], "ok": True, "value": frame.get("params")})
        elif kind == "rpc":
            self.loop.create_task(self.run_rpc(frame))

    async def run_rpc(self, frame):
        method = frame.get("method")
        params = frame.get("params") or {}
        try:
            if method == "ping":
                value = {"pong": True, "calls": len(self.calls), "instances": len(self.instances)}
            elif method == "check_requirements":
                value = check_requirements(params.get("requirements") or [])
            elif method == "invalidate_import_caches":
                value = invalidate_import_caches()
            elif method == "gpu_memory":
                value = gpu_memory()
            else:
                raise ValueError(f"unknown method {method!r}")
            send({"t": "reply", "id": frame["id"], "ok": True, "value": value})
        except Exception as exc:
            send({"t": "reply", "id": frame["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})

    async def run_call(self, call):
        current_call.set(call)
        try:
            response = await self.execute(call)
        except BaseException as exc:  # noqa: BLE001 - every outcome must become a response
            response = self.error_response(call, exc)
        finally:
            call.flush_lines()
            self.calls.pop(call.id, None)
        response["stdout"] = call.stdout()
        if call.generator or call.stream_count:
            response["stream_count"] = call.stream_count
        try:
            send({"t": "result", "id": call.id, "response": response})
        except Exception as exc:  # a response that cannot be framed still gets an answer
            send({"t": "result", "id": call.id, "response": {"success": False, "error_type": E_SERIALIZATION, "error": str(exc), "stdout": ""}})
        finally:
            call.release()

    # Execution --------------------------------------------------------------------------
    async def execute(self, call):
        job = call.job
        kind = job.get("execution_type") or "function"
        module_dir = write_modules(job.get("modules") or {})
        try:
            if kind == "function":
                return await self.execute_function(call, job)
            if kind == "class":
                return await self.execute_method(call, job)
            if kind == "destroy":
                iid = job.get("instance_id")
                destroyed = self.instances.pop(iid, None) is not None
                return {"success": True, "result": None, "json_result": None, "instance_id": iid, "details": {"destroyed": destroyed}}
            raise ValueError(f"unknown execution_type {kind!r}")
        finally:
            if module_dir:
                remove_modules(module_dir)

    def namespace(self, source, label):
        """The module namespace of `source`, executed once per worker and reused.

        Like an imported module: top-level work (imports, a model loaded at module level) is
        paid by the first call only. A source whose top level fails is executed again next time.
        """
        # The label is part of the key: code objects carry their file name into tracebacks.
        key = hashlib.sha256(f"{label}\0{source}".encode("utf-8")).hexdigest()
        ns = self.namespaces.get(key)
        if ns is None:
            code = compile(source, label, "exec")
            ns = {"__name__": "__ferry_main__", "__builtins__": __builtins__}
            exec(code, ns)
            if len(self.namespaces) >= 256:
                self.namespaces.pop(next(iter(self.namespaces)))
            self.namespaces[key] = ns
        return ns, key

    async def execute_function(self, call, job):
        name = job["function_name"]
        source = job.get("function_code")
        if not source:
            raise NameError(f"function {name!r}: no function_code was sent")
        ns, _ = self.namespace(source, code_label(job, "function"))
        fn = ns.get(name)
        if fn is None:
            raise NameError(f"function {name!r} is not defined in function_code (it defines: {defined_names(ns)})")
        if not callable(fn):
            raise TypeError(f"{name!r} in function_code is a {type(fn).__name__}, not a function")
        args, kwargs = self.decode(call, job, "")
        value = await self.invoke(call, fn, args, kwargs)
        return self.success(call, value)

    async def execute_method(self, call, job):
        class_name = job["class_name"]
        iid = job.get("instance_id") or f"{class_name}_{uuid.uuid4().hex[:8]}"
        lock = self.instance_locks.setdefault(iid, asyncio.Lock())
        # Construction of one instance id is serialized, so two concurrent first calls build it once.
        async with lock:
            instance = self.instances.get(iid)
            created = rebuilt = False
            if instance is None or job.get("create_new_instance", True):
                rebuilt = instance is None and job.get("create_new_instance") is False
                instance = await self.construct(call, job, class_name)
                self.instances[iid] = instance
                created = True
                self.evict()
            self.instances.move_to_end(iid)
            instance.in_use += 1
        try:
            method_name = job.get("method_name") or "__call__"
            method = getattr(instance.obj, method_name, None)
            if method is None:
                raise AttributeError(f"{class_name!r} has no method {method_name!r}")
            args, kwargs = self.decode(call, job, "")
            value = await self.invoke(call, method, args, kwargs)
            response = self.success(call, value)
        finally:
            instance.in_use -= 1
            instance.method_calls += 1
            instance.last_used = utc_now()
        response["instance_id"] = iid
        response["instance_info"] = instance.info(created, rebuilt)
        return response

    async def construct(self, call, job, class_name):
        source = job.get("class_code")
        if not source:
            raise NameError(f"class {class_name!r}: this worker does not hold the instance and no class_code was sent")
        ns, _ = self.namespace(source, code_label(job, "class"))
        cls = ns.get(class_name)
        if cls is None or not isinstance(cls, type):
            raise NameError(f"class {class_name!r} is not defined in class_code (it defines: {defined_names(ns)})")
        try:
            args, kwargs = decode_arguments(job.get("constructor_args"), job.get("constructor_kwargs"), call.format, "constructor_")
        except ValueError as exc:
            raise ArgumentDecodeError(str(exc)) from None
        obj = await call.run_in_thread(cls, *args, **kwargs)
        return Instance(obj, class_name)

    def evict(self):
        while len(self.instances) > MAX_INSTANCES:
            for iid, inst in self.instances.items():
                if inst.in_use == 0:
                    del self.instances[iid]
                    self.instance_locks.pop(iid, None)
                    break
            else:
                return

    def decode(self, call, job, prefix):
        try:
            return decode_arguments(job.get("args"), job.get("kwargs"), call.format, prefix)
        except ValueError as exc:
            raise ArgumentDecodeError(str(exc)) from None

    async def invoke(self, call, fn, args, kwargs):
        if inspect.isasyncgenfunction(fn):
            call.generator = True
            async for value in fn(*args, **kwargs):
                call.emit(value)
            return call.aggregate
        if inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        if inspect.isgeneratorfunction(fn):
            call.generator = True
            await call.run_in_thread(self.drain, call, fn(*args, **kwargs))
            return call.aggregate
        value = await call.run_in_thread(fn, *args, **kwargs)
        if inspect.iscoroutine(value):
            return await value
        if inspect.isasyncgen(value):
            call.generator = True
            async for item in value:
                call.emit(item)
            return call.aggregate
        return value

    @staticmethod
    def drain(call, generator):
        try:
            for value in generator:
                call.emit(value)
        finally:
            generator.close()

    def success(self, call, value):
        encoded = encode_value(value, call.format, "result")
        if call.format == "json":
            return {"success": True, "json_result_text": encoded}
        return {"success": True, "result": encoded}

    def error_response(self, call, exc):
        if isinstance(exc, UserKeyboardInterrupt):
            exc = exc.original
        if call.cancel_reason and isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError, CallCancelled)):
            return {"success": False, "error_type": call.cancel_reason, "error": call.cancel_message}
        error_type = type(exc).__name__
        message = str(exc)
        if isinstance(exc, ArgumentDecodeError):
            error_type = E_DESERIALIZATION
        elif isinstance(exc, EncodeError):
            error_type = E_SERIALIZATION
        elif isinstance(exc, MemoryError):
            error_type = E_OOM
            message = message or "the Python process ran out of memory"
        elif is_cuda_oom(exc):
            error_type = E_CUDA_OOM
            free_cuda_cache()
        details = {"python_type": type(exc).__name__}
        register_sources(call.job)
        # The worker redacts secrets, then clips for display (handler/error-text-limit.ts).
        headline = bound_for_transport(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
        trace = bound_for_transport(user_traceback(exc))
        return {
            "success": False,
            "error_type": error_type,
            "error": f"{headline}\n\n{trace}" if trace else headline,
            "error_traceback": trace,
            "details": details,
        }


class ArgumentDecodeError(Exception):
    pass


def defined_names(ns):
    names = sorted(k for k, v in ns.items() if not k.startswith("__") and (callable(v)))
    return ", ".join(names) if names else "nothing callable"


# Far above what the worker shows (500 characters a line and 8,192 in all, both ends kept).
TRANSPORT_LINE_CHARS = 1 << 16
TRANSPORT_TEXT_CHARS = 1 << 20


def _keep_ends(text, limit):
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [...] {text[-half:]}"


def bound_for_transport(text):
    """Error text bounded for the pipe: a 10 MB line echoed back (twice, in a SyntaxError) would
    cost seconds to send and scan. A token this cuts lies 32 KiB from an end of its line (or
    512 KiB from an end of the text), inside the middle the worker's own clip removes after it
    has redacted the rest, so no part of it is ever shown."""
    if len(text) <= TRANSPORT_LINE_CHARS:
        return text
    lines = [_keep_ends(line, TRANSPORT_LINE_CHARS) for line in text.split("\n")]
    return _keep_ends("\n".join(lines), TRANSPORT_TEXT_CHARS)


def code_label(job, kind):
    """The file name the code is compiled under: the caller's file when it came from one (so an
    editor can jump to the line), else the function's or class's name."""
    code_file = job.get("code_file")
    if isinstance(code_file, str) and code_file:
        return code_file
    return f"<{job.get(f'{kind}_name') or f'{kind}_code'}>"


def register_sources(job):
    """Lets tracebacks quote the user's lines. Registered just before formatting, from the failing
    call's own job, so calls with different sources under one label each quote their own. The
    source sent is what ran, so it is quoted even when a file of that name exists on the worker."""
    for kind in ("function", "class"):
        source = job.get(f"{kind}_code")
        if source:
            label = code_label(job, kind)
            linecache.cache[label] = (len(source), None, source.splitlines(True), label)


def user_traceback(exc):
    """The traceback from the user's first frame on: the runner's own frames are noise to them."""
    if isinstance(exc, (EncodeError, ArgumentDecodeError)):
        return ""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    tb = exc.__traceback__
    while tb is not None and _is_plumbing(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    if tb is None:  # raised by the runner itself: the headline says it all
        return ""
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _is_plumbing(filename):
    """The runner and the standard library's thread/asyncio machinery that leads to user code."""
    path = os.path.abspath(filename)
    return path in RUNNER_FILES or (path.startswith(_STDLIB) and ("concurrent" in path or "asyncio" in path))


def is_cuda_oom(exc):
    name = type(exc).__name__
    text = str(exc)
    return name == "OutOfMemoryError" or "CUDA out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text


def free_cuda_cache():
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        import gc

        gc.collect()
        torch.cuda.empty_cache()
    except Exception:
        pass


def gpu_memory():
    torch = sys.modules.get("torch")
    if torch is None:
        return {"source": None}
    try:
        if not torch.cuda.is_available():
            return {"source": "torch", "cuda": False}
        return {
            "source": "torch",
            "cuda": True,
            "allocated_mib": round(torch.cuda.memory_allocated() / 2**20, 1),
            "reserved_mib": round(torch.cuda.memory_reserved() / 2**20, 1),
            "device": torch.cuda.get_device_name(),
        }
    except Exception as exc:
        return {"source": "torch", "error": str(exc)}


# ---------------------------------------------------------------------------------------------
# `modules`: sources shipped with a call
# ---------------------------------------------------------------------------------------------


def write_modules(modules):
    if not modules:
        return None
    root = tempfile.mkdtemp(prefix="ferry-modules-")
    for rel, source in modules.items():
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm.startswith("..") or norm in ("", ".") or "\x00" in rel:
            shutil.rmtree(root, ignore_errors=True)
            raise ValueError(f"modules: path {rel!r} must be relative and stay inside the module directory")
        target = os.path.join(root, norm)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(source)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    return root


def remove_modules(root):
    if root in sys.path:
        sys.path.remove(root)
    # Modules imported from this call's directory must not shadow the next call's sources.
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(root + os.sep):
            del sys.modules[name]
    shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Import caches after installs
# ---------------------------------------------------------------------------------------------


def invalidate_import_caches():
    import site

    importlib.invalidate_caches()
    added = []
    for directory in site.getsitepackages() + [site.getusersitepackages()]:
        if os.path.isdir(directory) and directory not in sys.path:
            site.addsitedir(directory)
            added.append(directory)
    return {"added_paths": added}


# ---------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------


def apply_memory_limit():
    limit_mb = os.environ.get("FERRY_CHILD_MEMORY_LIMIT_MB")
    if not limit_mb:
        return
    import resource

    limit = int(limit_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def move_protocol_fds():
    """Moves the protocol pipes out of user code's way, before any user code runs.

    The worker hands them over as fds 3 and 4, numbers user code reaches by accident
    (`os.close(3)` after its own file) or on purpose (a forged frame written to fd 4), and that
    every process it starts through a shell inherits. They are moved to high descriptors that
    are closed on exec, and 3 and 4 then point at /dev/null: were they closed, the next files
    the runner opens (asyncio's own descriptors) would take those numbers, in reach again.
    """
    global IN_FD, OUT_FD
    import fcntl
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    floor = max(10, min(1000, soft // 2))
    moved_in = fcntl.fcntl(IN_FD, fcntl.F_DUPFD_CLOEXEC, floor)
    moved_out = fcntl.fcntl(OUT_FD, fcntl.F_DUPFD_CLOEXEC, floor)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, IN_FD)
    os.dup2(null, OUT_FD)
    os.close(null)
    IN_FD, OUT_FD = moved_in, moved_out


def serve_frames(loop, runner):
    """The event loop's thread: frames in, calls scheduled, frames out."""
    asyncio.set_event_loop(loop)
    threading.Thread(target=reader_thread, args=(loop, runner.dispatch), daemon=True, name="ferry-frames").start()
    send(
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
    move_protocol_fds()
    # Ctrl-C in a terminal reaches the whole process group; the worker decides what stops, so
    # a SIGINT interrupts only a call the worker cancelled.
    main_thread.install()
    faulthandler.enable(file=sys.__stderr__)
    apply_memory_limit()
    sys.stdout = RoutedStream("stdout", sys.__stdout__)
    sys.stderr = RoutedStream("stderr", sys.__stderr__)
    handler = CallLogHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("FERRY_PYTHON_LOG_LEVEL", "INFO").upper())

    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=int(os.environ.get("FERRY_MAX_THREADS", "64")), thread_name_prefix="ferry-call"))
    runner = Runner(loop)
    threading.Thread(target=serve_frames, args=(loop, runner), name="ferry-loop").start()
    # Synchronous calls run here, where a cancel's signal can break a blocking call.
    main_thread.serve()


if __name__ == "__main__":
    main()
