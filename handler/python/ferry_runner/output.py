"""Per-call output capture: what user code prints or logs inside a call goes to that call, as
its captured stdout and as lines streamed live to the worker."""

import contextvars
import io
import logging
import os
import re
import sys

from .frames import send

MAX_CAPTURE_CHARS = int(os.environ.get("FERRY_MAX_CAPTURE_CHARS", str(4 * 1024 * 1024)))

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



class CallOutput:
    """One call's output: kept for its response (up to MAX_CAPTURE_CHARS) and streamed live."""

    def __init__(self, call_id):
        self.call_id = call_id
        self.chunks = []
        self.captured_chars = 0
        self.truncated = False
        self.live = LiveLines(self.send_line)

    def capture(self, stream, text):
        if self.captured_chars < MAX_CAPTURE_CHARS:
            self.chunks.append(text)
            self.captured_chars += len(text)
        else:
            self.truncated = True
        self.live.write(stream, text)

    def send_line(self, stream, line):
        # Whole lines: the worker redacts secrets, then clips long lines for display.
        send({"t": "log", "id": self.call_id, "stream": stream, "line": line})

    def flush_lines(self):
        self.live.flush()

    def text(self):
        text = "".join(self.chunks)
        if self.truncated:
            text += f"\n[output truncated at {MAX_CAPTURE_CHARS} characters]\n"
        return text

    def release(self):
        self.chunks = []


def install_capture():
    """sys.stdout, sys.stderr and the root logger, routed to the current call."""
    sys.stdout = RoutedStream("stdout", sys.__stdout__)
    sys.stderr = RoutedStream("stderr", sys.__stderr__)
    handler = CallLogHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("FERRY_PYTHON_LOG_LEVEL", "INFO").upper())
