"""Sans-IO RTP (RFC 3550) packets and the two payload formats the RTSP caster receives:
H.264 (RFC 6184: single NALU, STAP-A, FU-A) and AAC (RFC 3640 ``mpeg4-generic``, AU headers).

Depacketisers are fed packets in sequence order and return complete frames with their RTP
timestamps (the caller converts clock units to ms). Over UDP a ``ReorderBuffer`` in front puts
packets that overtook each other back in order. Loss shows up as a sequence-number gap:
the partial NALU/AU in assembly is dropped and counted in ``lost``, never glued to later data.
The packetisers are the inverse, used by tests (and by any future RTSP/RTP output).
"""
from __future__ import annotations

import struct

from srs.kernel.errors import (ERROR_RTP_HEADER_CORRUPT, ERROR_RTP_TYPE96_CORRUPT,
                               ERROR_RTP_TYPE97_CORRUPT, CodecError)

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
NALU_STAP_A = 24
NALU_FU_A = 28
AAC_SAMPLES_PER_FRAME = 1024


class RtpPacket:
    """One RTP packet; ``payload`` has the padding removed, ``extension`` is (profile, bytes)."""

    __slots__ = ("payload_type", "marker", "seq", "timestamp", "ssrc", "csrcs", "extension",
                 "payload", "padding")

    def __init__(self, payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes,
                 marker: bool = False, csrcs=(), extension=None, padding: int = 0):
        self.payload_type = payload_type
        self.marker = marker
        self.seq = seq
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.csrcs = tuple(csrcs)
        self.extension = extension
        self.payload = payload
        self.padding = padding

    def __repr__(self) -> str:
        return (f"RtpPacket(pt={self.payload_type}, seq={self.seq}, ts={self.timestamp}, "
                f"m={int(self.marker)}, size={len(self.payload)})")

    def __eq__(self, other) -> bool:
        return isinstance(other, RtpPacket) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    @classmethod
    def parse(cls, data) -> "RtpPacket":
        data = bytes(data)
        n = len(data)
        if n < RTP_HEADER_SIZE:
            raise CodecError(f"RTP packet of {n} bytes", ERROR_RTP_HEADER_CORRUPT)
        b0, b1, seq, ts, ssrc = struct.unpack_from(">BBHII", data)
        if b0 >> 6 != RTP_VERSION:
            raise CodecError(f"RTP version {b0 >> 6}", ERROR_RTP_HEADER_CORRUPT)
        pos = RTP_HEADER_SIZE + 4 * (b0 & 0x0F)
        if pos > n:
            raise CodecError("RTP CSRC list truncated", ERROR_RTP_HEADER_CORRUPT)
        csrcs = struct.unpack_from(f">{b0 & 0x0F}I", data, RTP_HEADER_SIZE)
        extension = None
        if b0 & 0x10:
            if pos + 4 > n:
                raise CodecError("RTP extension header truncated", ERROR_RTP_HEADER_CORRUPT)
            profile, words = struct.unpack_from(">HH", data, pos)
            end = pos + 4 + 4 * words
            if end > n:
                raise CodecError("RTP extension truncated", ERROR_RTP_HEADER_CORRUPT)
            extension = (profile, data[pos + 4:end])
            pos = end
        end = n
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or pos + padding > n:
                raise CodecError(f"RTP padding {padding} exceeds the packet", ERROR_RTP_HEADER_CORRUPT)
            end = n - padding
        return cls(b1 & 0x7F, seq, ts, ssrc, data[pos:end], bool(b1 & 0x80), csrcs, extension,
                   padding)

    def build(self) -> bytes:
        b0 = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if self.extension else 0)
        b0 |= len(self.csrcs)
        parts = [struct.pack(">BBHII", b0, (0x80 if self.marker else 0) | self.payload_type,
                             self.seq & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc),
                 struct.pack(f">{len(self.csrcs)}I", *self.csrcs)]
        if self.extension:
            profile, ext = self.extension
            if len(ext) % 4:
                raise CodecError("RTP extension must be whole 32-bit words", ERROR_RTP_HEADER_CORRUPT)
            parts.append(struct.pack(">HH", profile, len(ext) // 4) + bytes(ext))
        parts.append(bytes(self.payload))
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


class _SeqTracker:
    """Counts lost packets from sequence numbers (16-bit wrap); True from ``gap`` on a loss."""

    __slots__ = ("last", "lost")

    def __init__(self):
        self.last = None
        self.lost = 0

    def gap(self, seq: int) -> bool:
        last, self.last = self.last, seq
        if last is None:
            return False
        delta = (seq - last) & 0xFFFF
        if delta == 1:
            return False
        if delta == 0 or delta > 0x8000:
            return True  # duplicate or reordered: treat the assembly as damaged
        self.lost += delta - 1
        return True


class ReorderBuffer:
    """Packets in arrival order in, in sequence order out. A packet that overtook others waits
    for them while the packets held span less than ``max_wait`` RTP clock units and number at
    most ``max_held``; then the gap is given up (the depacketiser counts it lost) and a packet
    that still comes later is dropped (counted in ``late``). In-order packets never wait. The
    packets' own timestamps are the clock, so this stays sans-IO and deterministic."""

    def __init__(self, max_wait: int, max_held: int = 64):
        self.max_wait = max_wait
        self.max_held = max_held
        self.next = None           # the sequence number expected next
        self.held: dict = {}       # seq -> packet, all after a gap
        self.reordered = 0         # packets put back in their place
        self.late = 0              # packets that came after their gap was given up, or twice

    def push(self, pkt: RtpPacket) -> list:
        if self.next is None:
            self.next = pkt.seq
        ahead = (pkt.seq - self.next) & 0xFFFF
        if ahead >= 0x8000 or pkt.seq in self.held:
            self.late += 1
            return []
        if ahead == 0 and not self.held:
            self.next = (pkt.seq + 1) & 0xFFFF
            return [pkt]
        if ahead == 0:
            self.reordered += 1
        self.held[pkt.seq] = pkt
        out: list = []
        self._release(out)
        while self.held and self._too_long():
            self.next = min(self.held, key=lambda s: (s - self.next) & 0xFFFF)
            self._release(out)
        return out

    def flush(self) -> list:
        out: list = []
        while self.held:
            self.next = min(self.held, key=lambda s: (s - self.next) & 0xFFFF)
            self._release(out)
        return out

    def _too_long(self) -> bool:
        """Held too many, or the newest held is max_wait after the first held (32-bit wrap)."""
        if len(self.held) > self.max_held:
            return True
        nxt = self.next
        first = self.held[min(self.held, key=lambda s: (s - nxt) & 0xFFFF)].timestamp
        span = 0
        for p in self.held.values():
            d = (p.timestamp - first) & 0xFFFFFFFF
            if span < d < 0x80000000:
                span = d
        return span > self.max_wait

    def _release(self, out: list) -> None:
        held = self.held
        while self.next in held:
            out.append(held.pop(self.next))
            self.next = (self.next + 1) & 0xFFFF


class H264Depacketizer:
    """RTP H.264 payloads -> access units ``(rtp_timestamp, [nalu, ...])``.

    An access unit ends at the marker bit, or when a packet with another timestamp arrives.
    """

    def __init__(self):
        self._seq = _SeqTracker()
        self._ts = None
        self._nalus: list = []
        self._fu = None          # bytearray of the FU-A NALU in assembly
        self.dropped = 0         # NALUs dropped because a fragment was lost

    @property
    def lost(self) -> int:
        return self._seq.lost

    def push(self, pkt: RtpPacket) -> list:
        out = []
        if self._seq.gap(pkt.seq) and self._fu is not None:
            self._fu = None
            self.dropped += 1
        if self._ts is not None and pkt.timestamp != self._ts:
            self._flush(out)
        self._ts = pkt.timestamp
        self._payload(pkt.payload)
        if pkt.marker:
            self._flush(out)
        return out

    def flush(self) -> list:
        out = []
        self._flush(out)
        return out

    def _flush(self, out: list) -> None:
        if self._fu is not None:  # an unfinished fragment at a frame boundary is lost data
            self._fu = None
            self.dropped += 1
        if self._nalus:
            out.append((self._ts, self._nalus))
        self._nalus = []

    def _payload(self, p: bytes) -> None:
        if not p:
            raise CodecError("empty H.264 RTP payload", ERROR_RTP_TYPE96_CORRUPT)
        kind = p[0] & 0x1F
        if 1 <= kind <= 23:
            self._nalus.append(p)
        elif kind == NALU_STAP_A:
            pos = 1
            while pos < len(p):
                if pos + 2 > len(p):
                    raise CodecError("STAP-A size truncated", ERROR_RTP_TYPE96_CORRUPT)
                (size,) = struct.unpack_from(">H", p, pos)
                pos += 2
                if size == 0 or pos + size > len(p):
                    raise CodecError(f"STAP-A NALU of {size} bytes exceeds the packet",
                                     ERROR_RTP_TYPE96_CORRUPT)
                self._nalus.append(p[pos:pos + size])
                pos += size
        elif kind == NALU_FU_A:
            if len(p) < 3:
                raise CodecError("FU-A truncated", ERROR_RTP_TYPE96_CORRUPT)
            fu = p[1]
            if fu & 0x80:  # start: rebuild the NALU header from indicator NRI + FU type
                if self._fu is not None:
                    self.dropped += 1
                self._fu = bytearray(((p[0] & 0xE0) | (fu & 0x1F),))
            if self._fu is None:
                return  # the start fragment was lost: skip to the next start
            self._fu += p[2:]
            if fu & 0x40:
                self._nalus.append(bytes(self._fu))
                self._fu = None
        else:
            raise CodecError(f"unsupported H.264 RTP packet type {kind}", ERROR_RTP_TYPE96_CORRUPT)


def packetize_h264(nalus, mtu: int = 1400) -> list:
    """NALUs of one access unit -> RTP payloads: small NALUs aggregated into STAP-A, big ones
    split into FU-A, else single NALU packets (the marker goes on the last one)."""
    out = []
    stap: list = []

    def close_stap():
        if len(stap) == 1:
            out.append(stap[0])
        elif stap:
            nri = max(n[0] & 0x60 for n in stap)
            out.append(bytes((nri | NALU_STAP_A,)) +
                       b"".join(struct.pack(">H", len(n)) + n for n in stap))
        stap.clear()

    for nalu in nalus:
        nalu = bytes(nalu)
        if len(nalu) > mtu:
            close_stap()
            indicator = (nalu[0] & 0xE0) | NALU_FU_A
            body = nalu[1:]
            step = mtu - 2
            for i in range(0, len(body), step):
                fu = nalu[0] & 0x1F
                if i == 0:
                    fu |= 0x80
                if i + step >= len(body):
                    fu |= 0x40
                out.append(bytes((indicator, fu)) + body[i:i + step])
            continue
        if 1 + sum(2 + len(n) for n in stap) + 2 + len(nalu) > mtu:
            close_stap()
        stap.append(nalu)
    close_stap()
    return out


class AacDepacketizer:
    """RFC 3640 (``mode=AAC-hbr``/``AAC-lbr``): AU headers, then the AUs. Frames come out as
    ``(rtp_timestamp, raw_aac_frame)``; several AUs in one packet are 1024 samples apart.
    A fragmented AU (one header, size bigger than the packet) is reassembled up to its size."""

    def __init__(self, size_length: int = 13, index_length: int = 3, index_delta_length: int = 3):
        if not 1 <= size_length <= 16:
            raise CodecError(f"AAC sizelength {size_length}", ERROR_RTP_TYPE97_CORRUPT)
        self.size_length = size_length
        self.index_length = index_length
        self.index_delta_length = index_delta_length
        self._seq = _SeqTracker()
        self._frag = None      # [timestamp, expected size, bytearray]
        self.dropped = 0

    @property
    def lost(self) -> int:
        return self._seq.lost

    def push(self, pkt: RtpPacket) -> list:
        if self._seq.gap(pkt.seq) and self._frag is not None:
            self._frag = None
            self.dropped += 1
        p = pkt.payload
        if self._frag is not None:
            ts, size, buf = self._frag
            if pkt.timestamp != ts:
                self._frag = None
                self.dropped += 1
            else:
                return self._continue(p)
        if len(p) < 2:
            raise CodecError("AAC RTP payload truncated", ERROR_RTP_TYPE97_CORRUPT)
        header_bits = (p[0] << 8) | p[1]
        header_bytes = (header_bits + 7) // 8
        if 2 + header_bytes > len(p):
            raise CodecError(f"AU headers of {header_bits} bits exceed the packet",
                             ERROR_RTP_TYPE97_CORRUPT)
        bits = int.from_bytes(p[2:2 + header_bytes], "big")
        total = header_bytes * 8
        pos = 0
        sizes = []
        index_len = self.index_length
        while pos + self.size_length + index_len <= header_bits:
            pos += self.size_length
            sizes.append((bits >> (total - pos)) & ((1 << self.size_length) - 1))
            pos += index_len  # AU-Index / AU-Index-delta: in-order streams only, ignored
            index_len = self.index_delta_length
        if not sizes:
            raise CodecError("AAC RTP packet without AU headers", ERROR_RTP_TYPE97_CORRUPT)
        data = p[2 + header_bytes:]
        if len(sizes) == 1 and sizes[0] > len(data):
            self._frag = [pkt.timestamp, sizes[0], bytearray(data)]
            return []
        out = []
        pos = 0
        for i, size in enumerate(sizes):
            if pos + size > len(data):
                raise CodecError(f"AU of {size} bytes exceeds the packet", ERROR_RTP_TYPE97_CORRUPT)
            out.append(((pkt.timestamp + i * AAC_SAMPLES_PER_FRAME) & 0xFFFFFFFF,
                        data[pos:pos + size]))
            pos += size
        return out

    def _continue(self, p: bytes) -> list:
        ts, size, buf = self._frag
        # a continuation repeats the AU header section; skip it
        header_bytes = (((p[0] << 8) | p[1]) + 7) // 8 if len(p) >= 2 else 0
        buf += p[2 + header_bytes:]
        if len(buf) < size:
            return []
        self._frag = None
        return [(ts, bytes(buf[:size]))]


def packetize_aac(frames, size_length: int = 13, index_length: int = 3) -> bytes:
    """Raw AAC frames -> one RFC 3640 payload (AU-headers-length, headers, AUs)."""
    n = len(frames)
    width = size_length + index_length
    bits = 0
    for f in frames:
        if len(f) >= 1 << size_length:
            raise CodecError(f"AU of {len(f)} bytes does not fit sizelength {size_length}",
                             ERROR_RTP_TYPE97_CORRUPT)
        bits = (bits << width) | (len(f) << index_length)
    total_bits = n * width
    nbytes = (total_bits + 7) // 8
    bits <<= nbytes * 8 - total_bits
    return struct.pack(">H", total_bits) + bits.to_bytes(nbytes, "big") + b"".join(bytes(f) for f in frames)


__all__ = ["RtpPacket", "ReorderBuffer", "H264Depacketizer", "AacDepacketizer", "packetize_h264", "packetize_aac",
           "NALU_STAP_A", "NALU_FU_A", "AAC_SAMPLES_PER_FRAME"]
