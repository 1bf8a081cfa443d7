"""A CPU stand-in for the handful of torch calls scripts/gpu-check.py makes, backed by numpy.

It lets the GPU check's own plumbing (jobs through --test_input and the local API, the class
instance kept across calls, the out-of-memory path and the call after it) run on a machine
without a GPU or torch. It proves nothing about a GPU: the figures it yields are meaningless.
"""
import types

import numpy as np

__version__ = "0.0+fake"
version = types.SimpleNamespace(cuda="fake")
backends = types.SimpleNamespace(cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False)))
float32, float64, uint8 = np.float32, np.float64, np.uint8

_DEVICE_BYTES = 1 << 30
_rng = np.random.default_rng(0)


class OutOfMemoryError(RuntimeError):
    pass


class device:
    def __init__(self, kind):
        self.type = kind

    def __str__(self):
        return "cuda:0" if self.type == "cuda" else self.type


class Tensor:
    def __init__(self, array, where="cuda"):
        self.a = np.asarray(array)
        self._where = where

    def _new(self, array):
        return Tensor(array, self._where)

    def __matmul__(self, other):
        return self._new(self.a @ other.a)

    def __sub__(self, other):
        return self._new(self.a - other.a)

    def __getitem__(self, key):
        return self._new(self.a[key])

    def __float__(self):
        return float(self.a)

    def double(self):
        return self._new(self.a.astype(np.float64))

    def float(self):
        return self._new(self.a.astype(np.float32))

    def cpu(self):
        return Tensor(self.a, "cpu")

    def abs(self):
        return self._new(np.abs(self.a))

    def max(self):
        return self._new(self.a.max())

    def sum(self):
        return self._new(self.a.sum())

    def numel(self):
        return int(self.a.size)

    @property
    def device(self):
        return device(self._where)


def manual_seed(seed):
    global _rng
    _rng = np.random.default_rng(seed)


def randn(*shape, device=None, dtype=np.float32):
    return Tensor(_rng.standard_normal(shape).astype(dtype))


def ones(*shape, device=None, dtype=np.float32):
    return Tensor(np.ones(shape, dtype=dtype))


def empty(size, dtype=np.uint8, device=None):
    if size * np.dtype(dtype).itemsize > _DEVICE_BYTES:
        raise OutOfMemoryError(
            f"CUDA out of memory. Tried to allocate {size / 2**30:.2f} GiB. GPU 0 has a total capacity of 1.00 GiB (fake torch)"
        )
    return Tensor(np.empty(size, dtype=dtype))


class inference_mode:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Module:
    def to(self, where):
        return self

    def eval(self):
        return self

    def parameters(self):
        return iter(())


class _Linear(_Module):
    def __init__(self, n_in, n_out):
        self.weight = Tensor((_rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32))
        self.bias = Tensor(np.zeros(n_out, dtype=np.float32))

    def __call__(self, x):
        return Tensor(x.a @ self.weight.a.T + self.bias.a)

    def parameters(self):
        return iter((self.weight, self.bias))


class _GELU(_Module):
    def __call__(self, x):
        return Tensor(0.5 * x.a * (1 + np.tanh(0.7978845608 * (x.a + 0.044715 * x.a**3))))


class _Sequential(_Module):
    def __init__(self, *modules):
        self.modules = modules

    def __call__(self, x):
        for m in self.modules:
            x = m(x)
        return x

    def parameters(self):
        return iter([p for m in self.modules for p in m.parameters()])


nn = types.SimpleNamespace(Linear=_Linear, GELU=_GELU, Sequential=_Sequential, Module=_Module)

cuda = types.SimpleNamespace(
    OutOfMemoryError=OutOfMemoryError,
    is_available=lambda: True,
    synchronize=lambda: None,
    empty_cache=lambda: None,
    get_device_name=lambda index=0: "Fake GPU (numpy)",
    memory_allocated=lambda: 0,
    memory_reserved=lambda: 0,
    mem_get_info=lambda: (_DEVICE_BYTES, _DEVICE_BYTES),
)
