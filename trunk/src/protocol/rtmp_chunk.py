"""RTMP chunk stream: bytes <-> whole RTMP messages (sans-IO, the hot path of every connection).

``ChunkDecoder.receive_data(bytes)`` turns whatever arrived on the socket into complete
``RawMessage`` objects and keeps the partial state (an unfinished chunk stays in the buffer, an
unfinished message per chunk stream). ``ChunkEncoder`` writes messages the way SRS does: each
message starts with a fmt0 header and continues with fmt3 chunks, so it needs no per-peer state
and one encoded batch can be sent to every player that shares its chunk size.

Chunk stream ids used on output (SRS's ``RTMP_CID_*``):
    2 protocol control (set chunk size, acks, user control...)
    3 commands on the connection (connect, createStream, their _result, onBWDone)
    4 metadata in SRS's own sender (we use 5, as for other data on the stream)
    5 commands and data on a stream (onStatus, play/publish, |RtmpSampleAccess, onMetaData)
    6 video, 7 audio

Timestamps are 32-bit and wrap (the extended timestamp carries the full value); the decoder
follows the spec where SRS masks to 31 bits.
"""
from __future__ import annotations

import logging
import struct

from srs.core.performance import CHUNK_SIZE, MAX_MESSAGE_SIZE
from srs.kernel.errors import (ERROR_RTMP_CHUNK_SIZE, ERROR_RTMP_CHUNK_START,
                               ERROR_RTMP_MESSAGE_ENCODE, ERROR_RTMP_MSG_INVALID_SIZE,
                               ERROR_RTMP_PACKET_SIZE, ChunkError, SrsError)

log = logging.getLogger(__name__)

CSID_PROTOCOL_CONTROL = 2
CSID_OVER_CONNECTION = 3
CSID_OVER_CONNECTION2 = 4
CSID_OVER_STREAM = 5
CSID_VIDEO = 6
CSID_AUDIO = 7
CSID_OVER_STREAM2 = 8

# Message types the decoder itself must act on (the rest is for the session).
_MSG_SET_CHUNK_SIZE = 1
_MSG_ABORT = 2
_MSG_AUDIO = 8
_MSG_VIDEO = 9

# The spec's default chunk size until the peer says otherwise.
DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0x7FFFFFFF
EXTENDED_TS = 0xFFFFFF

_U32 = struct.Struct(">I")
_U32LE = struct.Struct("<I")
# fmt0/1/2 message header: ts(3) length(3) type(1), as 1+2 / 1+2 / 1 byte groups
_MH7 = struct.Struct(">BHBHB")
_MH3 = struct.Struct(">BH")
# fmt0 header written in one pack: (csid << 24 | ts24), (length << 8 | type), stream id byte-swapped
_FMT0 = struct.Struct(">III")
_FMT0_EXT = struct.Struct(">IIII")

_MASK32 = 0xFFFFFFFF


class RawMessage:
    """One complete RTMP message as it came off the wire."""

    __slots__ = ("type", "ts_ms", "stream_id", "csid", "payload")

    def __init__(self, type: int, ts_ms: int, stream_id: int, csid: int, payload: bytes):
        self.type = type
        self.ts_ms = ts_ms
        self.stream_id = stream_id
        self.csid = csid
        self.payload = payload

    def __repr__(self) -> str:
        return (f"RawMessage(type={self.type}, ts_ms={self.ts_ms}, stream_id={self.stream_id}, "
                f"csid={self.csid}, size={len(self.payload)})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RawMessage) and self.type == other.type
                and self.ts_ms == other.ts_ms and self.stream_id == other.stream_id
                and self.csid == other.csid and self.payload == other.payload)

    __hash__ = None  # type: ignore[assignment]


class _ChunkStream:
    """What one chunk stream id remembers between chunks (header fields reused by fmt1/2/3)."""

    __slots__ = ("ts", "delta", "length", "type", "stream_id", "ext", "ext_value", "parts",
                 "received", "started")

    def __init__(self):
        self.ts = 0
        self.delta = 0
        self.length = 0
        self.type = 0
        self.stream_id = 0
        self.ext = False        # the current header carried an extended timestamp
        self.ext_value = 0      # ...and this was its value (fmt3 chunks may repeat it)
        self.parts = None       # bytearray of a message still missing chunks
        self.received = 0
        self.started = False    # a header was seen: fmt1/2/3 may now reuse it


def _check_chunk_size(value: int) -> int:
    if value < 1 or value > MAX_CHUNK_SIZE:
        raise ChunkError(f"invalid chunk size {value}, must be 1..{MAX_CHUNK_SIZE}",
                         code=ERROR_RTMP_CHUNK_SIZE)
    return value


class ChunkDecoder:
    """Incremental chunk stream parser; feed it bytes, get whole messages."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE):
        self.max_message_size = max_message_size
        self.in_chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_received = 0
        self._streams: dict = {}
        self._buf = bytearray()

    def receive_data(self, data) -> list:
        """Parse ``data`` (bytes, bytearray or memoryview) after what was buffered before.

        Returns the messages completed by it, in wire order. Set Chunk Size and Abort take
        effect at once (the rest of ``data`` is parsed with the new size) and are returned too.
        """
        self.bytes_received += len(data)
        out: list = []
        buf = self._buf
        if buf:
            buf += data
            with memoryview(buf) as view:
                pos = self._parse(view, out)
            del buf[:pos]
        else:
            # Common case: nothing pending, parse the caller's buffer in place, keep only the tail.
            with memoryview(data) as view:
                if view.ndim != 1 or view.itemsize != 1:
                    view = view.cast("B")
                pos = self._parse(view, out)
                if pos < len(view):
                    buf += view[pos:]
        return out

    def _parse(self, mv: memoryview, out: list) -> int:
        n = len(mv)
        p = 0
        streams = self._streams
        chunk_size = self.in_chunk_size
        u32 = _U32.unpack_from
        while p < n:
            b0 = mv[p]
            fmt = b0 >> 6
            csid = b0 & 0x3F
            q = p + 1
            if csid == 0:
                if q >= n:
                    break
                csid = 64 + mv[q]
                q += 1
            elif csid == 1:
                if q + 1 >= n:
                    break
                csid = 64 + mv[q] + (mv[q + 1] << 8)
                q += 2

            cs = streams.get(csid)
            if cs is None:
                cs = _ChunkStream()
                streams[csid] = cs
            partial = cs.parts is not None
            if not cs.started and fmt != 0:
                # librtmp sends its first ping on csid 2 as fmt1 (SRS issue 98): tolerated.
                if not (fmt == 1 and csid == CSID_PROTOCOL_CONTROL):
                    raise ChunkError(f"chunk stream {csid} is fresh, first chunk must be fmt0, "
                                     f"got fmt{fmt}", code=ERROR_RTMP_CHUNK_START)
            if partial and fmt == 0:
                raise ChunkError(f"chunk stream {csid} has a partial message, fmt0 not allowed",
                                 code=ERROR_RTMP_CHUNK_START)

            # ---- message header (nothing is committed until the whole chunk is available)
            length = cs.length
            mtype = cs.type
            sid = cs.stream_id
            if fmt == 0:
                if q + 11 > n:
                    break
                t_hi, t_lo, l_hi, l_lo, mtype = _MH7.unpack_from(mv, q)
                sid = _U32LE.unpack_from(mv, q + 7)[0]
                ts_field = (t_hi << 16) | t_lo
                length = (l_hi << 16) | l_lo
                q += 11
            elif fmt == 1:
                if q + 7 > n:
                    break
                t_hi, t_lo, l_hi, l_lo, mtype = _MH7.unpack_from(mv, q)
                ts_field = (t_hi << 16) | t_lo
                length = (l_hi << 16) | l_lo
                q += 7
            elif fmt == 2:
                if q + 3 > n:
                    break
                t_hi, t_lo = _MH3.unpack_from(mv, q)
                ts_field = (t_hi << 16) | t_lo
                q += 3
            else:
                ts_field = -1

            if fmt != 3:
                if ts_field == EXTENDED_TS:
                    if q + 4 > n:
                        break
                    ext_value = u32(mv, q)[0]
                    q += 4
                    delta = ext_value
                    ext = True
                else:
                    delta = ts_field
                    ext_value = 0
                    ext = False
                if fmt <= 1:
                    if length > self.max_message_size:
                        raise ChunkError(f"message of {length} bytes exceeds the maximum "
                                         f"{self.max_message_size}",
                                         code=ERROR_RTMP_MSG_INVALID_SIZE)
                    if partial and length != cs.length:
                        raise ChunkError(f"chunk stream {csid}: message size changed from "
                                         f"{cs.length} to {length} mid-message",
                                         code=ERROR_RTMP_PACKET_SIZE)
            else:
                ext = cs.ext
                delta = cs.delta
                ext_value = cs.ext_value
                if ext:
                    if q + 4 > n:
                        break
                    value = u32(mv, q)[0]
                    if not partial:
                        # A new message on fmt3 after an extended header always carries it.
                        ext_value = delta = value
                        q += 4
                    elif value == ext_value:
                        # Flash/FMS/SRS repeat the extended timestamp on continuation chunks;
                        # ffmpeg/librtmp do not: the same 4 bytes are then payload.
                        q += 4

            remaining = length - cs.received if partial else length
            size = remaining if remaining < chunk_size else chunk_size
            end = q + size
            if end > n:
                break

            # ---- commit the header
            cs.started = True
            if not partial:
                if fmt == 0:
                    cs.ts = delta
                    cs.stream_id = sid
                else:
                    cs.ts = (cs.ts + delta) & _MASK32
                cs.length = length
                cs.type = mtype
            cs.delta = delta
            cs.ext = ext
            cs.ext_value = ext_value

            # ---- payload
            if size == length:
                payload = bytes(mv[q:end])
            else:
                if not partial:
                    cs.parts = bytearray()
                cs.parts += mv[q:end]
                cs.received += size
                p = end
                if cs.received < length:
                    continue
                payload = bytes(cs.parts)
                cs.parts = None
                cs.received = 0
            p = end
            out.append(RawMessage(cs.type, cs.ts, cs.stream_id, csid, payload))

            if cs.type == _MSG_SET_CHUNK_SIZE:
                if len(payload) < 4:
                    raise ChunkError("set chunk size payload shorter than 4 bytes",
                                     code=ERROR_RTMP_CHUNK_SIZE)
                chunk_size = _check_chunk_size(u32(payload, 0)[0])
                self.in_chunk_size = chunk_size
                log.info("peer set chunk size to %d", chunk_size)
            elif cs.type == _MSG_ABORT and len(payload) >= 4:
                target = streams.get(u32(payload, 0)[0])
                if target is not None:
                    target.parts = None
                    target.received = 0
        return p


def _basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes(((fmt << 6) | csid,))
    if 64 <= csid <= 319:
        return bytes((fmt << 6, csid - 64))
    if 64 <= csid <= 65599:
        v = csid - 64
        return bytes(((fmt << 6) | 1, v & 0xFF, v >> 8))
    raise SrsError(f"chunk stream id {csid} out of range 2..65599", code=ERROR_RTMP_MESSAGE_ENCODE)


def _swap32(v: int) -> int:
    return _U32.unpack(_U32LE.pack(v & _MASK32))[0]


_CSID_BY_KIND = {_MSG_AUDIO: CSID_AUDIO, _MSG_VIDEO: CSID_VIDEO}
# csid pre-shifted into the top byte of the first fmt0 word, by message kind
_CSID_HI = {_MSG_AUDIO: CSID_AUDIO << 24, _MSG_VIDEO: CSID_VIDEO << 24}
_CSID_DATA_HI = CSID_OVER_STREAM << 24


def csid_for_kind(kind: int) -> int:
    """The chunk stream a media/data message goes out on."""
    return _CSID_BY_KIND.get(kind, CSID_OVER_STREAM)


class ChunkEncoder:
    """Stateless message -> chunk encoder (fmt0 then fmt3 continuations, as SRS)."""

    def __init__(self, chunk_size: int = CHUNK_SIZE):
        self.chunk_size = _check_chunk_size(chunk_size)

    def set_chunk_size(self, n: int) -> None:
        self.chunk_size = _check_chunk_size(n)

    def encode(self, type: int, ts_ms: int, stream_id: int, payload, csid: int) -> bytes:
        parts: list = []
        self._encode_into(parts, type, ts_ms & _MASK32, stream_id, payload, csid)
        return b"".join(parts)

    def _encode_into(self, parts: list, mtype: int, ts: int, stream_id: int, payload,
                     csid: int) -> None:
        """Append the chunks of one message to ``parts`` (any csid, any size, any ts)."""
        n = len(payload)
        if n > 0xFFFFFF:
            raise SrsError(f"RTMP message of {n} bytes does not fit a 24-bit length",
                           code=ERROR_RTMP_MESSAGE_ENCODE)
        ext = ts >= EXTENDED_TS
        if 2 <= csid <= 63:
            if ext:
                parts.append(_FMT0_EXT.pack((csid << 24) | EXTENDED_TS, (n << 8) | mtype,
                                            _swap32(stream_id), ts))
            else:
                parts.append(_FMT0.pack((csid << 24) | ts, (n << 8) | mtype, _swap32(stream_id)))
        else:
            head = (_basic_header(0, csid)
                    + _U32.pack(min(ts, EXTENDED_TS))[1:] + _U32.pack(n)[1:] + bytes((mtype,))
                    + _U32LE.pack(stream_id & _MASK32))
            parts.append(head + _U32.pack(ts) if ext else head)
        cs = self.chunk_size
        if n <= cs:
            parts.append(payload)
            return
        c3 = _basic_header(3, csid)
        if ext:
            c3 += _U32.pack(ts)
        view = memoryview(payload)
        parts.append(view[:cs])
        for off in range(cs, n, cs):
            parts.append(c3)
            parts.append(view[off:off + cs])

    def encode_media(self, msgs, ts_base: int = 0, stream_id: int | None = None) -> bytes:
        """Encode a batch of ``srs.kernel.message.Message`` into one contiguous buffer.

        Timestamp on the wire = ``(msg.ts_ms - ts_base) & 0xFFFFFFFF``; message stream id =
        ``stream_id`` when given (the player's stream, SRS sends on the player's id), else
        ``msg.stream_id``. Audio goes on csid 7, video on 6, data on 5.
        This is the fan-out hot path: one struct pack + the shared payload per message.
        """
        cs = self.chunk_size
        parts: list = []
        append = parts.append
        pack = _FMT0.pack
        hi_get = _CSID_HI.get
        data_hi = _CSID_DATA_HI
        fixed_sid = None if stream_id is None else _swap32(stream_id)
        last_sid = 1
        last_swapped = 0x01000000
        for m in msgs:
            payload = m.payload
            kind = m.kind
            ts = (m.ts_ms - ts_base) & _MASK32
            n = len(payload)
            if fixed_sid is None:
                sid = m.stream_id
                if sid != last_sid:
                    last_sid = sid
                    last_swapped = _swap32(sid)
                swapped = last_swapped
            else:
                swapped = fixed_sid
            if n <= cs and ts < EXTENDED_TS:
                append(pack(hi_get(kind, data_hi) | ts, (n << 8) | kind, swapped))
                append(payload)
            else:
                self._encode_into(parts, kind, ts, _swap32(swapped), payload,
                                  _CSID_BY_KIND.get(kind, CSID_OVER_STREAM))
        return b"".join(parts)
