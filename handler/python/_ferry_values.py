"""Ferry's value codec in the Python child: arguments from the worker's bytes (or JSON values) to
Python values, and results and yielded values back to bytes (MessagePack, cloudpickle) or
JSON text, with the ndarray (ext 1) and big integer (ext 2) extensions of docs/internals.md.

Large arrays are the reason this module minds its copies: an ndarray argument is made over the
received buffer with numpy.frombuffer (no copy when the buffer is the argument's own, as an
attachment read beside its frame is; one copy over immutable bytes, so that it is writable), and
an array result is packed around its own buffer instead of tobytes() then a second pack.
"""

import base64
import dataclasses
import datetime
import json
import math
import pickle
import struct

import msgpack

try:
    import cloudpickle
except ImportError:  # plain pickle still reads most of what cloudpickle wrote
    cloudpickle = None

EXT_NDARRAY = 1
EXT_BIGINT = 2

class EncodeError(Exception):
    pass


def _numpy():
    import numpy

    return numpy


_BIN_HEADERS = {0xC4: (1, ">B"), 0xC5: (2, ">H"), 0xC6: (4, ">I")}


_EXT_HEADERS = {0xC7: (1, ">B"), 0xC8: (2, ">H"), 0xC9: (4, ">I")}


def _is_bare_ndarray(raw):
    """Whether a MessagePack document is exactly one ext 1 value (ext 8/16/32 header)."""
    if len(raw) < 3 or raw[0] not in _EXT_HEADERS:
        return False
    size, fmt = _EXT_HEADERS[raw[0]]
    if len(raw) < 2 + size:
        return False
    (length,) = struct.unpack_from(fmt, raw, 1)
    return raw[1 + size] == EXT_NDARRAY and 2 + size + length == len(raw)


def _ext_payload_start(raw):
    return 2 + _EXT_HEADERS[raw[0]][0]


def _ndarray_from_ext(data):
    return _ndarray_at(data, 0)


def _ndarray_at(data, base):
    """The ext 1 payload `[dtype, shape, data]` that starts at `base` as a numpy array. Only the
    small head is unpacked; the array is made over the payload's own bytes, and is writable like
    any array the user makes (copied once when those bytes are immutable)."""
    head = msgpack.Unpacker(raw=False)
    head.feed(data[base : base + 4096])
    if head.read_array_header() != 3:
        raise ValueError("ndarray extension: expected [dtype, shape, data]")
    dtype, shape = head.unpack(), head.unpack()
    offset = base + head.tell()
    marker = data[offset]
    if marker not in _BIN_HEADERS:
        raise ValueError("ndarray extension: data is not bin")
    size, fmt = _BIN_HEADERS[marker]
    (length,) = struct.unpack_from(fmt, data, offset + 1)
    start = offset + 1 + size
    if start + length != len(data):
        raise ValueError(f"ndarray extension: data holds {len(data) - start} bytes, its header says {length}")
    np = _numpy()
    dt = np.dtype(dtype)
    count = math.prod(shape)
    if count * dt.itemsize != length:
        raise ValueError(f"ndarray extension: shape {list(shape)} of {dt} needs {count * dt.itemsize} bytes, got {length}")
    array = np.frombuffer(data, dtype=dt, count=count, offset=start).reshape(shape)
    # Over a buffer of its own (an attachment) the array is writable as it is; over bytes, a copy is.
    return array if array.flags.writeable else array.copy()


def _ext_hook(code, data):
    if code == EXT_NDARRAY:
        return _ndarray_from_ext(data)
    if code == EXT_BIGINT:
        return int(data.decode("utf-8"))
    return msgpack.ExtType(code, data)


def _msgpack_default(value):
    if isinstance(value, int):  # outside the 64-bit range msgpack covers
        return msgpack.ExtType(EXT_BIGINT, str(value).encode("utf-8"))
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return msgpack.Timestamp.from_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Its fields as a map (shallow: msgpack calls back here for nested ones).
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    module = type(value).__module__
    if module == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        value = value.detach().cpu().numpy()
        module = "numpy"
    if module == "numpy":
        np = _numpy()
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            if array.dtype.hasobject:
                return array.tolist()
            return msgpack.ExtType(EXT_NDARRAY, _ndarray_payload(array))
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"no MessagePack mapping for {type(value)!r}")


def _ndarray_payload(array):
    """`[dtype, shape, data]` packed around the array's own buffer: one copy of the data, not
    tobytes() then a pack of those bytes."""
    head = msgpack.packb([array.dtype.str, list(array.shape)], use_bin_type=True)[1:]
    n = array.nbytes
    if n < 1 << 8:
        bin_header = struct.pack(">BB", 0xC4, n)
    elif n < 1 << 16:
        bin_header = struct.pack(">BH", 0xC5, n)
    else:
        bin_header = struct.pack(">BI", 0xC6, n)
    return b"".join([b"\x93", head, bin_header, memoryview(array.reshape(-1).view(_numpy().uint8))])


def _first_unencodable(value, path, ok):
    """The path to the first value `ok` refuses, for a precise error (`result[2].model: <class 'Foo'>`)."""
    seen = set()

    def walk(v, p):
        if id(v) in seen:
            return None
        if isinstance(v, dict):
            seen.add(id(v))
            for k, x in v.items():
                if not ok(k):
                    return p, k
                found = walk(x, f"{p}.{k}" if isinstance(k, str) and k.isidentifier() else f"{p}[{k!r}]")
                if found:
                    return found
            return None
        if isinstance(v, (list, tuple, set, frozenset)):
            seen.add(id(v))
            for i, x in enumerate(v):
                found = walk(x, f"{p}[{i}]")
                if found:
                    return found
            return None
        return None if ok(v) else (p, v)

    return walk(value, path)


def _msgpack_leaf_ok(v):
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return True
    try:
        _msgpack_default(v)
        return True
    except Exception:
        return False


def _json_leaf_ok(v):
    if isinstance(v, float):
        return v == v and v not in (float("inf"), float("-inf"))
    return v is None or isinstance(v, (bool, int, str))


def encode_value(value, fmt, path):
    """Encodes one value for the response: bytes (pickle, msgpack; the worker writes them as
    base64 on the wire) or JSON text."""
    try:
        if fmt == "json":
            return json.dumps(value, allow_nan=False, ensure_ascii=False)
        if fmt == "msgpack":
            raw = msgpack.packb(value, default=_msgpack_default, use_bin_type=True, datetime=False)
        else:
            raw = (cloudpickle or pickle).dumps(value)
        return raw
    except Exception as exc:
        where = None
        if fmt == "json":
            where = _first_unencodable(value, path, _json_leaf_ok)
        elif fmt == "msgpack":
            where = _first_unencodable(value, path, _msgpack_leaf_ok)
        if where:
            bad_path, bad = where
            raise EncodeError(f"{bad_path}: {type(bad)!r} cannot be sent as {fmt}") from None
        raise EncodeError(f"{path}: cannot be sent as {fmt}: {type(exc).__name__}: {exc}") from None


def decode_value(item, fmt, path):
    if fmt == "json":
        return item
    if isinstance(item, (bytes, bytearray)):
        raw = item  # the worker decoded the base64 of the wire already
    elif isinstance(item, str):
        try:
            raw = base64.b64decode(item, validate=True)
        except Exception:
            raise ValueError(f"{path}: not valid base64") from None
    else:
        raise ValueError(f"{path}: expected a base64 string, got {type(item).__name__}")
    try:
        if fmt == "msgpack":
            if _is_bare_ndarray(raw):
                # The argument is one array (the common large value): made straight from its
                # bytes, without first copying the extension's payload out of them.
                return _ndarray_at(raw, _ext_payload_start(raw))
            # unpackb bounds every declared length by the size of the input, so a forged
            # length (a "decompression bomb") is refused before anything is allocated.
            return msgpack.unpackb(raw, raw=False, ext_hook=_ext_hook, timestamp=3, strict_map_key=False)
        return pickle.loads(raw)
    except Exception as exc:
        raise ValueError(f"{path}: cannot decode {fmt}: {type(exc).__name__}: {exc}") from None


def decode_arguments(args, kwargs, fmt, prefix):
    decoded_args = [decode_value(a, fmt, f"{prefix}args[{i}]") for i, a in enumerate(args or [])]
    decoded_kwargs = {k: decode_value(v, fmt, f"{prefix}kwargs.{k}") for k, v in (kwargs or {}).items()}
    return decoded_args, decoded_kwargs
