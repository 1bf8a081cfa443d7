"""Ferry's Python runner: the persistent child that executes calls for the worker.

It reads frames from the worker and writes frames back over two pipes of their own (a 4-byte
big-endian length, then one MessagePack map, then the attachments the map lists), so that user
code's stdout and stderr can never corrupt the protocol. It knows nothing of RunPod: it runs
functions and class methods, keeps class instances alive between calls, captures output per
call, streams generator values, and answers small requests (requirement checks, import cache
invalidation, GPU memory).

One module per concern: `frames` (the pipes), `values` (the value codec), `output` (per-call
output capture), `calls` (a call's execution thread and its cancel), `main_thread` (the main
thread lent to synchronous calls), `errors` (error responses and tracebacks), `instances` (the
class instance cache), `shipped_modules` (sources sent with a call), `runner` (dispatch and
execution) and `main` (start-up). `runner.py` beside this package is the script the worker
starts.

Standard library + msgpack; cloudpickle when present (plain pickle reads what it wrote), numpy
when an array crosses the boundary.
"""
