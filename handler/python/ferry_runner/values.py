"""Ferry's value codec in the Python child: arguments from the worker's bytes (or JSON values) to
Python values, and results and yielded values back to bytes (MessagePack, cloudpickle) or
JSON text, with the ndarray (ext 1) and big integer (ext 2) extensions of docs/internals.md.

Large arrays are the reason this module minds its copies: an ndarray argument is made over the
received buffer with numpy.frombuffer (no copy when the buffer is the argument's own, as an
attachment read beside its frame is; one copy over immutable bytes, so that it is writable). A
result is encoded as a list of buffers whose concatenation is its MessagePack document: a large
array or byte string in it is one of those buffers, its own memory, written to the pipe as it is.
"""

import base64
import dataclasses
import datetime
import json
import math
import mmap
import os
import pickle
import struct

import msgpack

try:
    import cloudpickle
except ImportError:  # plain pickle still reads most of what cloudpickle wrote
    cloudpickle = None

EXT_NDARRAY = 1
EXT_BIGINT = 2
# Byte values at least this large travel beside a frame's document (the worker's ATTACHMENT_MIN_BYTES).
ATTACHMENT_MIN_BYTES = 64 * 1024
# A large value is packed as a stand-in (this ext code, its index, this process's random token),
# found again in the packed document and replaced there by its header and its own buffer.
_EXT_STAND_IN = 127
_STAND_IN_TOKEN = os.urandom(16)
_STAND_IN_HEAD = struct.pack(">BBb", 0xC7, 8 + len(_STAND_IN_TOKEN), _EXT_STAND_IN)
# Containers searched for large byte strings (which msgpack packs itself, without asking
# `default`); any beyond are packed inline, to the same bytes.
_LIFT_BUDGET = 10_000


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


class _LargeBytes:
    """A byte view of at least ATTACHMENT_MIN_BYTES lifted out of a value (bytes, bytearray and
    memoryview are packed by msgpack itself, which would copy them), so that `default` sees it."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def _lift_large_bytes(value):
    """The value with its large byte strings (bytes, bytearray, memoryview) wrapped in
    _LargeBytes: containers rebuilt, the same MessagePack once packed."""
    budget = [_LIFT_BUDGET]

    def lift(v):
        if isinstance(v, (bytes, bytearray, memoryview)):
            view = memoryview(v)
            return _LargeBytes(view.cast("B")) if view.nbytes >= ATTACHMENT_MIN_BYTES and view.c_contiguous else v
        if budget[0] <= 0 or type(v) not in (dict, list, tuple):
            return v
        budget[0] -= 1
        if type(v) is dict:
            return {k: lift(x) for k, x in v.items()}
        return [lift(x) for x in v]

    return lift(value)


def _msgpack_default(value, stand_ins=None):
    """A value msgpack has no type for, as one it has. With `stand_ins` (a list), a large array or
    byte string becomes a stand-in, and its (header maker, buffer) pair is appended there."""
    if stand_ins is not None:
        large = _large_buffer(value)
        if large is not None:
            stand_ins.append(large)
            return msgpack.ExtType(_EXT_STAND_IN, struct.pack(">Q", len(stand_ins) - 1) + _STAND_IN_TOKEN)
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


def _bin_header(n):
    if n < 1 << 8:
        return struct.pack(">BB", 0xC4, n)
    if n < 1 << 16:
        return struct.pack(">BH", 0xC5, n)
    return struct.pack(">BI", 0xC6, n)


def _large_buffer(value):
    """(a function from the offset in the document where the value starts to the MessagePack
    bytes in front of its data, its data as a byte view) of a large array or byte string; None for
    any other value."""
    if isinstance(value, _LargeBytes):
        header = _bin_header(value.data.nbytes)
        return (lambda _offset: header), value.data
    module = type(value).__module__
    if module == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        value = value.detach().cpu().numpy()
        module = "numpy"
    if module != "numpy":
        return None
    np = _numpy()
    if not isinstance(value, np.ndarray) or value.nbytes < ATTACHMENT_MIN_BYTES or value.dtype.hasobject:
        return None
    array = np.ascontiguousarray(value)
    return (lambda offset: _aligned_ndarray_header(array, offset)), memoryview(array.reshape(-1).view(np.uint8))


def _aligned_ndarray_header(array, offset):
    """The ext 32 header and `[dtype, shape, ` head of an ndarray payload, laid out so that the
    data after it starts at a multiple of 8 bytes into the document (`offset` is where the header
    starts). A decoder can then make its typed array over the received bytes where they are
    instead of moving them. MessagePack lets a string or array header be wider than it must: the
    widths of the payload's array header, the dtype string's and the shape's give every padding
    from 0 to 7 bytes."""
    dtype = array.dtype.str.encode("ascii")
    ndim = array.ndim
    shape = b"".join(msgpack.packb(int(d)) for d in array.shape)
    payload_heads = [b"\x93", b"\xdc\x00\x03", b"\xdd\x00\x00\x00\x03"]
    dtype_heads = [bytes([0xA0 | len(dtype)])] if len(dtype) < 32 else []
    dtype_heads += [struct.pack(">BB", 0xD9, len(dtype)), struct.pack(">BH", 0xDA, len(dtype)), struct.pack(">BI", 0xDB, len(dtype))]
    shape_heads = [bytes([0x90 | ndim])] if ndim < 16 else []
    shape_heads += [struct.pack(">BH", 0xDC, ndim), struct.pack(">BI", 0xDD, ndim)]
    data_head = _bin_header(array.nbytes)
    heads = sorted(
        (p + d + dtype + a + shape + data_head for p in payload_heads for d in dtype_heads for a in shape_heads),
        key=len,
    )
    head = next((h for h in heads if (offset + 6 + len(h)) % 8 == 0), heads[0])
    return struct.pack(">BIb", 0xC9, len(head) + array.nbytes, EXT_NDARRAY) + head


def _pack_parts(value):
    """The value's MessagePack document as a list of byte views, its large arrays and byte
    strings each one of them, uncopied."""
    stand_ins = []
    raw = msgpack.packb(_lift_large_bytes(value), default=lambda v: _msgpack_default(v, stand_ins), use_bin_type=True, datetime=False)
    if not stand_ins:
        return [memoryview(raw)]
    whole = memoryview(raw)
    parts = []
    at = 0
    written = 0  # bytes of the document in `parts` so far
    for index, (header_at, data) in enumerate(stand_ins):
        found = raw.find(_STAND_IN_HEAD + struct.pack(">Q", index) + _STAND_IN_TOKEN, at)
        if found < 0:  # not where it was packed: the document is packed whole instead
            return [memoryview(msgpack.packb(value, default=_msgpack_default, use_bin_type=True, datetime=False))]
        header = header_at(written + found - at)
        parts += [whole[at:found], memoryview(header), data]
        written += found - at + len(header) + data.nbytes
        at = found + len(_STAND_IN_HEAD) + 8 + len(_STAND_IN_TOKEN)
    parts.append(whole[at:])
    return [part for part in parts if part.nbytes]


def _ndarray_payload(array):
    """`[dtype, shape, data]` packed around the array's own buffer: one copy of the data, not
    tobytes() then a pack of those bytes."""
    head = msgpack.packb([array.dtype.str, list(array.shape)], use_bin_type=True)[1:]
    return b"".join([b"\x93", head, _bin_header(array.nbytes), memoryview(array.reshape(-1).view(_numpy().uint8))])


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
    """Encodes one value: bytes (pickle, msgpack; the worker writes them as base64 on the wire) or
    JSON text."""
    encoded = encode_parts(value, fmt, path)
    return encoded if isinstance(encoded, str) else b"".join(encoded)


def encode_for_frame(value, fmt, path, attachments, files=None):
    """One value as a frame carries it: JSON text, its bytes, or (when they are
    ATTACHMENT_MIN_BYTES or more) `{"$attachment": i}`, its byte views appended to `attachments`
    as attachment i. With `files` (the job's `value_files`: a folder and a threshold), bytes over
    the threshold are written to a file of their own in the folder instead, `{"$file": {"name",
    "bytes"}}`; a file that cannot be written falls back to an attachment."""
    encoded = encode_parts(value, fmt, path)
    if isinstance(encoded, str):
        return encoded
    size = sum(part.nbytes for part in encoded)
    if size < ATTACHMENT_MIN_BYTES:
        return b"".join(encoded)
    if files and size > files["threshold_bytes"]:
        from .frames import write_value_file  # frames is the process's protocol; values is imported without it too

        try:
            return {"$file": {"name": write_value_file(files["dir"], encoded), "bytes": size}}
        except OSError:
            pass
    attachments.append(encoded)
    return {"$attachment": len(attachments) - 1}


def encode_parts(value, fmt, path):
    """JSON text, or the value's bytes (pickle, msgpack) as a list of byte views to be written in
    order."""
    try:
        if fmt == "json":
            return json.dumps(value, allow_nan=False, ensure_ascii=False)
        if fmt == "msgpack":
            return _pack_parts(value)
        return [memoryview((cloudpickle or pickle).dumps(value))]
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
    if isinstance(item, (bytes, bytearray, mmap.mmap)):
        raw = item  # the worker decoded the base64 of the wire already (an attachment's own buffer)
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
