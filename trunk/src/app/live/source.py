"""The live source: one per vhost/app/stream, its caches and the merged-write fan-out.

Flow (see shared/design/architecture.md, "Fan-out that beats C++"):
  publisher greenlet -> ``LiveSource.on_message`` -> hub outputs (HLS/DVR/forward) get it once
  -> the message joins ``pending`` -> a tick (enough messages and ``mw_latency`` ms of media, or a
  timer) encodes the batch ONCE per group of consumers that share (format, timestamp base, chunk
  size) and does one non-blocking write per consumer. A consumer whose socket is full has its own
  backlog (``Output``), bounded by ``queue_length`` seconds of media; over that it is cut back to the
  sequence headers, as SRS's queue shrink does, and the drop is counted.

Timestamps: with ``time_jitter full`` the source keeps one corrected, monotonic timeline (deltas
outside +-250 ms become 10 ms, as SRS's jitter); every consumer sees it minus its base, the
timestamp of the first media it received. Consumers that start from the same GOP-cache keyframe share
a base, so they share bytes.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List, Optional

import gevent

from srs.core import performance
from srs.kernel import flv
from srs.kernel.codec import GOP_CODECS, video_codec_of
from srs.kernel.errors import SrsError, StreamBusy
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AMF0_DATA, Message
from srs.protocol import amf0
from srs.protocol.rtmp_chunk import ChunkEncoder

log = logging.getLogger(__name__)

MAX_JITTER_MS = 250
DEFAULT_FRAME_TIME_MS = 10


class SourceOptions:
    """The per-vhost knobs a source reads; refreshed from the config on reload."""

    __slots__ = ("gop_cache", "queue_length_s", "time_jitter", "atc", "mw_latency_ms", "min_latency",
                 "reduce_sequence_header", "chunk_size", "mix_correct", "send_min_interval_ms", "atc_auto")

    def __init__(self, gop_cache=True, queue_length_s=30.0, time_jitter="full", atc=False,
                 mw_latency_ms=performance.MW_SLEEP_MS, min_latency=False, reduce_sequence_header=False,
                 chunk_size=performance.CHUNK_SIZE, mix_correct=False,
                 send_min_interval_ms=0.0, atc_auto=False):
        self.gop_cache = gop_cache
        self.queue_length_s = queue_length_s
        self.time_jitter = time_jitter
        self.atc = atc
        self.mw_latency_ms = mw_latency_ms
        self.min_latency = min_latency
        self.reduce_sequence_header = reduce_sequence_header
        self.chunk_size = chunk_size
        self.mix_correct = mix_correct
        self.send_min_interval_ms = send_min_interval_ms
        self.atc_auto = atc_auto  # H17: metadata bravo_atc="true" switches atc on

    @classmethod
    def from_vhost(cls, vc) -> "SourceOptions":
        if vc is None:
            return cls()
        return cls(gop_cache=vc.gop_cache, queue_length_s=float(vc.queue_length),
                   time_jitter=vc.time_jitter, atc=vc.atc, mw_latency_ms=int(vc.mw_latency),
                   min_latency=vc.min_latency, reduce_sequence_header=vc.reduce_sequence_header,
                   chunk_size=int(vc.chunk_size), mix_correct=vc.mix_correct,
                   send_min_interval_ms=float(vc.send_min_interval), atc_auto=vc.atc_auto)


class MixQueue:
    """``mix_correct``: reorders audio and video by timestamp (SRS's SrsMixQueue). A message leaves once
    the queue holds at least one audio and one video, or 10 of one kind with none of the other."""

    __slots__ = ("msgs", "videos", "audios")

    def __init__(self):
        self.msgs: List[Message] = []
        self.videos = 0
        self.audios = 0

    def push(self, msg: Message) -> None:
        msgs = self.msgs
        i = len(msgs)
        while i and msgs[i - 1].ts_ms > msg.ts_ms:  # stable insert: equal timestamps keep arrival order
            i -= 1
        msgs.insert(i, msg)
        if msg.is_video:
            self.videos += 1
        else:
            self.audios += 1

    def pop(self) -> Optional[Message]:
        if not ((self.videos and self.audios) or self.videos >= 10 or self.audios >= 10):
            return None
        msg = self.msgs.pop(0)
        if msg.is_video:
            self.videos -= 1
        else:
            self.audios -= 1
        return msg


class Consumer:
    """A player attached to a source: RTMP or HTTP-FLV (timestamped formats) or a shared remux."""

    __slots__ = ("cid", "output", "fmt", "chunk_size", "base", "group", "paused", "dropped_bytes",
                 "drops", "backlog_since_ts", "source", "stream_id", "on_drop")

    def __init__(self, cid: int, output, fmt: str = "rtmp", chunk_size: int = performance.CHUNK_SIZE,
                 stream_id: int = 1):
        self.cid = cid
        self.output = output
        self.fmt = fmt
        self.chunk_size = chunk_size
        self.stream_id = stream_id
        self.base = 0
        self.group: Optional["Group"] = None
        self.paused = False
        self.dropped_bytes = 0
        self.drops = 0
        self.backlog_since_ts: Optional[int] = None
        self.source: Optional["LiveSource"] = None
        self.on_drop: Optional[Callable[[int], None]] = None


class Group:
    """Consumers that receive byte-identical output: same format, base and chunk size."""

    __slots__ = ("key", "members", "encode")

    def __init__(self, key, encode: Callable[[List[Message], int], bytes]):
        self.key = key
        self.members: List[Consumer] = []
        self.encode = encode


def _encoder_for(fmt: str, chunk_size: int) -> Callable[[List[Message], int], bytes]:
    if fmt == "rtmp":
        return ChunkEncoder(chunk_size).encode_media
    if fmt == "flv":
        # HTTP/1.1 chunked: the chunk framing is part of the shared bytes, built once per group.
        encode_tags = flv.encode_tags

        def encode_chunked(msgs: List[Message], base: int) -> bytes:
            tags = encode_tags(msgs, base)
            return b"%x\r\n%s\r\n" % (len(tags), tags) if tags else b""
        return encode_chunked
    if fmt == "flv-raw":
        return flv.encode_tags
    raise ValueError(f"unknown consumer format {fmt}")


class LiveSource:
    """One live stream. All methods run in greenlets of one hub: no locks, and no greenlet switch
    happens inside a check-and-update (every write below is non-blocking)."""

    def __init__(self, url: str, options: SourceOptions):
        self.url = url
        self.opts = options
        self.publisher_cid: Optional[int] = None
        self.meta: Optional[Message] = None
        self.video_sh: Optional[Message] = None
        self.audio_sh: Optional[Message] = None
        self.gop: List[Message] = []
        self.gop_video_count = 0
        self.audio_after_video = 0
        self.pending: List[Message] = []
        self.groups: Dict[tuple, Group] = {}
        self.consumers: List[Consumer] = []
        self.hub: list = []   # outputs that remux once per source: on_publish/on_message/on_unpublish
        self.last_raw_ts: Optional[int] = None
        self.last_ts = 0      # the corrected timeline
        self.zero_base: Optional[int] = None
        self.timer = None
        self.created_ms = int(time.monotonic() * 1000)
        self.frames = 0
        self.audio_codec_id: Optional[int] = None  # FLV sound format, for remuxers that need it
        self.publish_seq = 0  # counts publishes (republish = new sequence)
        self.on_idle: Optional[Callable[["LiveSource"], None]] = None
        self.mix = MixQueue()
        self.pacer = None
        self.bravo_atc = False  # H17: atc_auto saw bravo_atc="true" in this publish's metadata

    # ------------------------------------------------------------------ publish side
    @property
    def can_publish(self) -> bool:
        return self.publisher_cid is None

    def on_publish(self, cid: int) -> None:
        if self.publisher_cid is not None:
            raise StreamBusy(f"stream {self.url} is busy (publisher cid={self.publisher_cid})")
        self.publisher_cid = cid
        self.publish_seq += 1
        self.last_raw_ts = None
        self.zero_base: Optional[int] = None
        for out in list(self.hub):
            self._hub_call(out, "on_publish", self)
        log.info("source %s published by cid=%d", self.url, cid)

    def on_unpublish(self) -> None:
        if self.publisher_cid is None:
            return
        self.flush()
        for out in list(self.hub):
            self._hub_call(out, "on_unpublish", self)
        log.info("source %s unpublished (cid=%d)", self.url, self.publisher_cid)
        self.publisher_cid = None
        self.mix = MixQueue()
        self.bravo_atc = False  # H17: the next publisher's metadata decides again
        self.audio_codec_id = None
        self.meta = self.video_sh = self.audio_sh = None
        self.gop.clear()
        self.gop_video_count = 0
        self.audio_after_video = 0
        self._maybe_idle()

    def on_message(self, msg: Message) -> None:
        """A media or metadata message from the publisher, parsed once."""
        if self.opts.mix_correct and msg.is_av:
            mix = self.mix
            mix.push(msg)
            m = mix.pop()
            while m is not None:
                self._on_message(m)
                m = mix.pop()
            return
        self._on_message(msg)

    def _on_message(self, msg: Message) -> None:
        opts = self.opts
        failed = None
        for out in self.hub:
            try:
                out.on_message(msg)
            except Exception:
                log.exception("hub output %s failed; removed", out)
                failed = [out] if failed is None else failed + [out]
        if failed is not None:
            # removed after the loop: removing inside it would skip the output after the failing one
            for out in failed:
                self.hub.remove(out)
        if msg.seq_header and opts.reduce_sequence_header:
            cached = self.video_sh if msg.is_video else self.audio_sh
            if cached is not None and cached.payload == msg.payload:
                return
        if msg.kind == MSG_AMF0_DATA and opts.atc_auto:  # H17: SRS's on_meta_data re-checks atc_auto
            self.bravo_atc = _has_bravo_atc(msg.payload)
        msg = self._correct(msg)
        if msg.is_av:
            self.frames += 1
            if self.audio_codec_id is None and msg.is_audio and msg.payload:
                self.audio_codec_id = msg.payload[0] >> 4
        self._cache(msg)
        self.pending.append(msg)
        if opts.send_min_interval_ms > 0:
            # SRS's send_min_interval: players get one message per interval, paced by one greenlet per source.
            if self.pacer is None:
                self.pacer = gevent.spawn(self._pace, self.publisher_cid or 0)
            return
        if opts.min_latency:
            self.flush()
            return
        pending = self.pending
        n = len(pending)
        # SRS sends at most MW_MAX_MSGS messages per merged write: a batch that reaches it goes out
        # before mw_latency (a long mw_latency or a dense stream), bounding each tick's buffer.
        if n >= performance.MW_MIN_MSGS and (n >= performance.MW_MAX_MSGS
                                            or pending[-1].ts_ms - pending[0].ts_ms >= opts.mw_latency_ms):
            self.flush()
        elif self.timer is None:
            self.timer = gevent.spawn_later(max(opts.mw_latency_ms, 1) / 1000.0, self._on_timer)

    def _correct(self, msg: Message) -> Message:
        mode = self.opts.time_jitter
        if self.opts.atc or self.bravo_atc or mode == "off":
            if msg.is_av:
                self.last_ts = msg.ts_ms
            return msg
        if mode == "zero":
            # Only the first timestamp of the publish is removed; no other correction.
            if not msg.is_av:
                return msg.with_ts(self.last_ts) if msg.ts_ms != self.last_ts else msg
            if self.zero_base is None:
                self.zero_base = msg.ts_ms
            ts = max(0, msg.ts_ms - self.zero_base)
            self.last_ts = ts
            return msg if ts == msg.ts_ms else msg.with_ts(ts)
        if not msg.is_av:
            return msg.with_ts(self.last_ts) if msg.ts_ms != self.last_ts else msg
        raw = msg.ts_ms
        if self.last_raw_ts is None:
            delta = DEFAULT_FRAME_TIME_MS if self.frames else 0
        else:
            delta = raw - self.last_raw_ts
            if delta < -MAX_JITTER_MS or delta > MAX_JITTER_MS:
                delta = DEFAULT_FRAME_TIME_MS
        self.last_raw_ts = raw
        ts = max(0, self.last_ts + delta)
        self.last_ts = ts
        return msg if ts == raw else msg.with_ts(ts)

    def _cache(self, msg: Message) -> None:
        if msg.kind == MSG_AMF0_DATA:
            self.meta = msg
            return
        if msg.seq_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
            return
        if not self.opts.gop_cache:
            return
        if msg.is_video:
            if video_codec_of(msg.payload) not in GOP_CODECS:  # H.264, HEVC, AV1, VP9; legacy or Enhanced
                return
            self.gop_video_count += 1
            self.audio_after_video = 0
        if self.gop_video_count == 0:
            return  # pure audio so far: no gop cache
        if msg.is_audio:
            self.audio_after_video += 1
            if self.audio_after_video > performance.PURE_AUDIO_GUESS_COUNT:
                self.gop.clear()
                self.gop_video_count = 0
                return
        if msg.keyframe and msg.is_video:
            self.gop.clear()
            self.gop_video_count = 1
        self.gop.append(msg)

    def _on_timer(self) -> None:
        self.timer = None
        if self.pending:
            self.flush()

    def _pace(self, cid: int) -> None:
        cid_var.set(cid)
        try:
            while self.pending:
                self._fanout([self.pending.pop(0)])
                gevent.sleep(self.opts.send_min_interval_ms / 1000.0)
        finally:
            self.pacer = None

    # ------------------------------------------------------------------ the merged-write tick
    def flush(self) -> None:
        batch = self.pending
        if not batch:
            return
        self.pending = []
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.kill(block=False)
        self._fanout(batch)

    def _fanout(self, batch: List[Message]) -> None:
        """Encode ``batch`` once per group and write it to every player of the group."""
        last_ts = batch[-1].ts_ms
        queue_ms = self.opts.queue_length_s * 1000.0
        for group in list(self.groups.values()):
            members = group.members
            if not members:
                continue
            data = group.encode(batch, group.key[1])
            for c in members:
                if c.paused:
                    continue
                out = c.output
                if out.backlog_bytes:
                    if c.backlog_since_ts is None:
                        c.backlog_since_ts = batch[0].ts_ms
                    elif last_ts - c.backlog_since_ts > queue_ms:
                        self._shrink(c)
                        continue
                else:
                    c.backlog_since_ts = None
                out.write(data)

    def pithy(self) -> str:
        """One status line for the player side of this source (SRS's "-> PLA" stage)."""
        drops = sum(c.drops for c in self.consumers)
        blocked = sum(1 for c in self.consumers if c.output.backlog_bytes)
        return (f"-> PLA {self.url} players={len(self.consumers)}, groups={len(self.groups)}, "
                f"blocked={blocked}, drops={drops}, frames={self.frames}, gop={len(self.gop)}")

    def _shrink(self, c: Consumer) -> None:
        """Over queue_length: drop all but the sequence headers, as SRS's queue shrink."""
        dropped = c.output.drop_backlog(lambda: [self._headers_bytes(c)])
        c.dropped_bytes += dropped
        c.drops += 1
        c.backlog_since_ts = None
        log.warning("consumer cid=%d over queue_length %.1fs: dropped %d bytes (drops=%d)",
                 c.cid, self.opts.queue_length_s, dropped, c.drops)
        if c.on_drop is not None:
            c.on_drop(dropped)

    def _headers_bytes(self, c: Consumer) -> bytes:
        msgs = [m.with_ts(c.base) for m in (self.meta, self.video_sh, self.audio_sh) if m is not None]
        return c.group.encode(msgs, c.base) if msgs and c.group else b""

    # ------------------------------------------------------------------ play side
    def add_consumer(self, c: Consumer, header: bytes = b"") -> None:
        """Attach a player: it gets metadata + sequence headers + the GOP cache now, then ticks.

        ``header`` goes first (the FLV file header for HTTP-FLV)."""
        # The caches already hold the pending messages: send those to the others first, so the
        # newcomer's burst and the next tick never overlap.
        self.flush()
        gop = self.gop
        atc = self.opts.atc or self.bravo_atc
        if atc or self.opts.time_jitter == "off":
            base = 0
        elif gop:
            base = gop[0].ts_ms
        else:
            base = self.last_ts
        c.base = base
        c.source = self
        key = (c.fmt, base, c.chunk_size)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, _encoder_for(c.fmt, c.chunk_size))
        group.members.append(c)
        c.group = group
        self.consumers.append(c)
        # H17: with atc the headers carry the GOP's absolute time (SRS's create_consumer), not 0
        head_ts = (gop[0].ts_ms if gop else self.last_ts) if atc else base
        burst = [m.with_ts(head_ts) for m in (self.meta, self.video_sh, self.audio_sh) if m is not None]
        burst.extend(gop)
        data = group.encode(burst, base) if burst else b""
        if header or data:
            c.output.write(header + data if header else data)

    def remove_consumer(self, c: Consumer) -> None:
        group = c.group
        if group is not None:
            try:
                group.members.remove(c)
            except ValueError:
                pass
            if not group.members:
                self.groups.pop(group.key, None)
            c.group = None
        try:
            self.consumers.remove(c)
        except ValueError:
            pass
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self.publisher_cid is None and not self.consumers and self.on_idle is not None:
            self.on_idle(self)

    # ------------------------------------------------------------------ hub
    def add_hub_output(self, out) -> None:
        self.hub.append(out)
        if self.publisher_cid is not None:
            self._hub_call(out, "on_publish", self)
            for m in (self.meta, self.video_sh, self.audio_sh):
                if m is not None:
                    out.on_message(m)

    def remove_hub_output(self, out) -> None:
        if out in self.hub:
            self.hub.remove(out)
            if self.publisher_cid is not None:
                self._hub_call(out, "on_unpublish", self)

    def _hub_call(self, out, name: str, *args) -> None:
        try:
            getattr(out, name)(*args)
        except Exception:
            log.exception("hub output %s.%s failed", type(out).__name__, name)

    def update_options(self, options: SourceOptions) -> None:
        self.opts = options
        if not options.gop_cache:
            self.gop.clear()


def _has_bravo_atc(payload: bytes) -> bool:
    """H17: does this onMetaData carry bravo_atc="true" (atc_auto)? Undecodable metadata: no."""
    try:
        values = amf0.decode_all(payload)
    except SrsError:
        return False
    return any(isinstance(v, dict) and v.get("bravo_atc") == "true" for v in values[1:2])


class SourceRegistry:
    """vhost/app/stream -> LiveSource. Fetch-or-create has no greenlet switch inside."""

    def __init__(self, options_for: Callable[[str], SourceOptions]):
        self.sources: Dict[str, LiveSource] = {}
        self.options_for = options_for  # vhost name -> SourceOptions
        self.hub_factories: list = []   # callables(source, vhost) -> hub output or None

    def fetch_or_create(self, url: str, vhost: str) -> LiveSource:
        src = self.sources.get(url)
        if src is None:
            src = LiveSource(url, self.options_for(vhost))
            src.on_idle = self._on_idle
            self.sources[url] = src
            for factory in self.hub_factories:
                out = factory(src, vhost)
                if out is not None:
                    src.add_hub_output(out)
        return src

    def get(self, url: str) -> Optional[LiveSource]:
        return self.sources.get(url)

    def _on_idle(self, src: LiveSource) -> None:
        # Keep sources that still have hub outputs holding state (HLS dispose etc. decide themselves).
        if self.sources.get(src.url) is src and not src.consumers and src.publisher_cid is None:
            for out in list(src.hub):
                src.remove_hub_output(out)
            del self.sources[src.url]
