"""Delimits one AMF3 value (after AMF0's 0x11 "avmplus object" switch) without interpreting it.

RTMP servers never need AMF3 contents: SRS only has to find where the value ends so that the
AMF0 values after it still decode. We walk the AMF3 grammar (AMF3 spec, 2013) keeping just the
traits table, since a traits reference decides how many sealed members follow. Externalizable
objects carry class-defined bytes that cannot be delimited; they raise ``Amf0DecodeError``.
"""
from __future__ import annotations

import struct
from typing import Any

from srs.kernel.errors import Amf0DecodeError

MAX_DEPTH = 64

_U29_MAX_BYTES = 4


class _Walker:
    __slots__ = ("data", "size", "at", "traits")

    def __init__(self, data: Any, at: int):
        self.data = data
        self.size = len(data)
        self.at = at  # offset of the 0x11 marker, for error messages
        self.traits: list = []  # (sealed_count, dynamic)

    def truncated(self) -> Amf0DecodeError:
        return Amf0DecodeError(f"amf0: truncated amf3 value at offset {self.at}")

    def u29(self, pos: int) -> tuple:
        value = 0
        data = self.data
        for i in range(_U29_MAX_BYTES):
            if pos >= self.size:
                raise self.truncated()
            b = data[pos]
            pos += 1
            if i == 3:
                return (value << 8) | b, pos
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value, pos
        return value, pos  # unreachable

    def skip(self, pos: int, n: int) -> int:
        end = pos + n
        if end > self.size:
            raise self.truncated()
        return end

    def string(self, pos: int) -> tuple:
        """Skip a UTF-8-vr; return (is_empty_inline, next_pos)."""
        ref, pos = self.u29(pos)
        if ref & 1:
            n = ref >> 1
            return n == 0, self.skip(pos, n)
        return False, pos

    def value(self, pos: int, depth: int) -> int:
        if pos >= self.size:
            raise self.truncated()
        if depth > MAX_DEPTH:
            raise Amf0DecodeError(f"amf0: amf3 nesting deeper than {MAX_DEPTH} at offset {self.at}")
        marker = self.data[pos]
        pos += 1
        if marker <= 0x03:  # undefined, null, false, true
            return pos
        if marker == 0x04:  # integer
            return self.u29(pos)[1]
        if marker == 0x05:  # double
            return self.skip(pos, 8)
        if marker == 0x06:  # string
            return self.string(pos)[1]
        if marker in (0x07, 0x0B, 0x0C):  # xml doc, xml, byte array: U29 length or ref
            ref, pos = self.u29(pos)
            return self.skip(pos, ref >> 1) if ref & 1 else pos
        if marker == 0x08:  # date
            ref, pos = self.u29(pos)
            return self.skip(pos, 8) if ref & 1 else pos
        if marker == 0x09:  # array: assoc part (name/value until empty name), then dense part
            ref, pos = self.u29(pos)
            if not ref & 1:
                return pos
            dense = ref >> 1
            pos = self.pairs(pos, depth)
            for _ in range(dense):
                pos = self.value(pos, depth + 1)
            return pos
        if marker == 0x0A:
            return self.object(pos, depth)
        if marker in (0x0D, 0x0E, 0x0F):  # vector int/uint/double: count, fixed flag, items
            ref, pos = self.u29(pos)
            if not ref & 1:
                return pos
            width = 8 if marker == 0x0F else 4
            return self.skip(pos, 1 + (ref >> 1) * width)
        if marker == 0x10:  # vector object: count, fixed flag, type name, values
            ref, pos = self.u29(pos)
            if not ref & 1:
                return pos
            pos = self.skip(pos, 1)
            pos = self.string(pos)[1]
            for _ in range(ref >> 1):
                pos = self.value(pos, depth + 1)
            return pos
        if marker == 0x11:  # dictionary: count, weak flag, key/value pairs
            ref, pos = self.u29(pos)
            if not ref & 1:
                return pos
            pos = self.skip(pos, 1)
            for _ in range(ref >> 1):
                pos = self.value(pos, depth + 1)
                pos = self.value(pos, depth + 1)
            return pos
        raise Amf0DecodeError(f"amf0: unknown amf3 marker 0x{marker:02x} at offset {self.at}")

    def pairs(self, pos: int, depth: int) -> int:
        while True:
            empty, pos = self.string(pos)
            if empty:
                return pos
            pos = self.value(pos, depth + 1)

    def object(self, pos: int, depth: int) -> int:
        ref, pos = self.u29(pos)
        if not ref & 1:
            return pos  # object reference
        if not ref & 2:  # traits reference
            index = ref >> 2
            if index >= len(self.traits):
                raise Amf0DecodeError(f"amf0: bad amf3 traits reference at offset {self.at}")
            sealed, dynamic = self.traits[index]
        else:
            if ref & 4:
                raise Amf0DecodeError(
                    f"amf0: cannot delimit externalizable amf3 object at offset {self.at}")
            dynamic = bool(ref & 8)
            sealed = ref >> 4
            pos = self.string(pos)[1]  # class name
            for _ in range(sealed):
                pos = self.string(pos)[1]
            self.traits.append((sealed, dynamic))
        for _ in range(sealed):
            pos = self.value(pos, depth + 1)
        if dynamic:
            pos = self.pairs(pos, depth)
        return pos


def skip_value(data: Any, pos: int, at: int) -> int:
    """Return the offset just past the AMF3 value starting at ``pos`` (``at``: the 0x11 marker)."""
    try:
        return _Walker(data, at).value(pos, 0)
    except (IndexError, struct.error) as e:  # defensive: every read is bounds-checked above
        raise Amf0DecodeError(f"amf0: bad amf3 value at offset {at}") from e
