"""SRT packets (draft-sharabayko-srt section 3): the 16-byte header, data packets, control packets
and the control information fields of ACK, NAK and DROPREQ; 31-bit sequence arithmetic.

Parsing is strict: any length or field that the spec does not allow raises ``SrtError`` (never an
IndexError or struct.error), so the caller drops the datagram and counts it.
"""
from __future__ import annotations

import struct

from .errors import SrtError

HEADER_SIZE = 16
UDP_IP_OVERHEAD = 28  # IPv4 + UDP headers: MSS 1500 leaves 1472 for SRT, 1456 for the payload
MAX_MSS = 1500
MAX_PAYLOAD = MAX_MSS - UDP_IP_OVERHEAD - HEADER_SIZE  # 1456, libsrt's SRT_LIVE_MAX_PLSIZE

SEQ_MASK = 0x7FFFFFFF
SEQ_HALF = 0x40000000
MSGNO_MASK = 0x03FFFFFF  # 26 bits when the REXMITFLG is negotiated (always in HSv5)
TS_MASK = 0xFFFFFFFF

# Control types (3.2)
HANDSHAKE = 0x0000
KEEPALIVE = 0x0001
ACK = 0x0002
NAK = 0x0003
CONGESTION_WARNING = 0x0004
SHUTDOWN = 0x0005
ACKACK = 0x0006
DROPREQ = 0x0007
PEERERROR = 0x0008
USER_DEFINED = 0x7FFF
CONTROL_TYPES = frozenset((HANDSHAKE, KEEPALIVE, ACK, NAK, CONGESTION_WARNING, SHUTDOWN, ACKACK,
                           DROPREQ, PEERERROR, USER_DEFINED))
# Subtypes of USER_DEFINED (SRT extension messages, also the handshake extension types)
EXT_HSREQ = 1
EXT_HSRSP = 2
EXT_KMREQ = 3
EXT_KMRSP = 4

# Packet position flags (PP): where the packet sits in its message; live mode sends SOLO
PP_MIDDLE = 0b00
PP_LAST = 0b01
PP_FIRST = 0b10
PP_SOLO = 0b11
# Key-based encryption flags (KK)
KK_NONE = 0b00
KK_EVEN = 0b01
KK_ODD = 0b10

_HEADER = struct.Struct(">IIII")


def seq_add(seq: int, n: int = 1) -> int:
    return (seq + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in the 31-bit circular space (|result| < 2**30)."""
    d = (a - b) & SEQ_MASK
    return d - (SEQ_MASK + 1) if d >= SEQ_HALF else d


class DataPacket:
    __slots__ = ("seq", "position", "in_order", "key", "retransmitted", "msgno", "timestamp",
                 "dst_id", "payload")

    def __init__(self, seq: int, msgno: int, timestamp: int, dst_id: int, payload: bytes,
                 position: int = PP_SOLO, in_order: bool = False, key: int = KK_NONE,
                 retransmitted: bool = False):
        self.seq = seq
        self.position = position
        self.in_order = in_order
        self.key = key
        self.retransmitted = retransmitted
        self.msgno = msgno
        self.timestamp = timestamp
        self.dst_id = dst_id
        self.payload = payload

    def __repr__(self) -> str:
        return (f"DataPacket(seq={self.seq}, msgno={self.msgno}, ts={self.timestamp}, kk={self.key}, "
                f"r={int(self.retransmitted)}, size={len(self.payload)})")

    def __eq__(self, other) -> bool:
        return isinstance(other, DataPacket) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def header(self) -> bytes:
        w1 = ((self.position << 30) | (int(self.in_order) << 29) | (self.key << 27)
              | (int(self.retransmitted) << 26) | (self.msgno & MSGNO_MASK))
        return _HEADER.pack(self.seq & SEQ_MASK, w1, self.timestamp & TS_MASK, self.dst_id)

    def build(self) -> bytes:
        return self.header() + self.payload


class ControlPacket:
    """``info`` is the 32-bit type-specific field (ACK number, message number...), ``cif`` the body."""

    __slots__ = ("type", "subtype", "info", "timestamp", "dst_id", "cif")

    def __init__(self, type: int, timestamp: int, dst_id: int, cif: bytes = b"", info: int = 0,
                 subtype: int = 0):
        self.type = type
        self.subtype = subtype
        self.info = info
        self.timestamp = timestamp
        self.dst_id = dst_id
        self.cif = cif

    def __repr__(self) -> str:
        return (f"ControlPacket(type={self.type:#x}, sub={self.subtype}, info={self.info}, "
                f"ts={self.timestamp}, dst={self.dst_id:#x}, cif={len(self.cif)})")

    def __eq__(self, other) -> bool:
        return isinstance(other, ControlPacket) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def build(self) -> bytes:
        w0 = 0x80000000 | (self.type << 16) | self.subtype
        return _HEADER.pack(w0, self.info & 0xFFFFFFFF, self.timestamp & TS_MASK, self.dst_id) + self.cif


def peek_dst_id(data) -> int:
    """The destination socket id of a datagram (0 = a handshake to the listener)."""
    if len(data) < HEADER_SIZE:
        raise SrtError(f"SRT packet of {len(data)} bytes")
    return int.from_bytes(data[12:16], "big")


def parse_packet(data) -> DataPacket | ControlPacket:
    n = len(data)
    if n < HEADER_SIZE:
        raise SrtError(f"SRT packet of {n} bytes")
    w0, w1, ts, dst = _HEADER.unpack_from(data)
    # Past the MTU only a handshake to the listener is read (a caller with an absurd stream id gets
    # a rejection it can report, not silence); its size is still bounded by the UDP datagram's.
    if n > MAX_MSS - UDP_IP_OVERHEAD and (dst or w0 >> 16 != 0x8000 | HANDSHAKE):
        raise SrtError(f"SRT packet of {n} bytes over the MTU")
    if w0 & 0x80000000:
        ctype = (w0 >> 16) & 0x7FFF
        if ctype not in CONTROL_TYPES:
            raise SrtError(f"SRT control type {ctype:#x}")
        return ControlPacket(ctype, ts, dst, bytes(data[HEADER_SIZE:]), w1, w0 & 0xFFFF)
    if n == HEADER_SIZE:
        raise SrtError("SRT data packet without payload")
    return DataPacket(w0, w1 & MSGNO_MASK, ts, dst, bytes(data[HEADER_SIZE:]), position=w1 >> 30,
                      in_order=bool(w1 & 0x20000000), key=(w1 >> 27) & 0b11,
                      retransmitted=bool(w1 & 0x04000000))


# --- ACK (3.2.4): light = 1 word, small = 4 words, full = 7 words (libsrt may add an 8th)
class Ack:
    __slots__ = ("ack_no", "last_ack_seq", "rtt_us", "rttvar_us", "avail_buf", "pkt_rate",
                 "capacity", "byte_rate")

    def __init__(self, ack_no: int, last_ack_seq: int, rtt_us: int = 0, rttvar_us: int = 0,
                 avail_buf: int = 0, pkt_rate: int = 0, capacity: int = 0, byte_rate: int = 0):
        self.ack_no = ack_no
        self.last_ack_seq = last_ack_seq
        self.rtt_us = rtt_us
        self.rttvar_us = rttvar_us
        self.avail_buf = avail_buf
        self.pkt_rate = pkt_rate
        self.capacity = capacity
        self.byte_rate = byte_rate

    @property
    def light(self) -> bool:
        return self.ack_no == 0

    def __eq__(self, other) -> bool:
        return isinstance(other, Ack) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    @classmethod
    def parse(cls, pkt: ControlPacket) -> "Ack":
        cif = pkt.cif
        words = len(cif) // 4
        if len(cif) % 4 or words not in (1, 4, 6, 7, 8):
            raise SrtError(f"SRT ACK of {len(cif)} bytes")
        vals = struct.unpack(f">{min(words, 7)}I", cif[:4 * min(words, 7)]) + (0,) * (7 - min(words, 7))
        if vals[0] & 0x80000000:
            raise SrtError(f"SRT ACK sequence {vals[0]:#x}")
        return cls(pkt.info, *vals)

    def build(self, timestamp: int, dst_id: int) -> bytes:
        if self.light:
            cif = struct.pack(">I", self.last_ack_seq)
        else:
            cif = struct.pack(">7I", self.last_ack_seq, self.rtt_us, self.rttvar_us, self.avail_buf,
                              self.pkt_rate, self.capacity, self.byte_rate)
        return ControlPacket(ACK, timestamp, dst_id, cif, self.ack_no).build()


# --- NAK (3.2.5): a list of lost sequence numbers, a range as (first | 0x80000000, last)
MAX_NAK_RANGES = 256  # one NAK stays well under the MTU (2 words per range)


def encode_loss_list(ranges) -> bytes:
    out = []
    for first, last in ranges:
        if first == last:
            out.append(first)
        else:
            out += (first | 0x80000000, last)
    return struct.pack(f">{len(out)}I", *out)


def decode_loss_list(cif: bytes) -> list:
    if not cif or len(cif) % 4:
        raise SrtError(f"SRT NAK of {len(cif)} bytes")
    words = struct.unpack(f">{len(cif) // 4}I", cif)
    ranges, i = [], 0
    while i < len(words):
        w = words[i]
        if w & 0x80000000:
            if i + 1 >= len(words) or words[i + 1] & 0x80000000:
                raise SrtError("SRT NAK range without its end")
            first, last = w & SEQ_MASK, words[i + 1]
            if seq_diff(last, first) < 0:
                raise SrtError(f"SRT NAK range {first}..{last} backwards")
            ranges.append((first, last))
            i += 2
        else:
            ranges.append((w, w))
            i += 1
    return ranges


def build_nak(ranges, timestamp: int, dst_id: int) -> bytes:
    return ControlPacket(NAK, timestamp, dst_id, encode_loss_list(ranges)).build()


# --- DROPREQ (3.2.9): info = message number, CIF = first and last sequence numbers dropped
def parse_dropreq(pkt: ControlPacket) -> tuple:
    if len(pkt.cif) < 8:
        raise SrtError(f"SRT DROPREQ of {len(pkt.cif)} bytes")
    first, last = struct.unpack_from(">II", pkt.cif)
    if (first | last) & 0x80000000 or seq_diff(last, first) < 0:
        raise SrtError(f"SRT DROPREQ range {first}..{last}")
    return first, last


def build_dropreq(msgno: int, first: int, last: int, timestamp: int, dst_id: int) -> bytes:
    return ControlPacket(DROPREQ, timestamp, dst_id, struct.pack(">II", first, last), msgno).build()


# Keep-alive, shutdown and ACKACK carry 4 bytes of padding in libsrt's packets; we send the same.
_PAD = bytes(4)


def build_keepalive(timestamp: int, dst_id: int) -> bytes:
    return ControlPacket(KEEPALIVE, timestamp, dst_id, _PAD).build()


def build_shutdown(timestamp: int, dst_id: int) -> bytes:
    return ControlPacket(SHUTDOWN, timestamp, dst_id, _PAD).build()


def build_ackack(ack_no: int, timestamp: int, dst_id: int) -> bytes:
    return ControlPacket(ACKACK, timestamp, dst_id, _PAD, ack_no).build()
