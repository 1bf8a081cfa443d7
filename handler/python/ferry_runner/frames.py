"""Frames between the worker and this process: a 4-byte big-endian length, one MessagePack map,
then the attachments the map lists by size in `attachments`.

An attachment is one value's encoded bytes kept out of the MessagePack document, so that a large
value is never copied into (or out of) the document: the worker writes an argument's bytes after
the frame and this process reads each into a buffer of its own; a large result or yielded value
leaves the same way, written from the buffers that hold it (an array's own memory), or, when
the worker names the local server's blob folder for the call, as a file of its own there.
"""

import mmap
import os
import signal
import struct
import sys
import threading
import uuid

import msgpack

from .main_thread import MainThreadExecutor

# The protocol's pipes; `move_protocol_fds` moves them out of user code's reach at start-up.
IN_FD = int(os.environ.get("FERRY_IN_FD", "3"))
OUT_FD = int(os.environ.get("FERRY_OUT_FD", "4"))
# Buffers read from the worker from this size on are mappings of their own (_fresh_buffer).
_MAPPED_MIN_BYTES = 1 << 20
# At most this many buffers go to one writev call (the kernel's IOV_MAX).
_MAX_IOVECS = 1024

_write_lock = threading.Lock()
main_thread = MainThreadExecutor()


def send(frame, attachments=()):
    """Writes a frame and its attachments, each a list of buffers whose concatenation is its bytes.

    Header, document and attachments leave as separate buffers of one write sequence, under the
    write lock: nothing is joined to be written, so a large value goes from its own memory into
    the pipe.
    """
    attached = [[memoryview(part).cast("B") for part in parts] for parts in attachments]
    if attached:
        frame["attachments"] = [sum(view.nbytes for view in views) for views in attached]
    data = msgpack.packb(frame, use_bin_type=True)
    views = [memoryview(struct.pack(">I", len(data))), memoryview(data)]
    for parts in attached:
        views.extend(view for view in parts if view.nbytes)
    with main_thread.shielded(), _write_lock:
        _write_all(OUT_FD, views)


def write_value_file(directory, parts):
    """Writes a value's bytes (a list of buffers, in order) as a file of its own in `directory`,
    the local server's blob folder, and answers its name: the worker moves the file into the
    value's place there, so the bytes never cross the pipe or the worker's memory."""
    name = f"child-{uuid.uuid4().hex}.value"
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, [view for view in (memoryview(part).cast("B") for part in parts) if view.nbytes])
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    return name


def _write_all(fd, views):
    start = 0
    while start < len(views):
        written = os.writev(fd, views[start : start + _MAX_IOVECS])
        while start < len(views) and written >= len(views[start]):
            written -= len(views[start])
            start += 1
        if written:
            views[start] = views[start][written:]


def _fresh_buffer(n):
    """A writable buffer of n bytes. A large one is a mapping of its own, advised to use 2 MB
    pages where the kernel offers them (transparent huge pages): filling fresh memory a 4 KB page
    at a time costs more than the read itself (on a VM, 2 to 4 ms per MB against 0.1 with 2 MB
    pages). Its memory goes back to the system when the last value over it is freed."""
    if n < _MAPPED_MIN_BYTES:
        return bytearray(n)
    buf = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            buf.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # a kernel without transparent huge pages: 4 KB pages it is
            pass
    return buf


def read_exact(n):
    """n bytes from the worker, read straight into one buffer (no pieces to join)."""
    buf = _fresh_buffer(n)
    view = memoryview(buf)
    filled = 0
    while filled < n:
        got = os.readv(IN_FD, [view[filled:]])
        if not got:
            return None
        filled += got
    return buf


def _attach(job, attached):
    """Puts each attachment (read into a buffer of its own) where the job's document holds its
    `{"$attachment": i}` marker."""

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
        header = read_exact(4)
        if header is None:
            break
        (length,) = struct.unpack(">I", header)
        body = read_exact(length)
        if body is None:
            break
        try:
            frame = msgpack.unpackb(body, raw=False, strict_map_key=False)
            attached = [read_exact(int(n)) for n in frame.get("attachments") or []]
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
        # This loop's names would otherwise hold the last call's frame and its arguments (their
        # buffers) until the next frame arrives, long after the call itself has let them go.
        del frame, body, attached
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
