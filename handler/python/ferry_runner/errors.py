"""A failed call's response: its error type, its headline and the user's part of the traceback."""

import asyncio
import gc
import linecache
import os
import sys
import traceback

from .calls import UserKeyboardInterrupt
from .main_thread import CallCancelled
from .values import EncodeError

# Error categories the worker understands, beside Python exception class names.
E_CANCELLED = "Cancelled"
E_SERIALIZATION = "SerializationError"
E_DESERIALIZATION = "DeserializationError"
E_OOM = "OutOfMemory"
E_CUDA_OOM = "CudaOutOfMemory"

# Every file of this package, and the script that starts it, is Ferry's plumbing in a traceback.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ENTRY_SCRIPT = os.path.join(os.path.dirname(_PACKAGE_DIR.rstrip(os.sep)), "runner.py")
_STDLIB = os.path.dirname(os.__file__) + os.sep

# Far above what the worker shows (500 characters a line and 8,192 in all, both ends kept).
TRANSPORT_LINE_CHARS = 1 << 16
TRANSPORT_TEXT_CHARS = 1 << 20


class ArgumentDecodeError(Exception):
    pass


def error_response(call, exc):
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


def _is_plumbing(filename):
    """The runner and the standard library's thread/asyncio machinery that leads to user code."""
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR) or path == _ENTRY_SCRIPT:
        return True
    return path.startswith(_STDLIB) and ("concurrent" in path or "asyncio" in path)


def is_cuda_oom(exc):
    name = type(exc).__name__
    text = str(exc)
    return name == "OutOfMemoryError" or "CUDA out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text


def free_cuda_cache():
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        gc.collect()
        torch.cuda.empty_cache()
    except Exception:
        pass

