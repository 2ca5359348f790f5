"""AMF0 (Action Message Format 0) values <-> bytes, as RTMP commands and metadata carry them.

Python mapping (both directions unless noted):

    None <-> null (0x05)                  UNDEFINED <-> undefined (0x06)
    bool <-> boolean (0x01)               int/float -> number (0x00); numbers always decode as float
    str  <-> string (0x02), or long string (0x0C) when its UTF-8 form exceeds 65535 bytes
    dict <-> object (0x03), insertion order kept
    EcmaArray(dict) <-> ECMA array (0x08)  list/tuple -> strict array (0x0A), decoded as list
    Amf0Date(ms, tz) <-> date (0x0B)      Amf0Reference(index) <-> reference (0x07)
    TypedObject(class_name, props) <-> typed object (0x10)
    Amf3Value(raw) <-> AMF3 switch (0x11): the raw AMF3 bytes of one value, not interpreted
    xml document (0x0F) -> str (decode only)

Strings decode with ``surrogateescape`` so invalid UTF-8 from a peer still round-trips byte for byte.
Malformed input raises ``Amf0DecodeError`` naming the byte offset; unencodable values raise
``Amf0EncodeError``.
"""
from __future__ import annotations

import struct
from typing import Any

from srs.kernel.errors import Amf0DecodeError, Amf0EncodeError
from srs.protocol.amf3 import skip_value as amf3_skip_value

# markers
NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
MOVIECLIP = 0x04
NULL = 0x05
UNDEFINED_MARKER = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED = 0x0D
RECORDSET = 0x0E
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10
AVMPLUS_OBJECT = 0x11

# Deeper nesting than any real command or metadata; stops stack exhaustion from crafted input.
MAX_DEPTH = 64

_ENC = "utf-8"
_ERRS = "surrogateescape"

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")
_OBJECT_END = b"\x00\x00\x09"


class _Undefined:
    """The AMF0 ``undefined`` value (distinct from null, which is None)."""

    __slots__ = ()
    _instance: "_Undefined | None" = None

    def __new__(cls) -> "_Undefined":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


class EcmaArray(dict):
    """An associative array (marker 0x08); behaves as a dict, encodes as ECMA array."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"EcmaArray({dict.__repr__(self)})"


class Amf0Date:
    __slots__ = ("ms", "tz")

    def __init__(self, ms: float, tz: int = 0):
        self.ms = float(ms)
        self.tz = int(tz)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Amf0Date) and (self.ms, self.tz) == (other.ms, other.tz)

    def __hash__(self) -> int:
        return hash((self.ms, self.tz))

    def __repr__(self) -> str:
        return f"Amf0Date({self.ms!r}, {self.tz!r})"


class Amf0Reference:
    """A back reference (0x07) to an earlier complex object; kept as its index, not resolved."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = int(index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Amf0Reference) and self.index == other.index

    def __hash__(self) -> int:
        return hash(("ref", self.index))

    def __repr__(self) -> str:
        return f"Amf0Reference({self.index})"


class TypedObject:
    __slots__ = ("class_name", "props")

    def __init__(self, class_name: str, props: dict | None = None):
        self.class_name = class_name
        self.props = {} if props is None else props

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TypedObject) and self.class_name == other.class_name
                and self.props == other.props)

    __hash__ = None  # mutable, like dict

    def __repr__(self) -> str:
        return f"TypedObject({self.class_name!r}, {self.props!r})"


class Amf3Value:
    """One AMF3 value behind the AMF0 switch marker, as raw bytes (without the 0x11 marker)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        self.raw = bytes(raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Amf3Value) and self.raw == other.raw

    def __hash__(self) -> int:
        return hash(("amf3", self.raw))

    def __repr__(self) -> str:
        return f"Amf3Value({self.raw!r})"


# ----------------------------------------------------------------------------------------- encode

def encode(*values: Any) -> bytes:
    """Encode each value in turn and concatenate (a command: name, tid, object, args...)."""
    out: list = []
    for v in values:
        _encode(v, out, 0)
    return b"".join(out)


def encode_value(v: Any) -> bytes:
    out: list = []
    _encode(v, out, 0)
    return b"".join(out)


def _encode_key(key: Any, out: list) -> None:
    if not isinstance(key, str):
        raise Amf0EncodeError(f"amf0: object key must be str, got {type(key).__name__}")
    raw = key.encode(_ENC, _ERRS)
    if len(raw) > 0xFFFF:
        raise Amf0EncodeError("amf0: object key longer than 65535 bytes")
    out.append(_U16.pack(len(raw)))
    out.append(raw)


def _encode_props(props: dict, out: list, depth: int) -> None:
    for key, value in props.items():
        _encode_key(key, out)
        _encode(value, out, depth)
    out.append(_OBJECT_END)


def _encode(v: Any, out: list, depth: int) -> None:
    t = type(v)
    # exact-type fast paths first: commands are mostly str/float/dict/None
    if t is str:
        raw = v.encode(_ENC, _ERRS)
        if len(raw) > 0xFFFF:
            out.append(b"\x0c" + _U32.pack(len(raw)))
        else:
            out.append(b"\x02" + _U16.pack(len(raw)))
        out.append(raw)
        return
    if v is None:
        out.append(b"\x05")
        return
    if t is bool:
        out.append(b"\x01\x01" if v else b"\x01\x00")
        return
    if t is float or t is int:
        try:
            out.append(b"\x00" + _DOUBLE.pack(v))
        except (OverflowError, struct.error) as e:
            raise Amf0EncodeError(f"amf0: number out of range: {v!r}") from e
        return
    if depth >= MAX_DEPTH:
        raise Amf0EncodeError(f"amf0: nesting deeper than {MAX_DEPTH}")
    depth += 1
    if isinstance(v, EcmaArray):
        out.append(b"\x08" + _U32.pack(len(v)))
        _encode_props(v, out, depth)
    elif isinstance(v, dict):
        out.append(b"\x03")
        _encode_props(v, out, depth)
    elif v is UNDEFINED:
        out.append(b"\x06")
    elif isinstance(v, (list, tuple)):
        out.append(b"\x0a" + _U32.pack(len(v)))
        for item in v:
            _encode(item, out, depth)
    elif isinstance(v, bool):
        out.append(b"\x01\x01" if v else b"\x01\x00")
    elif isinstance(v, (int, float)):
        _encode(float(v), out, depth)
    elif isinstance(v, str):
        _encode(str.__str__(v), out, depth)  # a str subclass (e.g. an Enum) as its plain text
    elif isinstance(v, Amf0Date):
        out.append(b"\x0b" + _DATE.pack(v.ms, v.tz))
    elif isinstance(v, TypedObject):
        out.append(b"\x10")
        _encode_key(v.class_name, out)
        _encode_props(v.props, out, depth)
    elif isinstance(v, Amf0Reference):
        if not 0 <= v.index <= 0xFFFF:
            raise Amf0EncodeError(f"amf0: reference index out of range: {v.index}")
        out.append(b"\x07" + _U16.pack(v.index))
    elif isinstance(v, Amf3Value):
        out.append(b"\x11")
        out.append(v.raw)
    else:
        raise Amf0EncodeError(f"amf0: cannot encode {type(v).__name__}")


# ----------------------------------------------------------------------------------------- decode

def decode(data: Any, offset: int = 0) -> tuple:
    """Decode one value at ``offset``; return ``(value, next_offset)``.

    ``data`` may be bytes, bytearray or memoryview.
    """
    if offset >= len(data):
        raise Amf0DecodeError(f"amf0: no value at offset {offset}")
    return _decode(data, offset, 0)


def decode_all(data: Any) -> list:
    """Decode values until the end of ``data``."""
    values = []
    pos = 0
    end = len(data)
    while pos < end:
        value, pos = _decode(data, pos, 0)
        values.append(value)
    return values


def _truncated(what: str, pos: int) -> Amf0DecodeError:
    return Amf0DecodeError(f"amf0: truncated {what} at offset {pos}")


def _read_utf8(data: Any, pos: int, size_struct: struct.Struct, what: str, at: int) -> tuple:
    end_len = pos + size_struct.size
    if end_len > len(data):
        raise _truncated(what, at)
    (n,) = size_struct.unpack_from(data, pos)
    end = end_len + n
    if end > len(data):
        raise _truncated(what, at)
    return str(data[end_len:end], _ENC, _ERRS), end


def _decode_props(data: Any, pos: int, depth: int, props: dict, what: str, at: int) -> int:
    """Read name/value pairs into ``props`` until the object end marker; return the next offset.

    Tolerates a missing end marker when the buffer ends exactly between properties (as SRS does,
    because Flash/FMLE send ECMA arrays like that).
    """
    size = len(data)
    while True:
        if pos == size:
            return pos
        if pos + 2 > size:
            raise _truncated(what, at)
        (n,) = _U16.unpack_from(data, pos)
        if n == 0:
            if pos + 2 == size:
                return pos + 2  # "00 00" then end of buffer: a cut end marker
            if data[pos + 2] == OBJECT_END:
                return pos + 3
            key = ""  # an empty key that is not the end marker: a real property
            pos += 2
        else:
            end = pos + 2 + n
            if end > size:
                raise _truncated(what, at)
            key = str(data[pos + 2:end], _ENC, _ERRS)
            pos = end
        if pos >= size:
            raise _truncated(what, at)
        props[key], pos = _decode(data, pos, depth)


def _decode(data: Any, pos: int, depth: int) -> tuple:
    size = len(data)
    marker = data[pos]
    p = pos + 1
    if marker == STRING:
        return _read_utf8(data, p, _U16, "string", pos)
    if marker == NUMBER:
        if p + 8 > size:
            raise _truncated("number", pos)
        return _DOUBLE.unpack_from(data, p)[0], p + 8
    if marker == NULL:
        return None, p
    if marker == BOOLEAN:
        if p >= size:
            raise _truncated("boolean", pos)
        return data[p] != 0, p + 1
    if marker == UNDEFINED_MARKER:
        return UNDEFINED, p
    if depth >= MAX_DEPTH:
        raise Amf0DecodeError(f"amf0: nesting deeper than {MAX_DEPTH} at offset {pos}")
    depth += 1
    if marker == OBJECT:
        obj: dict = {}
        return obj, _decode_props(data, p, depth, obj, "object", pos)
    if marker == ECMA_ARRAY:
        if p + 4 > size:
            raise _truncated("ecma array", pos)
        # the count is often wrong (0 from some encoders): trust the end marker instead
        arr = EcmaArray()
        return arr, _decode_props(data, p + 4, depth, arr, "ecma array", pos)
    if marker == STRICT_ARRAY:
        if p + 4 > size:
            raise _truncated("strict array", pos)
        (count,) = _U32.unpack_from(data, p)
        p += 4
        if count > size - p:  # every value takes at least one byte
            raise _truncated("strict array", pos)
        items = []
        for _ in range(count):
            if p >= size:
                raise _truncated("strict array", pos)
            item, p = _decode(data, p, depth)
            items.append(item)
        return items, p
    if marker == LONG_STRING:
        return _read_utf8(data, p, _U32, "long string", pos)
    if marker == DATE:
        if p + 10 > size:
            raise _truncated("date", pos)
        ms, tz = _DATE.unpack_from(data, p)
        return Amf0Date(ms, tz), p + 10
    if marker == REFERENCE:
        if p + 2 > size:
            raise _truncated("reference", pos)
        return Amf0Reference(_U16.unpack_from(data, p)[0]), p + 2
    if marker == TYPED_OBJECT:
        class_name, p = _read_utf8(data, p, _U16, "typed object", pos)
        typed = TypedObject(class_name, {})
        return typed, _decode_props(data, p, depth, typed.props, "typed object", pos)
    if marker == XML_DOCUMENT:
        return _read_utf8(data, p, _U32, "xml document", pos)
    if marker == AVMPLUS_OBJECT:
        end = amf3_skip_value(data, p, pos)
        return Amf3Value(data[p:end]), end
    if marker == OBJECT_END:
        raise Amf0DecodeError(f"amf0: unexpected object end at offset {pos}")
    raise Amf0DecodeError(f"amf0: unsupported marker 0x{marker:02x} at offset {pos}")
