#!/usr/bin/env python3
"""GPU check of the built Ferry worker, on a machine with an NVIDIA GPU.

Runs jobs through the bundle exactly as RunPod would hand them to it, and prints the figures
(and writes them as JSON with --out):

  1. matmul     one `--test_input` job: two 4096x4096 float32 matrices multiplied on cuda;
                the device name, the time of one multiplication, and a check of the product.
  2. resident   a class that builds a small torch model on the GPU in __init__, called five
                times on one instance through the worker's local API (one worker process, as
                on RunPod): first-call vs warm-call times, and proof that the instance and
                its weights stayed (same object, call counter 1..5, weights still on cuda).
  3. oom        a call that asks for more GPU memory than there is (must fail as
                CudaOutOfMemory), then a healthy call in the same worker (must succeed,
                with the allocator's memory back near what it was) and a sixth call on the
                instance from step 2 (the child and its model survived the OOM).

Needs: `node images/build.mjs` (or `make build`) run first, and a Python with torch (CUDA
build), msgpack, cloudpickle, numpy and packaging: pass it with --python or FERRY_PYTHON.
Standard library only, so it runs with that same Python. Exit code 0 when every check passed.

  python3 scripts/gpu-check.py --python "$(command -v python3)" --out gpu-check.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from gpu_check_jobs import HEALTHY_CODE, MATMUL_CODE, OOM_CODE, function_job, method_job  # noqa: E402  (beside this script)


class Checks:
    def __init__(self) -> None:
        self.results: list[dict] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append({"check": name, "ok": bool(ok), "detail": detail})
        print(f"  [{'ok' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
        return bool(ok)

    @property
    def passed(self) -> bool:
        return all(r["ok"] for r in self.results)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(python: str) -> dict:
    env = dict(os.environ)
    env["FERRY_PYTHON"] = python
    for name in ("RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_ENDPOINT_ID"):
        env.pop(name, None)
    return env


def run_test_input(node: str, bundle: Path, python: str, job: dict, timeout_s: float) -> tuple[int, dict | None, float, str]:
    """One job through `--test_input`; the response comes back through `--test_output`."""
    with tempfile.TemporaryDirectory(prefix="ferry-gpu-check-") as tmp:
        out = Path(tmp) / "output.json"
        started = time.perf_counter()
        proc = subprocess.run(
            [node, str(bundle), "--test_input", json.dumps({"input": job}), "--test_output", str(out)],
            cwd=tmp,
            env=worker_env(python),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        wall_ms = (time.perf_counter() - started) * 1000
        response = json.loads(out.read_text()) if out.exists() else None
        return proc.returncode, response, wall_ms, proc.stderr[-4000:]


class LocalWorker:
    """The bundle in `--rp_serve_api` mode: one worker process, many jobs, like on RunPod."""

    def __init__(self, node: str, bundle: Path, python: str, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")
        self.cwd = tempfile.mkdtemp(prefix="ferry-gpu-check-")
        self.proc = subprocess.Popen(
            [node, str(bundle), "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(self.port)],
            cwd=self.cwd,
            env=worker_env(python),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        return False

    def runsync(self, job: dict, timeout_s: float = 300) -> tuple[dict, float]:
        """The job's FunctionResponse (`output`, with a popped `error` put back) and the wall time."""
        body = json.dumps({"input": job}).encode()
        request = urllib.request.Request(
            f"{self.base}/runsync?wait={int(timeout_s * 1000)}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=timeout_s + 10) as r:
            answer = json.loads(r.read())
        wall_ms = (time.perf_counter() - started) * 1000
        response = dict(answer.get("output") or {}) if isinstance(answer.get("output"), dict) else {}
        if answer.get("error") and not response.get("error"):
            response["error"] = answer["error"]
        response["_status"] = answer.get("status")
        return response, wall_ms

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.cwd, ignore_errors=True)


def short(text: object, n: int = 300) -> str:
    s = str(text or "").strip().splitlines()
    line = s[-1] if s else ""
    return line if len(line) <= n else line[: n - 3] + "..."


def preflight(python: str, checks: Checks) -> dict:
    info: dict = {}
    smi = shutil.which("nvidia-smi")
    if smi:
        r = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version,compute_cap", "--format=csv,noheader"], capture_output=True, text=True)
        info["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    checks.check("nvidia-smi on PATH", smi is not None, info.get("nvidia_smi", ""))
    r = subprocess.run(
        [python, "-c", "import json, torch, msgpack, cloudpickle, numpy, packaging; print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'available': torch.cuda.is_available()}))"],
        capture_output=True,
        text=True,
    )
    ok = r.returncode == 0
    if ok:
        info["python_torch"] = json.loads(r.stdout.strip().splitlines()[-1])
        ok = bool(info["python_torch"]["available"])
    checks.check(f"{python} has torch with CUDA and the runner's modules", ok, r.stdout.strip() if ok else short(r.stderr))
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=str(ROOT / "dist" / "handler.mjs"), help="the built worker (default: dist/handler.mjs)")
    parser.add_argument("--node", default=shutil.which("node") or "node", help="the Node binary")
    parser.add_argument("--python", default=os.environ.get("FERRY_PYTHON") or sys.executable, help="the runner's Python (with torch); default FERRY_PYTHON, else this Python")
    parser.add_argument("--out", help="write the figures and checks here as JSON")
    parser.add_argument("--ready-timeout", type=float, default=180, help="seconds for the worker to answer /health")
    parser.add_argument("--matmul-size", type=int, default=4096, help="matrix side (smaller only to check the script itself)")
    parser.add_argument("--model-width", type=int, default=2048, help="the model's layer width (smaller only to check the script itself)")
    args = parser.parse_args()

    bundle = Path(args.bundle).resolve()
    if not bundle.exists():
        print(f"gpu-check: {bundle} does not exist: run `node images/build.mjs` first", file=sys.stderr)
        return 2

    checks = Checks()
    report: dict = {"bundle": str(bundle), "python": args.python, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    print("preflight", flush=True)
    report["preflight"] = preflight(args.python, checks)
    if not checks.passed:
        print("gpu-check: this machine cannot run the GPU checks (see above)", file=sys.stderr)
        return 1

    # 1. One job through --test_input, as `make test-handler` and RunPod's local test run it.
    print(f"1. matmul {args.matmul_size}x{args.matmul_size} float32 on cuda (--test_input)", flush=True)
    code, response, wall_ms, stderr = run_test_input(args.node, bundle, args.python, function_job("matmul_4096", MATMUL_CODE, kwargs={"n": args.matmul_size}), 600)
    result = (response or {}).get("json_result") if response else None
    checks.check("--test_input exits 0", code == 0, f"exit {code}" + ("" if code == 0 else f"; {short(stderr)}"))
    ok = bool(response and response.get("success") and isinstance(result, dict))
    checks.check("matmul succeeds", ok, "" if ok else short((response or {}).get("error") or stderr))
    if ok:
        checks.check("the product is right (max abs error vs float64 < 0.05)", result["max_abs_err"] < 0.05, f"{result['max_abs_err']:.2e}")
        report["matmul"] = {**result, "process_wall_ms": round(wall_ms, 1)}
        gpus = ((response.get("details") or {}).get("worker") or {}).get("gpus") or (response.get("details") or {}).get("gpus")
        report["matmul"]["reported_gpus"] = gpus
        checks.check("the response's details name the GPU", bool(gpus), json.dumps(gpus) if gpus else "no gpus in details")

    # 2 and 3 need one worker for several jobs: the local API.
    log_path = Path(tempfile.gettempdir()) / "ferry-gpu-check-worker.log"
    worker = LocalWorker(args.node, bundle, args.python, log_path)
    try:
        print(f"starting the worker's local API (log: {log_path})", flush=True)
        if not checks.check("worker answers /health", worker.wait_ready(args.ready_timeout)):
            return finish(report, checks, args.out)

        print("2. resident model: one instance, five calls", flush=True)
        calls = []
        for i in range(5):
            response, wall_ms = worker.runsync(method_job(create=(i == 0), width=args.model_width))
            value = response.get("json_result") if response.get("success") else None
            if not checks.check(f"call {i + 1} succeeds", isinstance(value, dict), "" if isinstance(value, dict) else short(response.get("error"))):
                break
            calls.append({**value, "wall_ms": round(wall_ms, 1), "instance_info": response.get("instance_info")})
        if len(calls) == 5:
            checks.check("one instance served all five calls (same object, counter 1..5)", [c["calls"] for c in calls] == [1, 2, 3, 4, 5] and len({c["object_id"] for c in calls}) == 1)
            checks.check("the weights stayed on the GPU", all(c["weights_device"].startswith("cuda") for c in calls), calls[-1]["weights_device"])
            warm = sorted(c["wall_ms"] for c in calls[1:])
            report["resident"] = {
                "load_ms": calls[0]["load_ms"],
                "first_call_wall_ms": calls[0]["wall_ms"],
                "warm_call_wall_ms_median": warm[len(warm) // 2],
                "first_forward_ms": calls[0]["forward_ms"],
                "warm_forward_ms": [c["forward_ms"] for c in calls[1:]],
                "parameters": calls[0]["parameters"],
                "memory_allocated_mib": calls[-1]["memory_allocated_mib"],
                "calls": calls,
            }
            checks.check("warm calls are faster than the first", report["resident"]["warm_call_wall_ms_median"] < calls[0]["wall_ms"])

        print("3. CUDA out of memory, then a healthy call", flush=True)
        before, _ = worker.runsync(function_job("healthy_after_oom", HEALTHY_CODE))
        response, oom_ms = worker.runsync(function_job("allocate_too_much", OOM_CODE))
        checks.check("the oversized allocation fails", response.get("success") is False, response.get("_status") or "")
        checks.check("it is reported as CudaOutOfMemory", response.get("error_type") == "CudaOutOfMemory", f"error_type={response.get('error_type')!r}: {short(response.get('error'))}")
        after, healthy_ms = worker.runsync(function_job("healthy_after_oom", HEALTHY_CODE))
        value = after.get("json_result") if after.get("success") else None
        checks.check("the next call succeeds on the GPU", isinstance(value, dict) and value["value"] == value["expected"], short(after.get("error")) if not isinstance(value, dict) else "")
        again, _ = worker.runsync(method_job(create=False, width=args.model_width))
        sixth = again.get("json_result") if again.get("success") else None
        checks.check("the resident model survived the OOM (call 6 on the same instance)", isinstance(sixth, dict) and sixth.get("calls") == 6, short(again.get("error")) if not isinstance(sixth, dict) else "")
        report["oom"] = {
            "error_type": response.get("error_type"),
            "error": short(response.get("error")),
            "oom_call_wall_ms": round(oom_ms, 1),
            "healthy_call_wall_ms": round(healthy_ms, 1),
            "memory_allocated_mib_before": (before.get("json_result") or {}).get("memory_allocated_mib"),
            "memory_allocated_mib_after": (value or {}).get("memory_allocated_mib"),
            "memory_reserved_mib_after": (value or {}).get("memory_reserved_mib"),
            "details_after": after.get("details"),
        }
    finally:
        worker.stop()
    return finish(report, checks, args.out)


def finish(report: dict, checks: Checks, out: str | None) -> int:
    report["checks"] = checks.results
    report["passed"] = checks.passed
    print()
    m = report.get("matmul")
    if m:
        print(f"| matmul {m['n']}x{m['n']} fp32 | {m['device']} | median {m['median_ms']} ms ({m['tflops']} TFLOP/s), first {m['first_ms']} ms |")
    r = report.get("resident")
    if r:
        print(f"| resident model | load {r['load_ms']} ms | first call {r['first_call_wall_ms']} ms, warm median {r['warm_call_wall_ms_median']} ms |")
    o = report.get("oom")
    if o:
        print(f"| OOM then healthy | {o['error_type']} in {o['oom_call_wall_ms']} ms | next call {o['healthy_call_wall_ms']} ms |")
    print(f"\ngpu-check: {sum(c['ok'] for c in checks.results)} passed, {sum(not c['ok'] for c in checks.results)} failed")
    if out:
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"gpu-check: figures written to {out}")
    return 0 if checks.passed else 1


if __name__ == "__main__":
    sys.exit(main())
