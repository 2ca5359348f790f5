"""ISO BMFF (MP4) box writers shared by the F4V/HDS and fMP4 code: ``size(u32) type(4cc) body``."""
from __future__ import annotations

import struct

_U32 = struct.Struct(">I")


def box(kind: bytes, body: bytes) -> bytes:
    """One box: u32 size (header included) + 4-character type + body."""
    if len(kind) != 4:
        raise ValueError(f"box type must be 4 bytes, got {kind!r}")
    return _U32.pack(8 + len(body)) + kind + body


def full_box(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    """A FullBox: version(u8) + flags(u24) before the body."""
    return box(kind, _U32.pack(((version & 0xFF) << 24) | (flags & 0xFFFFFF)) + body)
