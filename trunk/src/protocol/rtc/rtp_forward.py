"""WebRTC -> WebRTC forwarding, the sans-IO part: a publisher's RTP packet re-written for players.

The packet is forwarded as it came (no depacketising, no transcoding): only its header changes,
once per stream. ``TrackRewrite`` gives it the stream's SSRC and SRS's payload type (the ones the
players' answers announce), and a sequence number of the stream's own space, continuous when the
publisher restarts its encoder (a new SSRC) or another publisher takes the stream; the RTP
timestamp is kept (same clock). The header extensions and CSRCs are dropped: their ids were
negotiated with the publisher, not with the player (a publisher's ``mid`` id read by a player as
another extension would misroute the packet), and our players negotiated none we fill.
"""
from __future__ import annotations

import struct

from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtp import NALU_FU_A, NALU_STAP_A, RTP_HEADER_SIZE, RTP_VERSION

NALU_IDR = 5
NALU_SPS = 7
_HEADER = struct.Struct(">BBHII")


def payload_offset(data: bytes) -> int:
    """Where an RTP packet's payload starts (after CSRCs and extension); RtcError when malformed."""
    n = len(data)
    if n < RTP_HEADER_SIZE or data[0] >> 6 != RTP_VERSION:
        raise RtcError(f"not an RTP packet ({n} bytes)")
    pos = RTP_HEADER_SIZE + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if pos + 4 > n:
            raise RtcError("RTP extension header truncated")
        pos += 4 + 4 * int.from_bytes(data[pos + 2:pos + 4], "big")
    if pos > n:
        raise RtcError("RTP header longer than the packet")
    return pos


def h264_keyframe_start(data, pos: int = 0) -> bool:
    """True when the H.264 RTP payload (RFC 6184) at ``data[pos:]`` starts a keyframe: an SPS or the
    first part of an IDR slice, alone, in a STAP-A, or the start fragment of a FU-A. Decoding can
    begin there. (An offset rather than a slice: no copy of the packet.)"""
    n = len(data)
    if pos >= n:
        return False
    nal = data[pos] & 0x1F
    if nal in (NALU_IDR, NALU_SPS):
        return True
    if nal == NALU_FU_A:
        return pos + 1 < n and bool(data[pos + 1] & 0x80) and data[pos + 1] & 0x1F == NALU_IDR
    if nal == NALU_STAP_A:
        i = pos + 1
        while i + 3 <= n:
            size = int.from_bytes(data[i:i + 2], "big")
            if size == 0 or i + 2 + size > n:
                return False           # a truncated aggregate: nothing in it is trusted
            if data[i + 2] & 0x1F in (NALU_IDR, NALU_SPS):
                return True
            i += 2 + size
    return False


def seq_diff(a: int, b: int) -> int:
    """a - b on the 16-bit sequence circle, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


class TrackRewrite:
    """One track of the forwarded stream: the publisher's packets -> the stream's SSRC, PT, seq."""

    __slots__ = ("ssrc", "pt", "next_seq", "in_ssrc", "delta", "packets", "restarts")

    def __init__(self, ssrc: int, pt: int, first_seq: int):
        self.ssrc = ssrc
        self.pt = pt
        self.next_seq = first_seq & 0xFFFF   # the sequence number after the highest one sent
        self.in_ssrc = None
        self.delta = 0
        self.packets = 0
        self.restarts = 0

    def rewrite(self, data: bytes) -> tuple:
        """``(packet, seq, timestamp, payload offset)`` of the re-written packet; RtcError if malformed.
        A late or retransmitted packet keeps its place (the same delta): a player NACKing it gets it."""
        pos = payload_offset(data)
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if ssrc != self.in_ssrc:
            if self.in_ssrc is not None:
                self.restarts += 1
            self.in_ssrc = ssrc
            self.delta = (self.next_seq - seq) & 0xFFFF   # continue where the last source stopped
        out_seq = (seq + self.delta) & 0xFFFF
        if seq_diff(out_seq, self.next_seq) >= 0:
            self.next_seq = (out_seq + 1) & 0xFFFF
        self.packets += 1
        # V=2 and the padding bit kept (the padding is at the end of the part copied); X and CC cleared
        header = _HEADER.pack(b0 & 0xE0, (b1 & 0x80) | self.pt, out_seq, ts, self.ssrc)
        return header + data[pos:], out_seq, ts, RTP_HEADER_SIZE
