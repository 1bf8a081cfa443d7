/**
 * Python code that checks a finished call leaves nothing alive in the child: `start()` turns the
 * cyclic collector off and starts tracemalloc, the calls under test append weak references to
 * what they got and made to `REFS`, and `alive()` answers [references still alive, bytes traced
 * since start()].
 */
export function memoryProbeCode(calls: string[]): string {
  return [
    "import gc, weakref, tracemalloc",
    "import numpy as np",
    "REFS = []",
    "def start():",
    "    gc.collect()",
    "    gc.disable()",
    "    tracemalloc.start()",
    "    return tracemalloc.get_traced_memory()[0]",
    ...calls,
    "def alive():",
    "    n = sum(1 for r in REFS if r() is not None)",
    "    current = tracemalloc.get_traced_memory()[0]",
    "    tracemalloc.stop()",
    "    gc.enable()",
    "    return [n, current]",
  ].join("\n");
}
