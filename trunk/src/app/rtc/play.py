"""RTMP -> WebRTC play: a stream's media packetised ONCE into RTP, encrypted per player.

``RtcStreamEncoder`` is the live source's shared encoder of the group ("rtc",): the source's tick
hands it each merged-write batch once, whatever the number of WebRTC players. It turns the H.264
access units into RTP (protocol/rtc/rtp_h264: STAP-A with SPS/PPS before each IDR, single NALUs,
FU-A), AAC into Opus (app/rtc/audio.py, once per stream), keeps the plaintext packets in one NACK
ring per track and the packets since the last keyframe for players that join (``join``). The bytes
it returns are a list of plaintext RTP packets, the same list for every player.

``RtcPlayOutput`` is one player's end of the tick. The source's tick (the publisher's greenlet)
only queues the shared packet list on it: encrypting is the costly part of WebRTC, and done
inline it would hold the publisher's greenlet (and, under load, starve the API and the UDP loop).
``RtcSender``, one greenlet per server, then serves every player with packets waiting, back to
back, yielding every ``YIELD_EVERY`` players: payload types rewritten if the player negotiated
others than SRS's 102/111, SRTP protect with the player's keys, then non-blocking sends on the
server's UDP socket: a video frame's packets (all of one size but the last) go in one GSO
``sendmsg`` (app/server/udp_batch.py), audio packets one ``sendto`` each. A full socket drops the
packet (counted): NACK brings it back.
A player's queue is bounded (``MAX_PENDING_PACKETS``): past it the oldest batches are dropped.
"""
from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from collections import deque
from typing import Callable, List, Optional

import gevent

from srs.app.live.source import Consumer, LiveSource
from srs.app.rtc.audio import AacToOpus
from srs.app.server.udp_batch import UdpBatchSender
from srs.kernel.codec import ACODEC_AAC, VCODEC_AVC
from srs.kernel.log import cid_var
from srs.kernel.errors import SrsError
from srs.protocol.rtc import opus, rtcp
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.nack_ring import AUDIO_RING_SIZE, VIDEO_RING_SIZE, NackRing
from srs.protocol.rtc.rtp_h264 import VIDEO_CLOCK, H264Packetizer, is_b_frame
from srs.kernel.codec_avc import avcc_split
from srs.protocol.rtp import RtpPacket

log = logging.getLogger(__name__)

VIDEO_PT = 102               # SRS's RTMP-bridged source description: H.264 PT 102, Opus PT 111
AUDIO_PT = 111
OPUS_CLOCK = 48000
GOP_PACKETS_MAX = 4096       # a GOP longer than this (~5 MB) is not cached: players wait for the next IDR
GROUP_KEY = ("rtc",)
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
# 20 ms Opus frames joined 3 to a packet: 17 audio packets a second per player instead of 50 (each
# is one SRTP protect and one send, whatever its size); 60 ms is well within RFC 7587's 120 ms
OPUS_FRAMES_PER_PACKET = 3
MAX_PENDING_PACKETS = 1024     # a player's queue: ~15 s of a 600 kbps stream; more is dropped, oldest first
YIELD_EVERY = 32               # players served between two yields of the sender greenlet


class Pithy:
    """Rate-limited logging for per-packet events: ``due(topic)`` is true at most once per interval."""

    __slots__ = ("interval_s", "last")

    def __init__(self, interval_s: float = 5.0):
        self.interval_s = interval_s
        self.last: dict = {}

    def due(self, topic: str) -> bool:
        now = time.monotonic()
        if now - self.last.get(topic, -1e9) < self.interval_s:
            return False
        if len(self.last) > 64:    # topics are a handful of constants; keep it bounded anyway
            self.last.clear()
        self.last[topic] = now
        return True


def stream_ssrcs(url: str) -> dict:
    """The SSRCs of a stream's tracks: the same for every player (one packetisation), derived from
    the stream's name so that the answer can carry them before the stream's encoder exists."""
    video = zlib.crc32(b"video:" + url.encode("utf-8", "surrogateescape")) or 1
    audio = zlib.crc32(b"audio:" + url.encode("utf-8", "surrogateescape")) or 2
    return {"video": video, "audio": audio}


class Sent:
    """A packet in a NACK ring: its sequence number and plaintext bytes."""

    __slots__ = ("seq", "data")

    def __init__(self, seq: int, data: bytes):
        self.seq = seq
        self.data = data


class BridgeOptions:
    """The vhost's rtc knobs the packetisation reads (fixed for the life of the stream's encoder)."""

    __slots__ = ("keep_bframe", "keep_sei", "opus_bitrate")

    def __init__(self, keep_bframe: bool = False, keep_sei: bool = True, opus_bitrate: int = 48000):
        self.keep_bframe = keep_bframe
        self.keep_sei = keep_sei
        self.opus_bitrate = opus_bitrate

    @classmethod
    def from_vhost(cls, rtc) -> "BridgeOptions":
        return cls(rtc.keep_bframe, rtc.keep_avc_nalu_sei, rtc.opus_bitrate)


def random16() -> int:
    return struct.unpack(">H", os.urandom(2))[0]


class RtcStreamEncoder:
    """The stream's one packetisation (a ``SharedEncoder`` of app/live/encoders.py)."""

    def __init__(self, source: LiveSource, options: BridgeOptions):
        self.url = source.url
        self.options = options
        ssrcs = stream_ssrcs(source.url)
        self.video_ssrc, self.audio_ssrc = ssrcs["video"], ssrcs["audio"]
        self.video = H264Packetizer(self.video_ssrc, VIDEO_PT, seq=random16(), keep_sei=options.keep_sei)
        self.audio_seq = random16()
        self.audio: Optional[AacToOpus] = None   # made at the first AAC sequence header
        self.opus_pending: list = []             # (20 ms Opus packet, RTP ts) not sent yet
        self.rings = {self.video_ssrc: NackRing(VIDEO_RING_SIZE), self.audio_ssrc: NackRing(AUDIO_RING_SIZE)}
        self.gop: List[bytes] = []
        self.gop_full = False
        self.refused = ""
        self.clock = None                        # (media ms, monotonic s) of the last message: the SR mapping
        self.frames = self.bframes_dropped = self.bad_frames = self.skipped_video = 0
        self.pithy = Pithy(10.0)
        # A stream already published: what a player would get from the caches, packetised now so that
        # the first player starts at the GOP cache's keyframe too.
        self.encode([m for m in (source.video_sh, source.audio_sh) if m is not None] + list(source.gop), 0)

    # ------------------------------------------------------------------ SharedEncoder
    def join(self) -> list:
        """A player that joins now: the packets since the last keyframe (SPS/PPS STAP-A first)."""
        return list(self.gop)

    def encode(self, batch, base: int) -> list:
        out: List[bytes] = []
        if batch:
            self.clock = (batch[-1].ts_ms, time.monotonic())
        for msg in batch:
            if msg.is_video:
                self._video(msg, out)
            elif msg.is_audio:
                self._audio(msg, out)
        return out

    # ------------------------------------------------------------------ video
    def _video(self, msg, out: list) -> None:
        p = msg.payload
        if len(p) < 5 or p[0] & 0x80 or p[0] & 0x0F != VCODEC_AVC:
            # HEVC/AV1 (enhanced RTMP) and legacy codecs: WebRTC gets H.264 only, as SRS
            self.skipped_video += 1
            if self.pithy.due("video"):
                log.warning("rtc: %s video codec 0x%02x is not H.264, %d frames skipped", self.url,
                            p[0] if p else 0, self.skipped_video)
            return
        if p[1] == 0:
            record = bytes(p[5:])
            old = self.video.config
            try:
                self.video.set_sequence_header(record)
            except SrsError as e:
                log.warning("rtc: %s bad AVC sequence header: %s", self.url, e)
                return
            if old is not None and old.raw != record:
                # a new stream (a republish, another encoder): the cached GOP is the old one's
                self.gop = []
                self.gop_full = False
            return
        if p[1] != 1 or self.video.config is None:
            return
        cts = int.from_bytes(p[2:5], "big", signed=True)
        au = p[5:]
        keyframe = msg.keyframe
        if not self.options.keep_bframe and not keyframe:
            try:
                if is_b_frame(avcc_split(au, self.video.config.nal_length_size)):
                    self.bframes_dropped += 1
                    return
            except SrsError:
                pass   # the packetizer below says why
        try:
            packets = self.video.packetize(au, (msg.ts_ms + cts) * (VIDEO_CLOCK // 1000), keyframe)
        except RtcError as e:
            self.bad_frames += 1
            if self.pithy.due("bad"):
                log.warning("rtc: %s video frame dropped (%d so far): %s", self.url, self.bad_frames, e)
            return
        self.frames += 1
        if keyframe:
            self.gop = []
            self.gop_full = False
        self._emit(packets, self.rings[self.video_ssrc], out)

    def _emit(self, packets, ring: NackRing, out: list) -> None:
        gop = self.gop
        for pkt in packets:
            data = pkt.build()
            ring.put(Sent(pkt.seq, data))
            out.append(data)
            if not self.gop_full:
                gop.append(data)
        if len(gop) > GOP_PACKETS_MAX:
            self.gop_full = True
            gop.clear()

    # ------------------------------------------------------------------ audio
    def _audio(self, msg, out: list) -> None:
        p = msg.payload
        if len(p) < 2 or p[0] >> 4 != ACODEC_AAC:
            return
        if p[1] == 0:
            try:
                if self.audio is None:
                    self.audio = AacToOpus(self.options.opus_bitrate)
                self.audio.on_sequence_header(bytes(p[2:]))
            except Exception as e:  # noqa: BLE001 - PyAV refuses an odd config: video still plays
                self.audio = None
                log.warning("rtc: %s AAC to Opus refused: %s", self.url, e)
            return
        if self.audio is None or self.audio.config is None:
            return
        try:
            frames = self.audio.transcode(bytes(p[2:]), msg.ts_ms)
        except Exception as e:  # noqa: BLE001 - a bad AAC frame costs that frame only
            if self.pithy.due("audio"):
                log.warning("rtc: %s AAC frame not transcoded: %s", self.url, e)
            return
        pending, packets = self.opus_pending, []
        for payload, ts48 in frames:
            if payload[0] & 0x03 or (pending and opus.toc_config(pending[0][0]) != opus.toc_config(payload)):
                packets += self._opus_packets()    # not a single frame, or a new mode: no joining across
            pending.append((payload, ts48))
            if len(pending) >= OPUS_FRAMES_PER_PACKET or payload[0] & 0x03:
                packets += self._opus_packets()
        self._emit(packets, self.rings[self.audio_ssrc], out)

    def _opus_packets(self) -> list:
        pending = self.opus_pending
        if not pending:
            return []
        try:
            payload = opus.join([p for p, _ in pending]) if len(pending) > 1 else pending[0][0]
        except opus.OpusError:
            payload = None
        packets = []
        for data, ts48 in ([(payload, pending[0][1])] if payload is not None else pending):
            packets.append(RtpPacket(AUDIO_PT, self.audio_seq, ts48 & 0xFFFFFFFF, self.audio_ssrc, data))
            self.audio_seq = (self.audio_seq + 1) & 0xFFFF
        pending.clear()
        return packets

    # ------------------------------------------------------------------ RTCP
    def sender_reports(self, packets: int, octets: int) -> bytes:
        """RTCP SRs of both tracks for one player (its counts): the NTP time now and the RTP time of
        the stream now, so that a browser can sync audio and video (the ms timeline x 90 / x 48)."""
        if self.clock is None:
            return b""
        ms, mono = self.clock
        now_ms = ms + (time.monotonic() - mono) * 1000.0
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF
        reports = [rtcp.SenderReport(self.video_ssrc, ntp, int(now_ms * 90) & 0xFFFFFFFF, packets, octets)]
        if self.audio is not None:
            reports.append(rtcp.SenderReport(self.audio_ssrc, ntp, int(now_ms * 48) & 0xFFFFFFFF, packets, octets))
        return rtcp.build_compound(reports)

    # ------------------------------------------------------------------ NACK
    def retransmit(self, media_ssrc: int, lost) -> list:
        """The plaintext packets a player's NACK asks for, still in the ring."""
        return ring_answer(self.rings, media_ssrc, lost)


def ring_answer(rings: dict, media_ssrc: int, lost) -> list:
    """The plaintext packets of the track ``media_ssrc`` a NACK asks for, still in its ring."""
    ring = rings.get(media_ssrc)
    if ring is None:
        return []
    return [s.data for s in ring.answer(lost)]


class Batch(list):
    """Packets queued to players together: ``mapped`` when already re-written to their payload
    types; ``arrived`` (monotonic s) and ``samples`` (a bounded deque) when forwarded from a WebRTC
    publisher, so that each send records the server-added latency."""

    __slots__ = ("mapped", "arrived", "samples")

    def __init__(self, packets=(), mapped: bool = False, arrived: float = 0.0, samples=None):
        super().__init__(packets)
        self.mapped = mapped
        self.arrived = arrived
        self.samples = samples


def map_pts(packets, pt_map: dict) -> list:
    """``packets`` with SRS's payload types replaced by a player's (``pt_map``; None: skipped)."""
    out = []
    for data in packets:
        pt = data[1] & 0x7F
        if pt in pt_map:
            new = pt_map[pt]
            if new is None:
                continue
            b = bytearray(data)
            b[1] = (b[1] & 0x80) | new
            data = bytes(b)
        out.append(data)
    return out


class RtcSender:
    """The server's send tick: the players with packets waiting, served by one greenlet that lives
    while there is work (spawned by the first player that gets packets)."""

    def __init__(self, cid: int = 0):
        self.cid = cid
        self.ready: list = []
        self.greenlet = None

    def schedule(self, output: "RtcPlayOutput") -> None:
        self.ready.append(output)
        if self.greenlet is None:
            self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        cid_var.set(self.cid)
        try:
            while self.ready:
                batch, self.ready = self.ready, []
                for i, out in enumerate(batch, 1):
                    out.flush()
                    if i % YIELD_EVERY == 0:
                        gevent.sleep(0)   # the API, the UDP loop and the publishers run too
        finally:
            self.greenlet = None


class RtcPlayOutput:
    """One WebRTC player's output (what ``LiveSource`` writes to): the packet lists queued by the
    tick, sent by ``RtcSender`` with the player's SRTP keys and payload types."""

    __slots__ = ("protect_batch", "udp", "peer", "pt_map", "pt_key", "closed", "backlog_bytes", "sent_bytes", "packets",
                 "send_drops", "queue_drops", "on_close", "cid", "sender", "pending", "pending_packets")

    def __init__(self, cid: int, protect_batch, udp: UdpBatchSender, peer, video_pt: int, audio_pt: Optional[int],
                 sender: RtcSender):
        self.cid = cid
        self.protect_batch = protect_batch   # the player's SRTP: packets -> (back-to-back bytes, sizes, failed)
        self.udp = udp                # the server's UDP socket: GSO runs of equal-sized packets
        self.peer = peer
        self.sender = sender
        self.pt_map = {}
        if video_pt != VIDEO_PT:
            self.pt_map[VIDEO_PT] = video_pt
        if audio_pt is None:
            self.pt_map[AUDIO_PT] = None   # the player offered no audio: its packets are skipped
        elif audio_pt != AUDIO_PT:
            self.pt_map[AUDIO_PT] = audio_pt
        self.pt_key = tuple(sorted(self.pt_map.items(), key=lambda kv: kv[0]))   # players alike share one rewrite
        self.closed = False
        self.backlog_bytes = 0        # what the source reads: nothing blocks, the queue bounds itself
        self.sent_bytes = 0
        self.packets = 0
        self.send_drops = 0           # the socket refused a packet
        self.queue_drops = 0          # packets dropped from a full queue
        self.pending: deque = deque()
        self.pending_packets = 0
        self.on_close: Optional[Callable[[], None]] = None

    @property
    def blocked(self) -> bool:
        return False

    def write(self, packets) -> None:
        """Queue a list of plaintext packets (shared with the other players) for the sender."""
        if self.closed or not packets:
            return
        if not self.pending:
            self.sender.schedule(self)
        self.pending.append(packets)
        self.pending_packets += len(packets)
        while self.pending_packets > MAX_PENDING_PACKETS and len(self.pending) > 1:
            old = self.pending.popleft()
            self.pending_packets -= len(old)
            self.queue_drops += len(old)

    def flush(self) -> None:
        pending, self.pending, self.pending_packets = self.pending, deque(), 0
        for packets in pending:
            self._send(packets)

    def _send(self, packets) -> None:
        if self.closed:
            return
        batch = packets
        if self.pt_map and not getattr(packets, "mapped", False):
            packets = map_pts(packets, self.pt_map)
        if not packets:
            return
        # an SRTP failure (a packet too large) costs that packet; a full socket buffer drops packets
        # (the player's NACK brings them back)
        packed, sizes, failed = self.protect_batch(packets)
        sent, nbytes = self.udp.send_packed(packed, sizes, self.peer)
        self.send_drops += failed + len(sizes) - sent
        self.sent_bytes += nbytes
        self.packets += sent
        samples = getattr(batch, "samples", None)
        if samples is not None:     # a forwarded batch: how long since its first packet arrived
            samples.append(time.monotonic() - batch.arrived)

    def drop_backlog(self, keep) -> int:
        return 0

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        cb, self.on_close = self.on_close, None
        if cb is not None:
            cb()


def attach_player(src: LiveSource, consumer: Consumer, options: BridgeOptions) -> RtcStreamEncoder:
    """A player joins the stream's one RTC group (made with its encoder by the first player)."""
    group = src.attach(consumer, GROUP_KEY, lambda: RtcStreamEncoder(src, options), shared=True)
    return group.encoder
