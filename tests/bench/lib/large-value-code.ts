/** The Python functions the end-to-end large-value benches call (in the group and in a caller process of its own). */
export const LARGE_VALUE_PY = `
import numpy as np

def nbytes(x):
    return int(x.nbytes)

MADE = {}

def make(n):
    # Made once per size and kept (one size at a time), so that a timed call measures the
    # result's way back, not numpy's work. Counted in integers: float32 holds every integer only
    # up to 2**24.
    if n not in MADE:
        MADE.clear()
        MADE[n] = (np.arange(n, dtype=np.uint32) % 1000).astype(np.float32)
    return MADE[n]

def echo(x):
    return x
`;
