"""Annotations -> type trees, for `read_annotations.py`: the names a file imports, its type
aliases, and its TypedDicts, dataclasses and NamedTuples, all read from the syntax tree.

Type tree nodes (`k` is the kind; `py` the annotation's text):
  int float str bool bytes none datetime date  -- scalars
  list{of} tuple{items} record{of} map{key,of} union{of} literal{values}
  ref{name} (a TypedDict, dataclass or NamedTuple of the file) ndarray{dtype} unknown{note}
"""
import ast

# Where a name really comes from: typing_extensions and collections.abc say the same as typing.
MODULE_ALIASES = {"typing_extensions": "typing", "collections.abc": "typing", "collections": "typing"}

SCALARS = {
    "builtins.int": "int",
    "builtins.float": "float",
    "builtins.str": "str",
    "builtins.bool": "bool",
    "builtins.bytes": "bytes",
    "builtins.bytearray": "bytes",
    "builtins.memoryview": "bytes",
    "builtins.None": "none",
    "types.NoneType": "none",
    "datetime.datetime": "datetime",
    "datetime.date": "date",
}
# numpy scalars come back as Python numbers (`.item()`).
NUMPY_SCALARS = {
    "float": ["float16", "float32", "float64", "float_", "double", "single", "half", "floating"],
    "int": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "int_", "intp", "uint", "integer"],
    "bool": ["bool_"],
}
for _kind, _names in NUMPY_SCALARS.items():
    for _name in _names:
        SCALARS[f"numpy.{_name}"] = _kind

# numpy dtype -> the typed array the codec decodes it to (float16 arrives widened to float32).
DTYPES = {
    "float16": "float32", "half": "float32", "float32": "float32", "single": "float32",
    "float64": "float64", "float_": "float64", "double": "float64",
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "int_": "int64", "intp": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "uint": "uint64",
    "bool_": "bool",
}

LISTS = {"builtins.list", "builtins.set", "builtins.frozenset", "typing.List", "typing.Set", "typing.FrozenSet",
         "typing.Sequence", "typing.MutableSequence", "typing.AbstractSet", "typing.MutableSet", "typing.Collection",
         "typing.Iterable", "typing.Deque", "typing.deque"}
DICTS = {"builtins.dict", "typing.Dict", "typing.Mapping", "typing.MutableMapping", "typing.OrderedDict",
         "typing.DefaultDict", "typing.defaultdict"}
TUPLES = {"builtins.tuple", "typing.Tuple"}
UNWRAP = {"typing.Annotated", "typing.Final", "typing.ClassVar", "typing.Required", "typing.NotRequired", "typing.ReadOnly"}
YIELDING = {"typing.Iterator", "typing.Iterable", "typing.Generator", "typing.AsyncIterator", "typing.AsyncIterable", "typing.AsyncGenerator"}
ANY = {"typing.Any", "builtins.object"}

class ModuleTypes:
    """One file: its imports, its type aliases and the object types it defines."""

    def __init__(self, tree):
        self.imports = {}
        self.aliases = {}
        self.classes = {}
        self.types = {}
        self.resolving = set()
        for node in self.top_level(tree.body):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.imports[a.asname] = a.name
                    else:
                        head = a.name.split(".")[0]
                        self.imports[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    self.imports[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                if self.qualify(node.annotation) == "typing.TypeAlias":
                    self.aliases[node.target.id] = node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if self.looks_like_type(node.value):
                    self.aliases[node.targets[0].id] = node.value
            elif type(node).__name__ == "TypeAlias":  # `type X = ...` (Python 3.12)
                self.aliases[node.name.id] = node.value

    @staticmethod
    def top_level(body):
        """Module statements, including those under `if TYPE_CHECKING:` and `try:` blocks."""
        for node in body:
            if isinstance(node, ast.If):
                yield from ModuleTypes.top_level(node.body)
                yield from ModuleTypes.top_level(node.orelse)
            elif isinstance(node, ast.Try):
                yield from ModuleTypes.top_level(node.body)
            else:
                yield node

    def looks_like_type(self, value):
        if isinstance(value, ast.Subscript):
            return self.qualify(value.value) is not None
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
            return self.looks_like_type(value.left) or self.looks_like_type(value.right)
        if isinstance(value, ast.Call):  # NewType("UserId", int)
            return self.qualify(value.func) == "typing.NewType"
        return False

    def qualify(self, node):
        """The dotted name an expression refers to (`np.float32` -> `numpy.float32`), or None."""
        if isinstance(node, ast.Name):
            if node.id in self.imports:
                name = self.imports[node.id]
            elif node.id in self.classes or node.id in self.aliases:
                return f"<local>.{node.id}"
            else:
                name = f"builtins.{node.id}"
        elif isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            if base is None:
                return None
            name = f"{base}.{node.attr}"
        elif isinstance(node, ast.Constant) and node.value is None:
            return "builtins.None"
        else:
            return None
        for prefix, target in MODULE_ALIASES.items():
            if name.startswith(prefix + "."):
                rest = name[len(prefix) + 1:]
                if prefix != "collections" or rest in ("OrderedDict", "defaultdict", "deque", "Counter"):
                    return f"{target}.{rest}"
        return name

    # ---- annotations -> type trees

    def type_of(self, node):
        if node is None:
            return {"k": "unknown", "py": ""}
        out = self.map(node)
        out.setdefault("py", text(node))
        return out

    def map(self, node):
        out = self.map_node(node)
        out.setdefault("py", text(node))
        return out

    def map_node(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.map(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return unknown(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return union([self.map(node.left), self.map(node.right)])
        if isinstance(node, ast.Subscript):
            return self.generic(node)
        name = self.qualify(node)
        if name is None:
            return unknown(text(node))
        if name in SCALARS:
            return {"k": SCALARS[name]}
        if name in ANY:
            return {"k": "unknown"}
        if name in LISTS or name in TUPLES:
            return {"k": "list", "of": {"k": "unknown"}}
        if name in DICTS:
            return {"k": "record", "of": {"k": "unknown"}}
        if name == "typing.Counter":
            return {"k": "record", "of": {"k": "int"}}
        if name in ("numpy.ndarray", "torch.Tensor", "numpy.typing.NDArray"):
            return {"k": "ndarray", "dtype": None}
        if name.startswith("<local>."):
            return self.local(name[len("<local>."):], node)
        return unknown(text(node))

    def generic(self, node):
        name = self.qualify(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name in UNWRAP:
            return self.map(args[0])
        if name == "typing.Optional":
            return union([self.map(args[0]), {"k": "none"}])
        if name == "typing.Union":
            return union([self.map(a) for a in args])
        if name == "typing.Literal":
            return self.literal(args, node)
        if name in LISTS:
            return {"k": "list", "of": self.map(args[0])}
        if name in TUPLES:
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                return {"k": "list", "of": self.map(args[0])}
            if len(args) == 1 and isinstance(args[0], ast.Tuple) and not args[0].elts:
                return {"k": "tuple", "items": []}
            return {"k": "tuple", "items": [self.map(a) for a in args]}
        if name in DICTS and len(args) == 2:
            key = self.map(args[0])
            value = self.map(args[1])
            if key["k"] == "str":
                return {"k": "record", "of": value}
            return {"k": "map", "key": key, "of": value}
        if name == "typing.Counter":
            key = self.map(args[0])
            return {"k": "record", "of": {"k": "int"}} if key["k"] == "str" else {"k": "map", "key": key, "of": {"k": "int"}}
        if name == "numpy.typing.NDArray":
            return {"k": "ndarray", "dtype": self.dtype(args[0])}
        if name == "numpy.ndarray":
            # ndarray[shape, dtype[X]]
            dtype = args[1] if len(args) == 2 else None
            if isinstance(dtype, ast.Subscript) and self.qualify(dtype.value) == "numpy.dtype":
                return {"k": "ndarray", "dtype": self.dtype(dtype.slice)}
            return {"k": "ndarray", "dtype": None}
        if name == "builtins.type" or name == "typing.Type":
            return unknown(text(node))
        if name and name.startswith("<local>.") and name[len("<local>."):] in self.aliases:
            return self.map(self.aliases[name[len("<local>."):]])  # a generic alias used with arguments
        return unknown(text(node))

    def dtype(self, node):
        name = self.qualify(node)
        if name and name.startswith("numpy."):
            return DTYPES.get(name[len("numpy."):])
        if name == "builtins.float":
            return "float64"
        if name == "builtins.bool":
            return "bool"
        return None

    def literal(self, args, node):
        values = []
        for a in args:
            if isinstance(a, ast.Constant) and (a.value is None or isinstance(a.value, (str, int, bool))) and not isinstance(a.value, bytes):
                values.append(a.value)
            elif isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub) and isinstance(a.operand, ast.Constant) and isinstance(a.operand.value, int):
                values.append(-a.operand.value)
            elif isinstance(a, ast.Subscript) and self.qualify(a.value) == "typing.Literal":
                inner = self.literal(a.slice.elts if isinstance(a.slice, ast.Tuple) else [a.slice], a)
                if inner["k"] != "literal":
                    return inner
                values.extend(inner["values"])
            else:
                return unknown(text(node))
        return {"k": "literal", "values": values}

    def local(self, name, node):
        if name in self.aliases:
            if name in self.resolving:
                return unknown(name)  # a recursive alias has no finite expansion
            self.resolving.add(name)
            try:
                value = self.aliases[name]
                if isinstance(value, ast.Call):  # NewType(name, base)
                    return self.map(value.args[1]) if len(value.args) == 2 else unknown(name)
                return self.map(value)
            finally:
                self.resolving.discard(name)
        cls = self.classes[name]
        if self.is_enum(cls):
            values = self.enum_values(cls)
            return {"k": "literal", "values": values} if values else unknown(text(node))
        kind = self.object_kind(cls)
        if kind is None:
            return unknown(text(node))
        if name not in self.types:
            self.types[name] = None  # placeholder: a self-referencing field resolves to a ref
            self.types[name] = self.object_type(cls, kind)
        return {"k": "ref", "name": name}

    def is_enum(self, cls):
        return any((self.qualify(b) or "").startswith("enum.") for b in cls.bases)

    def enum_values(self, cls):
        """A str or int enum's member values (its members travel as those); None for a plain
        Enum, whose members the codec cannot send, or members it cannot read (`auto()`)."""
        bases = {self.qualify(b) for b in cls.bases}
        if not bases & {"builtins.str", "builtins.int", "enum.IntEnum", "enum.StrEnum", "enum.IntFlag"}:
            return None
        values = []
        for stmt in cls.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
                continue
            value = stmt.value
            if not (isinstance(value, ast.Constant) and isinstance(value.value, (str, int)) and not isinstance(value.value, bool)):
                return None
            values.append(value.value)
        return values or None

    def local_bases(self, cls):
        """The classes of this file that `cls` derives from (a cycle, which Python would refuse, is cut)."""
        out = []
        for base in cls.bases:
            b = self.qualify(base)
            if b and b.startswith("<local>.") and b[len("<local>."):] in self.classes:
                node = self.classes[b[len("<local>."):]]
                if node is not cls and node.lineno < cls.lineno:
                    out.append(node)
        return out

    def object_kind(self, cls):
        for base in cls.bases:
            b = self.qualify(base)
            if b == "typing.TypedDict":
                return "typeddict"
            if b == "typing.NamedTuple":
                return "namedtuple"
        for base in self.local_bases(cls):
            inherited = self.object_kind(base)
            if inherited:
                return inherited
        if any(self.is_dataclass_decorator(d) for d in cls.decorator_list):
            return "dataclass"
        return None

    def is_dataclass_decorator(self, d):
        target = d.func if isinstance(d, ast.Call) else d
        return self.qualify(target) in ("dataclasses.dataclass", "pydantic.dataclasses.dataclass")

    def fields(self, cls):
        """Annotated fields, base classes first (a subclass adds to or overrides them)."""
        out = {}
        for base in self.local_bases(cls):
            out.update(self.fields(base))
        total = True
        for kw in cls.keywords:
            if kw.arg == "total" and isinstance(kw.value, ast.Constant):
                total = bool(kw.value.value)
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if self.qualify(getattr(stmt.annotation, "value", stmt.annotation)) == "typing.ClassVar":
                    continue
                wrapper = self.qualify(stmt.annotation.value) if isinstance(stmt.annotation, ast.Subscript) else None
                optional = (not total) if wrapper not in ("typing.Required", "typing.NotRequired") else wrapper == "typing.NotRequired"
                out[stmt.target.id] = {"name": stmt.target.id, "type": self.type_of(stmt.annotation), "optional": optional, "default": stmt.value is not None}
        return out

    def object_type(self, cls, kind):
        fields = list(self.fields(cls).values())
        if kind == "namedtuple":
            return {"kind": "tuple", "fields": fields}
        if kind == "dataclass":
            for f in fields:
                f["optional"] = False  # a dataclass result always carries every field
        return {"kind": "object", "fields": fields}

    # ---- functions and classes


def text(node):
    return ast.unparse(node) if isinstance(node, ast.AST) else str(node)


def unknown(py):
    return {"k": "unknown", "note": py}


def union(members):
    out = []
    seen = []
    for m in members:
        for x in m["of"] if m["k"] == "union" else [m]:
            key = {k: v for k, v in x.items() if k != "py"}
            if key not in seen:
                seen.append(key)
                out.append(x)
    return out[0] if len(out) == 1 else {"k": "union", "of": out}
