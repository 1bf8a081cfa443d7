"""The runner: frames from the worker dispatched to calls and requests, and a call's code run to
a response (functions, class methods, generators; synchronous or async)."""

import hashlib
import inspect
import sys
import uuid

from _ferry_requirements import check_requirements

from .calls import Call
from .errors import E_CANCELLED, E_SERIALIZATION, ArgumentDecodeError, code_label, error_response
from .frames import send
from .instances import Instance, InstanceCache
from .output import current_call
from .shipped_modules import invalidate_import_caches, remove_modules, write_modules
from .values import decode_arguments, encode_for_frame

# Module namespaces kept (oldest dropped first).
MAX_NAMESPACES = 256


class Runner:
    def __init__(self, loop):
        self.loop = loop
        self.calls = {}
        self.instances = InstanceCache()
        self.namespaces = {}

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
        # Large encoded values of the response, written after its frame (values.encode_for_frame).
        attachments = []
        try:
            response = await self.execute(call, attachments)
        except BaseException as exc:  # noqa: BLE001 - every outcome must become a response
            response = error_response(call, exc)
            attachments = []
        finally:
            call.output.flush_lines()
            self.calls.pop(call.id, None)
        response["stdout"] = call.output.text()
        if call.generator or call.stream_count:
            response["stream_count"] = call.stream_count
        try:
            send({"t": "result", "id": call.id, "response": response}, attachments)
        except Exception as exc:  # a response that cannot be framed still gets an answer
            send({"t": "result", "id": call.id, "response": {"success": False, "error_type": E_SERIALIZATION, "error": str(exc), "stdout": ""}})
        finally:
            call.release()

    # Execution --------------------------------------------------------------------------
    async def execute(self, call, attachments):
        job = call.job
        kind = job.get("execution_type") or "function"
        module_dir = write_modules(job.get("modules") or {})
        try:
            if kind == "function":
                return await self.execute_function(call, job, attachments)
            if kind == "class":
                return await self.execute_method(call, job, attachments)
            if kind == "destroy":
                iid = job.get("instance_id")
                destroyed = self.instances.destroy(iid)
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
            if len(self.namespaces) >= MAX_NAMESPACES:
                self.namespaces.pop(next(iter(self.namespaces)))
            self.namespaces[key] = ns
        return ns

    async def execute_function(self, call, job, attachments):
        name = job["function_name"]
        source = job.get("function_code")
        if not source:
            raise NameError(f"function {name!r}: no function_code was sent")
        ns = self.namespace(source, code_label(job, "function"))
        fn = ns.get(name)
        if fn is None:
            raise NameError(f"function {name!r} is not defined in function_code (it defines: {defined_names(ns)})")
        if not callable(fn):
            raise TypeError(f"{name!r} in function_code is a {type(fn).__name__}, not a function")
        args, kwargs = decode(call, job.get("args"), job.get("kwargs"), "")
        value = await self.invoke(call, fn, args, kwargs)
        return success(call, value, attachments)

    async def execute_method(self, call, job, attachments):
        class_name = job["class_name"]
        iid = job.get("instance_id") or f"{class_name}_{uuid.uuid4().hex[:8]}"
        instance, created, rebuilt = await self.instances.acquire(
            iid, job.get("create_new_instance", True), lambda: self.construct(call, job, class_name)
        )
        try:
            method_name = job.get("method_name") or "__call__"
            method = getattr(instance.obj, method_name, None)
            if method is None:
                raise AttributeError(f"{class_name!r} has no method {method_name!r}")
            args, kwargs = decode(call, job.get("args"), job.get("kwargs"), "")
            value = await self.invoke(call, method, args, kwargs)
            response = success(call, value, attachments)
        finally:
            self.instances.release(instance)
        response["instance_id"] = iid
        response["instance_info"] = instance.info(created, rebuilt)
        return response

    async def construct(self, call, job, class_name):
        source = job.get("class_code")
        if not source:
            raise NameError(f"class {class_name!r}: this worker does not hold the instance and no class_code was sent")
        ns = self.namespace(source, code_label(job, "class"))
        cls = ns.get(class_name)
        if cls is None or not isinstance(cls, type):
            raise NameError(f"class {class_name!r} is not defined in class_code (it defines: {defined_names(ns)})")
        args, kwargs = decode(call, job.get("constructor_args"), job.get("constructor_kwargs"), "constructor_")
        obj = await call.run_in_thread(cls, *args, **kwargs)
        return Instance(obj, class_name)

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
            await call.run_in_thread(drain, call, fn(*args, **kwargs))
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


def drain(call, generator):
    try:
        for value in generator:
            call.emit(value)
    finally:
        generator.close()


def decode(call, args, kwargs, prefix):
    try:
        return decode_arguments(args, kwargs, call.format, prefix)
    except ValueError as exc:
        raise ArgumentDecodeError(str(exc)) from None


def success(call, value, attachments):
    encoded = encode_for_frame(value, call.format, "result", attachments, call.job.get("value_files"))
    if call.format == "json":
        return {"success": True, "json_result_text": encoded}
    return {"success": True, "result": encoded}


def defined_names(ns):
    names = sorted(k for k, v in ns.items() if not k.startswith("__") and (callable(v)))
    return ", ".join(names) if names else "nothing callable"


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
