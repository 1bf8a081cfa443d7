"""Reads the signatures of Python files from their annotations, without running them.

`ferry types` runs this script with the Python Ferry uses. Each file is parsed with `ast`
(nothing is imported or executed), names are resolved through the file's own imports, and
every annotation becomes a small JSON type tree (`annotation_types.py`) that the TypeScript side
turns into declarations and zod schemas. Output: one JSON document on stdout,
`[{"path", "module"} | {"path", "error": {"line", "column", "message"}}]`.
"""
import ast
import json
import os
import sys

# The sibling module, also when Python runs with safe paths (PYTHONSAFEPATH, -P).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from annotation_types import YIELDING, ModuleTypes, text, unknown  # noqa: E402


class Signatures(ModuleTypes):
    """The functions and classes of one file, with their parameters and results."""

    def function(self, fn, bound=False):
        a = fn.args
        params = []
        positional = a.posonlyargs + a.args
        first_default = len(positional) - len(a.defaults)
        for i, p in enumerate(positional):
            params.append(self.param(p, "positional" if i < len(a.posonlyargs) else "both", i >= first_default))
        if a.vararg:
            params.append(self.param(a.vararg, "varargs", True))
        for p, default in zip(a.kwonlyargs, a.kw_defaults):
            params.append(self.param(p, "keyword", default is not None))
        if a.kwarg:
            params.append(self.param(a.kwarg, "varkw", True))
        decorators = {self.qualify(d) for d in fn.decorator_list}
        if bound and "builtins.staticmethod" not in decorators and params and params[0]["kind"] in ("positional", "both"):
            params = params[1:]  # self / cls
        is_async = isinstance(fn, ast.AsyncFunctionDef)
        generator = yields(fn)
        result = self.type_of(fn.returns) if fn.returns is not None else {"k": "unknown", "py": ""}
        if generator:
            result = self.yield_type(fn.returns)
        return {"name": fn.name, "line": fn.lineno, "async": is_async, "generator": generator, "params": params, "result": result}

    def yield_type(self, returns):
        """`Iterator[T]`, `Generator[T, S, R]`, `AsyncIterator[T]`, ...: the T each step yields."""
        if returns is None:
            return {"k": "unknown", "py": ""}
        node = returns
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return unknown(node.value)
        if isinstance(node, ast.Subscript) and self.qualify(node.value) in YIELDING:
            first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            return self.type_of(first)
        return dict(unknown(text(returns)), py=text(returns))

    def param(self, p, kind, optional):
        return {"name": p.arg, "kind": kind, "optional": optional, "type": self.type_of(p.annotation)}

    def cls(self, node):
        methods = {}
        ctor = None
        opaque_base = False
        local = self.local_bases(node)
        for base in local:
            inherited = self.cls(base)
            methods.update({m["name"]: m for m in inherited["methods"]})
            ctor = inherited["init"]
            opaque_base = opaque_base or inherited["init"] is None
        for base in node.bases:
            b = self.qualify(base)
            if b not in (None, "builtins.object", "typing.Generic", "typing.Protocol") and not (b.startswith("<local>.") and self.classes.get(b[len("<local>."):]) in local):
                opaque_base = True
        for stmt in node.body:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            decorators = {self.qualify(d.func if isinstance(d, ast.Call) else d) for d in stmt.decorator_list}
            if stmt.name == "__init__":
                ctor = self.function(stmt, bound=True)["params"]
            elif stmt.name.startswith("__") or decorators & {"builtins.property", "functools.cached_property"} or any(
                d and d.endswith(".setter") for d in decorators
            ):
                continue
            else:
                methods[stmt.name] = self.function(stmt, bound=True)
        kind = self.object_kind(node)
        if kind == "dataclass" and not any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in node.body):
            ctor = [
                {"name": f["name"], "kind": "both", "optional": f["default"], "type": f["type"]}
                for f in self.fields(node).values()
            ]
        if ctor is None and not opaque_base:
            ctor = []
        # None: the constructor is inherited from a class this file does not define.
        return {"name": node.name, "line": node.lineno, "init": ctor, "methods": list(methods.values())}

    def read(self, tree):
        # By name: a later definition replaces an earlier one, as it does when the module runs.
        functions = {}
        classes = {}
        for node in self.top_level(tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[node.name] = self.function(node)
            elif isinstance(node, ast.ClassDef) and self.object_kind(node) not in ("typeddict", "namedtuple") and not self.is_enum(node):
                classes[node.name] = self.cls(node)
        for name, node in self.classes.items():
            if self.object_kind(node):
                self.local(name, node)
        types = {k: v for k, v in self.types.items() if v is not None}
        return {"functions": list(functions.values()), "classes": list(classes.values()), "types": types}


def yields(fn):
    """Whether `yield` appears in this function's own body (not in a nested function)."""
    stack = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def read_file(path):
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        return {"path": path, "error": {"line": 0, "column": 0, "message": f"cannot read: {exc.strerror}"}}
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return {"path": path, "error": {"line": exc.lineno or 0, "column": exc.offset or 0, "message": exc.msg}}
    except ValueError as exc:  # null bytes
        return {"path": path, "error": {"line": 0, "column": 0, "message": str(exc)}}
    try:
        return {"path": path, "module": Signatures(tree).read(tree)}
    except Exception as exc:  # an annotation this reader cannot follow: this file only, reported
        return {"path": path, "error": {"line": 0, "column": 0, "message": f"cannot read its annotations: {type(exc).__name__}: {exc}"}}


def main():
    json.dump([read_file(p) for p in sys.argv[1:]], sys.stdout)


if __name__ == "__main__":
    main()
