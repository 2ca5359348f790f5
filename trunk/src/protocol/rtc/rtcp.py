"""RTCP for WebRTC (RFC 3550 SR/RR, RFC 4585 generic NACK and PLI, RFC 5104 FIR, REMB
draft-alvestrand-rmcat-remb, transport-cc draft-holmer-rmcat-transport-wide-cc-extensions-01).

``parse_compound`` splits a (decrypted) compound packet into typed packets; unknown types are
kept as ``RtcpUnknown`` so a browser's XR/SDES never ends a session. Each class builds itself.
"""
from __future__ import annotations

import struct

from srs.protocol.rtc.errors import RtcpError

PT_SR, PT_RR, PT_SDES, PT_BYE, PT_RTPFB, PT_PSFB, PT_XR = 200, 201, 202, 203, 205, 206, 207
FMT_NACK, FMT_TWCC = 1, 15
FMT_PLI, FMT_FIR, FMT_REMB = 1, 4, 15
MAX_REPORT_BLOCKS = 31
TWCC_DELTA_UNIT_US = 250
TWCC_REFERENCE_UNIT_US = 64000
TWCC_NOT_RECEIVED, TWCC_SMALL_DELTA, TWCC_LARGE_DELTA = 0, 1, 2


def _header(pt: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        body += bytes(4 - len(body) % 4)
    return struct.pack(">BBH", 0x80 | count, pt, len(body) // 4) + body


class ReportBlock:
    __slots__ = ("ssrc", "fraction_lost", "cumulative_lost", "highest_seq", "jitter", "lsr", "dlsr")

    def __init__(self, ssrc, fraction_lost=0, cumulative_lost=0, highest_seq=0, jitter=0, lsr=0, dlsr=0):
        self.ssrc, self.fraction_lost, self.cumulative_lost = ssrc, fraction_lost, cumulative_lost
        self.highest_seq, self.jitter, self.lsr, self.dlsr = highest_seq, jitter, lsr, dlsr

    def build(self) -> bytes:
        lost = self.cumulative_lost & 0xFFFFFF
        return struct.pack(">IIIIII", self.ssrc, (self.fraction_lost << 24) | lost,
                           self.highest_seq, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse(cls, data, pos):
        ssrc, fl, seq, jitter, lsr, dlsr = struct.unpack_from(">IIIIII", data, pos)
        lost = fl & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, fl >> 24, lost, seq, jitter, lsr, dlsr)

    def __eq__(self, other):
        return isinstance(other, ReportBlock) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)


class SenderReport:
    def __init__(self, ssrc, ntp, rtp_ts, packets, octets, reports=()):
        self.ssrc, self.ntp, self.rtp_ts, self.packets, self.octets = ssrc, ntp, rtp_ts, packets, octets
        self.reports = list(reports)

    def build(self) -> bytes:
        body = struct.pack(">IQIII", self.ssrc, self.ntp, self.rtp_ts, self.packets, self.octets)
        return _header(PT_SR, len(self.reports), body + b"".join(r.build() for r in self.reports))


class ReceiverReport:
    def __init__(self, ssrc, reports=()):
        self.ssrc = ssrc
        self.reports = list(reports)

    def build(self) -> bytes:
        return _header(PT_RR, len(self.reports),
                       struct.pack(">I", self.ssrc) + b"".join(r.build() for r in self.reports))


class Nack:
    """Generic NACK: ``lost`` is the sorted list of sequence numbers the receiver asks for."""

    def __init__(self, sender_ssrc, media_ssrc, lost):
        self.sender_ssrc, self.media_ssrc = sender_ssrc, media_ssrc
        first = lost[0] & 0xFFFF if lost else 0
        # sorted by distance from the first one, so a list across the 16-bit wrap stays in order
        self.lost = sorted({s & 0xFFFF for s in lost}, key=lambda s: (s - first) & 0xFFFF)

    def build(self) -> bytes:
        fci, i = [], 0
        seqs = self.lost
        while i < len(seqs):
            pid, blp = seqs[i], 0
            i += 1
            while i < len(seqs) and 0 < ((seqs[i] - pid) & 0xFFFF) <= 16:
                blp |= 1 << (((seqs[i] - pid) & 0xFFFF) - 1)
                i += 1
            fci.append(struct.pack(">HH", pid, blp))
        return _header(PT_RTPFB, FMT_NACK,
                       struct.pack(">II", self.sender_ssrc, self.media_ssrc) + b"".join(fci))

    @classmethod
    def parse(cls, sender, media, fci):
        lost = []
        for pos in range(0, len(fci) - 3, 4):
            pid, blp = struct.unpack_from(">HH", fci, pos)
            lost.append(pid)
            lost += [(pid + b + 1) & 0xFFFF for b in range(16) if blp >> b & 1]
        return cls(sender, media, lost)


class Pli:
    def __init__(self, sender_ssrc, media_ssrc):
        self.sender_ssrc, self.media_ssrc = sender_ssrc, media_ssrc

    def build(self) -> bytes:
        return _header(PT_PSFB, FMT_PLI, struct.pack(">II", self.sender_ssrc, self.media_ssrc))


class Fir:
    """Full Intra Request: ``entries`` are (media ssrc, command sequence number)."""

    def __init__(self, sender_ssrc, entries):
        self.sender_ssrc = sender_ssrc
        self.entries = list(entries)

    def build(self) -> bytes:
        fci = b"".join(struct.pack(">IB3x", ssrc, seq & 0xFF) for ssrc, seq in self.entries)
        return _header(PT_PSFB, FMT_FIR, struct.pack(">II", self.sender_ssrc, 0) + fci)


class Remb:
    def __init__(self, sender_ssrc, bitrate, ssrcs):
        self.sender_ssrc, self.bitrate, self.ssrcs = sender_ssrc, bitrate, list(ssrcs)

    def build(self) -> bytes:
        exp, mantissa = 0, self.bitrate
        while mantissa >= 1 << 18:
            mantissa >>= 1
            exp += 1
        if exp > 63:
            raise RtcpError(f"REMB bitrate {self.bitrate} too large")
        body = struct.pack(">II4sBBH", self.sender_ssrc, 0, b"REMB", len(self.ssrcs),
                           (exp << 2) | (mantissa >> 16), mantissa & 0xFFFF)
        return _header(PT_PSFB, FMT_REMB, body + b"".join(struct.pack(">I", s) for s in self.ssrcs))


class TransportCc:
    """transport-cc feedback. ``packets`` is [(transport seq, arrival_us or None)] from base_seq on,
    consecutive; arrival times are on the receiver's clock (passed in), ``reference_us`` is
    rounded down to 64 ms and the deltas are in 250 us units."""

    def __init__(self, sender_ssrc, media_ssrc, base_seq, reference_us, fb_count, packets):
        self.sender_ssrc, self.media_ssrc = sender_ssrc, media_ssrc
        self.base_seq, self.fb_count = base_seq & 0xFFFF, fb_count & 0xFF
        self.reference_us = reference_us - reference_us % TWCC_REFERENCE_UNIT_US
        self.packets = list(packets)

    def build(self) -> bytes:
        symbols, deltas, last = [], [], self.reference_us
        for _seq, arrival in self.packets:
            if arrival is None:
                symbols.append(TWCC_NOT_RECEIVED)
                continue
            delta = (arrival - last) // TWCC_DELTA_UNIT_US
            last += delta * TWCC_DELTA_UNIT_US
            if 0 <= delta <= 0xFF:
                symbols.append(TWCC_SMALL_DELTA)
                deltas.append(struct.pack(">B", delta))
            elif -0x8000 <= delta <= 0x7FFF:
                symbols.append(TWCC_LARGE_DELTA)
                deltas.append(struct.pack(">h", delta))
            else:
                raise RtcpError(f"transport-cc delta {delta} needs a new feedback packet")
        chunks = []
        for i in range(0, len(symbols), 7):   # two-bit status vector chunks: 7 symbols each
            word = 0xC000
            for j, s in enumerate(symbols[i:i + 7]):
                word |= s << (12 - 2 * j)
            chunks.append(struct.pack(">H", word))
        ref = (self.reference_us // TWCC_REFERENCE_UNIT_US) & 0xFFFFFF
        body = struct.pack(">IIHHI", self.sender_ssrc, self.media_ssrc, self.base_seq,
                           len(symbols), (ref << 8) | self.fb_count)
        return _header(PT_RTPFB, FMT_TWCC, body + b"".join(chunks) + b"".join(deltas))

    @classmethod
    def parse(cls, sender, media, fci):
        if len(fci) < 8:
            raise RtcpError("transport-cc FCI truncated")
        base, count, ref_fb = struct.unpack_from(">HHI", fci)
        ref_us = (ref_fb >> 8) * TWCC_REFERENCE_UNIT_US
        symbols, pos = [], 8
        while len(symbols) < count:
            if pos + 2 > len(fci):
                raise RtcpError("transport-cc chunks truncated")
            (chunk,) = struct.unpack_from(">H", fci, pos)
            pos += 2
            if not chunk & 0x8000:          # run length
                symbols += [(chunk >> 13) & 3] * (chunk & 0x1FFF)
            elif chunk & 0x4000:            # two-bit vector
                symbols += [(chunk >> (12 - 2 * j)) & 3 for j in range(7)]
            else:                           # one-bit vector
                symbols += [(chunk >> (13 - j)) & 1 for j in range(14)]
        packets, arrival = [], ref_us
        for i, s in enumerate(symbols[:count]):
            seq = (base + i) & 0xFFFF
            if s == TWCC_NOT_RECEIVED:
                packets.append((seq, None))
                continue
            size = 1 if s == TWCC_SMALL_DELTA else 2
            if pos + size > len(fci):
                raise RtcpError("transport-cc deltas truncated")
            delta = fci[pos] if size == 1 else struct.unpack_from(">h", fci, pos)[0]
            pos += size
            arrival += delta * TWCC_DELTA_UNIT_US
            packets.append((seq, arrival))
        return cls(sender, media, base, ref_us, ref_fb & 0xFF, packets)


def transport_sequence(extension, ext_id: int):
    """The transport-wide sequence number from an RTP header extension ``(profile, bytes)``
    (RFC 8285 one-byte 0xBEDE or two-byte 0x100x form), or None when the packet has none."""
    if not extension or not ext_id:
        return None
    profile, data = extension
    one_byte = profile == 0xBEDE
    if not one_byte and profile & 0xFFF0 != 0x1000:
        return None
    pos = 0
    while pos < len(data):
        if data[pos] == 0:                      # padding
            pos += 1
            continue
        if one_byte:
            ident, size, pos = data[pos] >> 4, (data[pos] & 0x0F) + 1, pos + 1
            if ident == 15:
                return None
        else:
            if pos + 2 > len(data):
                return None
            ident, size, pos = data[pos], data[pos + 1], pos + 2
        if pos + size > len(data):
            return None
        if ident == ext_id and size == 2:
            return struct.unpack_from(">H", data, pos)[0]
        pos += size
    return None


class RtcpUnknown:
    def __init__(self, pt, count, body):
        self.pt, self.count, self.body = pt, count, body

    def build(self) -> bytes:
        return _header(self.pt, self.count, self.body)


def build_compound(packets) -> bytes:
    return b"".join(p.build() for p in packets)


def parse_compound(data) -> list:
    data = bytes(data)
    out, pos = [], 0
    if len(data) < 4:
        raise RtcpError(f"RTCP of {len(data)} bytes")
    while pos < len(data):
        if pos + 4 > len(data):
            raise RtcpError("RTCP header truncated")
        b0, pt, words = struct.unpack_from(">BBH", data, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise RtcpError(f"RTCP pt={pt} length {words} overruns")
        body = data[pos + 4:end]
        if b0 & 0x20:   # padding: only valid on the last packet of the compound
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("RTCP padding invalid")
            body = body[:-body[-1]]
        out.append(_parse_one(pt, b0 & 0x1F, body))
        pos = end
    return out


def _parse_one(pt, count, body):
    try:
        if pt == PT_SR:
            ssrc, ntp, ts, pk, oc = struct.unpack_from(">IQIII", body)
            return SenderReport(ssrc, ntp, ts, pk, oc, _blocks(body, 24, count))
        if pt == PT_RR:
            return ReceiverReport(struct.unpack_from(">I", body)[0], _blocks(body, 4, count))
        if pt in (PT_RTPFB, PT_PSFB):
            sender, media = struct.unpack_from(">II", body)
            fci = body[8:]
            if pt == PT_RTPFB and count == FMT_NACK:
                return Nack.parse(sender, media, fci)
            if pt == PT_RTPFB and count == FMT_TWCC:
                return TransportCc.parse(sender, media, fci)
            if pt == PT_PSFB and count == FMT_PLI:
                return Pli(sender, media)
            if pt == PT_PSFB and count == FMT_FIR:
                return Fir(sender, [struct.unpack_from(">IB", fci, i) for i in range(0, len(fci) - 7, 8)])
            if pt == PT_PSFB and count == FMT_REMB and fci[:4] == b"REMB":
                n, e, m = struct.unpack_from(">BBH", fci, 4)
                ssrcs = struct.unpack_from(f">{n}I", fci, 8)
                return Remb(sender, ((e & 3) << 16 | m) << (e >> 2), ssrcs)
    except struct.error:
        raise RtcpError(f"RTCP pt={pt} fmt={count} truncated") from None
    return RtcpUnknown(pt, count, body)


def _blocks(body, pos, count):
    if pos + 24 * count > len(body):
        raise RtcpError(f"RTCP {count} report blocks overrun")
    return [ReportBlock.parse(body, pos + 24 * i) for i in range(count)]
