"""H.264 over RTP for WebRTC (RFC 6184, packetization-mode 1), the way SRS's RTMP->RTC bridge sends it.

Packetizer: one AVCC access unit (length-prefixed NALUs, as in RTMP/FLV) -> RTP packets. Before
every keyframe one STAP-A carries the SPS and PPS from the avcC (so a player that joins at that
IDR can decode without anything else); each NALU then goes as a single-NALU packet when it fits
the payload budget, else as FU-A fragments. AUDs and in-band SPS/PPS are dropped (the STAP-A
carries the current ones). The marker bit closes the access unit.

Depacketizer: RTP packets in sequence order (the caller's jitter buffer reorders) -> access units
as AVCC bytes with a keyframe flag, via protocol/rtp.py's RFC 6184 reassembly.
"""
from __future__ import annotations

import struct

from srs.kernel.codec_avc import AvcConfig, _Bits, avcc_split, annexb_to_avcc, ebsp_to_rbsp
from srs.kernel.errors import CodecError
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtp import NALU_FU_A, NALU_STAP_A, H264Depacketizer, RtpPacket

# SRS's kRtpMaxPayloadSize: 1500 MTU - IP/UDP - SRTP auth - header extensions, with headroom
DEFAULT_MAX_PAYLOAD = 1200
NALU_IDR, NALU_SEI, NALU_SPS, NALU_PPS, NALU_AUD = 5, 6, 7, 8, 9
VIDEO_CLOCK = 90000


class H264Packetizer:
    """Packetizes one video track. ``seq`` starts where the caller says (a random start is drawn
    by the app); ``ssrc`` and ``payload_type`` come from the negotiated answer."""

    def __init__(self, ssrc: int, payload_type: int, seq: int = 0,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, keep_sei: bool = True):
        if max_payload < 16:
            raise ValueError(f"max_payload {max_payload} too small for FU-A")
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.seq = seq & 0xFFFF
        self.max_payload = max_payload
        self.keep_sei = keep_sei
        self.config: AvcConfig | None = None

    def set_sequence_header(self, avcc_record: bytes) -> None:
        """The AVCDecoderConfigurationRecord (the RTMP sequence header after its 5 FLV bytes)."""
        self.config = AvcConfig.parse(avcc_record)

    def packetize(self, au: bytes, timestamp: int, keyframe: bool) -> list:
        """AVCC access unit -> [RtpPacket]; ``timestamp`` is in the 90 kHz clock (dts_ms * 90)."""
        if self.config is None:
            raise RtcError("H.264 access unit before the sequence header")
        try:
            nalus = avcc_split(au, self.config.nal_length_size)
        except CodecError as e:
            raise RtcError(f"bad AVCC access unit: {e}") from None
        payloads = []
        if keyframe or any(n[0] & 0x1F == NALU_IDR for n in nalus):
            payloads.append(self._stap_a([*self.config.sps, *self.config.pps]))
        for nalu in nalus:
            kind = nalu[0] & 0x1F
            if kind in (NALU_AUD, NALU_SPS, NALU_PPS) or (kind == NALU_SEI and not self.keep_sei):
                continue
            if len(nalu) <= self.max_payload:
                payloads.append(bytes(nalu))
            else:
                payloads.extend(self._fu_a(nalu))
        out = []
        ts = timestamp & 0xFFFFFFFF
        for i, payload in enumerate(payloads):
            out.append(RtpPacket(self.payload_type, self.seq, ts, self.ssrc, payload,
                                 marker=(i == len(payloads) - 1)))
            self.seq = (self.seq + 1) & 0xFFFF
        return out

    def _stap_a(self, nalus) -> bytes:
        nri = max(n[0] & 0x60 for n in nalus)
        body = b"".join(struct.pack(">H", len(n)) + bytes(n) for n in nalus)
        if 1 + len(body) > self.max_payload:
            raise RtcError(f"SPS+PPS of {len(body)} bytes exceed one STAP-A")
        return bytes((nri | NALU_STAP_A,)) + body

    def _fu_a(self, nalu) -> list:
        header = nalu[0]
        indicator = (header & 0xE0) | NALU_FU_A
        body = memoryview(nalu)[1:]
        step = self.max_payload - 2
        out = []
        for start in range(0, len(body), step):
            fu = header & 0x1F
            if start == 0:
                fu |= 0x80
            if start + step >= len(body):
                fu |= 0x40
            out.append(bytes((indicator, fu)) + bytes(body[start:start + step]))
        return out


def is_b_frame(nalus) -> bool:
    """Does an access unit (its NALUs) carry a B slice (slice_type 1 or 6)? SRS's RTMP->RTC bridge
    drops those unless ``keep_bframe``: a browser's WebRTC decoder renders in decode order."""
    for nalu in nalus:
        if nalu[0] & 0x1F != 1:        # only non-IDR slices can be B
            continue
        try:
            bits = _Bits(ebsp_to_rbsp(bytes(nalu[1:8])))
            bits.ue()                  # first_mb_in_slice
            return bits.ue() % 5 == 1  # slice_type
        except CodecError:
            return False
    return False


class H264Reassembler:
    """RTP packets (in order) -> ``(timestamp, avcc_bytes, keyframe)`` access units.

    A gap inside an access unit makes protocol/rtp.py drop the broken NALU; ``broken`` then
    counts access units delivered after a loss, so the caller can ask for a PLI.
    """

    def __init__(self):
        self._depacketizer = H264Depacketizer()
        self._padding = 0          # padding-only packets seen (bandwidth probes)
        self.padding_packets = 0

    @property
    def lost(self) -> int:
        return self._depacketizer.lost

    @property
    def dropped(self) -> int:
        return self._depacketizer.dropped

    def push(self, pkt: RtpPacket) -> list:
        if not pkt.payload:
            # Chromium probes bandwidth with padding-only packets on the media SSRC (no RTX
            # negotiated). They use sequence numbers, so the ones after them are renumbered to
            # keep real losses, and only those, visible to the reassembly.
            self._padding += 1
            self.padding_packets += 1
            return []
        if self._padding:
            pkt = RtpPacket(pkt.payload_type, (pkt.seq - self._padding) & 0xFFFF, pkt.timestamp,
                            pkt.ssrc, pkt.payload, pkt.marker)
        try:
            units = self._depacketizer.push(pkt)
        except CodecError as e:
            raise RtcError(f"bad H.264 RTP payload: {e}") from None
        return [self._unit(ts, nalus) for ts, nalus in units]

    def flush(self) -> list:
        return [self._unit(ts, nalus) for ts, nalus in self._depacketizer.flush()]

    @staticmethod
    def _unit(ts: int, nalus: list):
        keyframe = any(n[0] & 0x1F == NALU_IDR for n in nalus)
        return ts, annexb_to_avcc(nalus), keyframe


def parameter_sets(nalus) -> tuple:
    """The (sps, pps) among NALUs (a publisher's STAP-A), or (None, None)."""
    sps = pps = None
    for n in nalus:
        kind = n[0] & 0x1F
        if kind == NALU_SPS:
            sps = bytes(n)
        elif kind == NALU_PPS:
            pps = bytes(n)
    return sps, pps
