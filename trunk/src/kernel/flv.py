"""FLV container: header, tag encoding (the HTTP-FLV/DVR hot path), a sans-IO decoder, VOD seek.

File layout: 9-byte header, then ``PreviousTagSize(u32)`` followed by tags; each tag is an
11-byte header (type, 24-bit size, 24-bit timestamp + 8-bit extension, 24-bit stream id 0),
the payload, and the next ``PreviousTagSize`` = 11 + payload size. ``encode_tag`` emits the
tag *and* its trailing PreviousTagSize, so ``flv_header() + encode_tags(msgs)`` is a file.
"""
from __future__ import annotations

import struct

from srs.kernel.errors import ERROR_STREAM_CASTER_FLV_TAG, CodecError
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"  # audio + video, PreviousTagSize0
TAG_HEADER_SIZE = 11
MAX_TAG_SIZE = 0xFFFFFF
TAG_KINDS = (MSG_AUDIO, MSG_VIDEO, MSG_AMF0_DATA)

# type+size in one u32, timestamp low 24 bits + extension byte in one u32, 3 zero bytes (stream id).
_TAG_HEAD = struct.Struct(">II3x")
_U32 = struct.Struct(">I")


def flv_header(has_audio: bool = True, has_video: bool = True) -> bytes:
    """The 9-byte FLV header plus PreviousTagSize0 (13 bytes)."""
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return b"FLV\x01" + bytes((flags,)) + b"\x00\x00\x00\x09\x00\x00\x00\x00"


def encode_tag(kind: int, ts_ms: int, payload: bytes) -> bytes:
    """One tag: header + payload + PreviousTagSize."""
    size = len(payload)
    if size > MAX_TAG_SIZE:
        raise CodecError(f"FLV tag payload of {size} bytes exceeds 24 bits")
    ts = ts_ms & 0xFFFFFFFF
    return b"".join((_TAG_HEAD.pack((kind << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24)),
                     payload, _U32.pack(size + TAG_HEADER_SIZE)))


def encode_tags(msgs, ts_base: int = 0) -> bytes:
    """A batch of messages as consecutive FLV tags, in one bytes object.

    ``ts_base`` is subtracted from every timestamp (a player's base under time_jitter full).
    This runs once per merged-write batch per consumer group, so it does no per-byte work:
    two struct packs and three list appends per message, then a single join.
    """
    head = _TAG_HEAD.pack
    u32 = _U32.pack
    parts = []
    add = parts.append
    for m in msgs:
        payload = m.payload
        size = len(payload)
        ts = (m.ts_ms - ts_base) & 0xFFFFFFFF
        add(head((m.kind << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24)))
        add(payload)
        add(u32(size + 11))
    return b"".join(parts)


class FlvHeader:
    __slots__ = ("version", "has_audio", "has_video", "data_offset")

    def __init__(self, version: int, has_audio: bool, has_video: bool, data_offset: int):
        self.version = version
        self.has_audio = has_audio
        self.has_video = has_video
        self.data_offset = data_offset

    @classmethod
    def parse(cls, data) -> "FlvHeader":
        if len(data) < 9:
            raise CodecError("FLV header truncated", ERROR_STREAM_CASTER_FLV_TAG)
        if bytes(data[:3]) != b"FLV":
            raise CodecError(f"bad FLV signature {bytes(data[:3])!r}", ERROR_STREAM_CASTER_FLV_TAG)
        (offset,) = _U32.unpack_from(data, 5)
        if offset < 9 or offset > 1024:
            raise CodecError(f"bad FLV header size {offset}", ERROR_STREAM_CASTER_FLV_TAG)
        flags = data[4]
        return cls(data[3], bool(flags & 0x04), bool(flags & 0x01), offset)

    def encode(self) -> bytes:
        return flv_header(self.has_audio, self.has_video)


class FlvDecoder:
    """Sans-IO FLV reader: feed bytes, get Messages.

    Skips the PreviousTagSize fields (writers disagree on them). Unknown tag types and tags
    bigger than ``max_tag_size`` raise CodecError: after such garbage the stream is lost.
    """

    def __init__(self, max_tag_size: int = MAX_TAG_SIZE):
        self.header: FlvHeader | None = None
        self.max_tag_size = max_tag_size
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0  # bytes consumed from the start of the stream (tag boundaries)

    def receive_data(self, data) -> list:
        buf = self._buf
        if self._pos > 65536 and self._pos * 2 > len(buf):
            del buf[:self._pos]
            self._pos = 0
        buf += data
        out = []
        pos = self._pos
        end = len(buf)
        if self.header is None:
            if end - pos < 9:
                return out
            self.header = FlvHeader.parse(buf[pos:pos + 9])
            need = self.header.data_offset + 4  # header (+extension) + PreviousTagSize0
            if end - pos < need:
                self.header = None
                return out
            pos += need
            self.offset += need
        while end - pos >= TAG_HEADER_SIZE:
            kind = buf[pos] & 0x1F
            size = (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
            if kind not in TAG_KINDS:
                raise CodecError(f"bad FLV tag type {buf[pos]} at offset {self.offset}",
                                 ERROR_STREAM_CASTER_FLV_TAG)
            if size > self.max_tag_size:
                raise CodecError(f"FLV tag of {size} bytes exceeds {self.max_tag_size}",
                                 ERROR_STREAM_CASTER_FLV_TAG)
            total = TAG_HEADER_SIZE + size + 4
            if end - pos < total:
                break
            ts = (buf[pos + 4] << 16) | (buf[pos + 5] << 8) | buf[pos + 6] | (buf[pos + 7] << 24)
            out.append(Message.make(kind, ts, bytes(buf[pos + 11:pos + 11 + size])))
            pos += total
            self.offset += total
        self._pos = pos
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet returned as a message (non-zero at EOF = truncated)."""
        return len(self._buf) - self._pos


def iter_flv_tags(data: bytes, strict: bool = True):
    """All messages of a whole FLV file. ``strict``: a truncated last tag raises CodecError."""
    dec = FlvDecoder()
    msgs = dec.receive_data(data)
    if dec.header is None:
        raise CodecError("FLV header truncated", ERROR_STREAM_CASTER_FLV_TAG)
    if strict and dec.pending:
        raise CodecError(f"FLV truncated: {dec.pending} trailing bytes", ERROR_STREAM_CASTER_FLV_TAG)
    return iter(msgs)


def scan_tags(data: bytes) -> list:
    """``(offset, kind, ts_ms, size, is_seq_header_or_key)`` of each complete tag, for indexes."""
    header = FlvHeader.parse(data)
    pos = header.data_offset + 4
    out = []
    n = len(data)
    while n - pos >= TAG_HEADER_SIZE:
        kind = data[pos] & 0x1F
        size = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
        if kind not in TAG_KINDS:
            raise CodecError(f"bad FLV tag type {kind} at offset {pos}", ERROR_STREAM_CASTER_FLV_TAG)
        if n - pos < TAG_HEADER_SIZE + size + 4:
            break
        ts = (data[pos + 4] << 16) | (data[pos + 5] << 8) | data[pos + 6] | (data[pos + 7] << 24)
        out.append((pos, kind, ts, size))
        pos += TAG_HEADER_SIZE + size + 4
    return out


class FlvSeekIndex:
    """What HTTP VOD ``?start=<byte offset>`` needs from the start of an FLV file.

    SRS answers a seek with the FLV header, then the metadata and sequence-header tags from
    the file start, then the file from ``offset`` (which the player took from the keyframe
    index in the metadata, so it is a tag boundary).
    ``prefix`` = header + PreviousTagSize0 + leading script/sequence-header tags.
    """

    __slots__ = ("header", "header_size", "sh_start", "sh_end", "prefix")

    def __init__(self, head: bytes):
        head = bytes(head)
        self.header = FlvHeader.parse(head)
        self.header_size = self.header.data_offset + 4
        self.sh_start = self.header_size
        end = None
        for pos, kind, _ts, size in scan_tags(head):
            if kind == MSG_AMF0_DATA:
                continue
            body = head[pos + 11:pos + 11 + size]
            if not Message.make(kind, 0, body[:2]).seq_header:
                end = pos
                break
        if end is None:
            raise CodecError("FLV start holds no audio/video frame after the sequence headers; "
                             "read more bytes", ERROR_STREAM_CASTER_FLV_TAG)
        self.sh_end = end
        self.prefix = head[:self.header_size] + head[self.sh_start:self.sh_end]

    def response_size(self, file_size: int, offset: int) -> int:
        """Content-Length of the answer for ``?start=offset``."""
        if offset < self.sh_end or offset > file_size:
            raise CodecError(f"seek offset {offset} out of [{self.sh_end}, {file_size}]")
        return len(self.prefix) + file_size - offset
