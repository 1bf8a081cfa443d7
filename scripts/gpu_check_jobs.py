"""The jobs scripts/gpu-check.py hands the worker: the user code each runs on the GPU, and the
requests that carry it, shaped as RunPod hands them to a worker."""

MATMUL_CODE = '''
def matmul_4096(n=4096, repeats=10):
    import time
    import torch
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    device = torch.device("cuda")
    torch.manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=torch.float32)
    b = torch.randn(n, n, device=device, dtype=torch.float32)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    c = a @ b
    torch.cuda.synchronize()
    first_ms = (time.perf_counter() - t0) * 1000  # includes cuBLAS handle creation and kernel selection
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c = a @ b
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    median_ms = times[len(times) // 2]
    # A corner of the product against float64 on the CPU: the GPU's answer is the right one.
    ref = a[:64].double().cpu() @ b[:, :64].double().cpu()
    max_abs_err = float((c[:64, :64].double().cpu() - ref).abs().max())
    return {
        "device": torch.cuda.get_device_name(0),
        "n": n,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "first_ms": round(first_ms, 3),
        "median_ms": round(median_ms, 3),
        "min_ms": round(times[0], 3),
        "tflops": round(2 * n ** 3 / (median_ms / 1000) / 1e12, 2),
        "max_abs_err": max_abs_err,
    }
'''

MODEL_CODE = '''
class TinyModel:
    """About 25 M parameters (100 MB of float32): small, but large enough that loading it
    twice would show in the times."""

    def __init__(self, width=2048, depth=6):
        import time
        import torch
        t0 = time.perf_counter()
        torch.manual_seed(0)
        layers = []
        for _ in range(depth):
            layers += [torch.nn.Linear(width, width), torch.nn.GELU()]
        self.model = torch.nn.Sequential(*layers).to("cuda").eval()
        torch.cuda.synchronize()
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.width = width
        self.calls = 0

    def predict(self, batch=64):
        import time
        import torch
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = torch.randn(batch, self.width, device="cuda")
            y = self.model(x)
            checksum = float(y.float().sum())
        torch.cuda.synchronize()
        self.calls += 1
        return {
            "calls": self.calls,
            "object_id": id(self),
            "load_ms": round(self.load_ms, 3),
            "forward_ms": round((time.perf_counter() - t0) * 1000, 3),
            "weights_device": str(next(self.model.parameters()).device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "memory_allocated_mib": round(torch.cuda.memory_allocated() / 2**20, 1),
            "checksum_finite": checksum == checksum and abs(checksum) != float("inf"),
        }
'''

OOM_CODE = '''
def allocate_too_much(factor=2.0):
    import torch
    free, total = torch.cuda.mem_get_info()
    # One allocation larger than the whole device: it cannot succeed on any GPU.
    x = torch.empty(int(total * factor), dtype=torch.uint8, device="cuda")
    return int(x.numel())
'''

HEALTHY_CODE = '''
def healthy_after_oom(n=1024):
    import torch
    a = torch.ones(n, n, device="cuda")
    value = float((a @ a)[0, 0])
    torch.cuda.synchronize()
    return {
        "value": value,
        "expected": float(n),
        "memory_allocated_mib": round(torch.cuda.memory_allocated() / 2**20, 1),
        "memory_reserved_mib": round(torch.cuda.memory_reserved() / 2**20, 1),
    }
'''

INSTANCE_ID = "gpu-check-tinymodel"


def function_job(name: str, code: str, args=None, kwargs=None) -> dict:
    return {
        "execution_type": "function",
        "function_name": name,
        "function_code": code,
        "args": args or [],
        "kwargs": kwargs or {},
        "serialization_format": "json",
    }


def method_job(create: bool, width: int, batch: int = 64) -> dict:
    return {
        "execution_type": "class",
        "class_name": "TinyModel",
        "class_code": MODEL_CODE,
        "method_name": "predict",
        "instance_id": INSTANCE_ID,
        "create_new_instance": create,
        "kwargs": {"batch": batch},
        "constructor_kwargs": {"width": width},
        "serialization_format": "json",
    }
