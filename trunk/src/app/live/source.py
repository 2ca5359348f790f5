"""The live source: one per vhost/app/stream, its caches and the merged-write fan-out.

Flow (see shared/design/architecture.md, "Fan-out that beats C++"):
  publisher greenlet -> ``LiveSource.on_message`` -> hub outputs (HLS/DVR/forward) get it once
  -> the message joins ``pending`` -> a tick (enough messages and ``mw_latency`` ms of media, or a
  timer) encodes the batch ONCE per group of consumers that share an encoder key (the player side
  chooses it: format, chunk size...) and a timestamp base, and does one non-blocking write per
  consumer. A consumer whose socket is full has its own backlog (``Output``), bounded by
  ``queue_length`` seconds of media; over that it is cut back to the sequence headers, as SRS's
  queue shrink does, and the drop is counted.

Contracts: players join through ``attach`` with an ``Encoder`` (app/live/encoders.py); outputs that
remux once per source are ``HubOutput``s (below).

Timestamps: with ``time_jitter full`` the source keeps one corrected, monotonic timeline (deltas
outside +-250 ms become 10 ms, as SRS's jitter); every consumer sees it minus its base, the
timestamp of the first media it received. Consumers that start from the same GOP-cache keyframe share
a base, so they share bytes.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List, Optional, Protocol, runtime_checkable

import gevent

from srs.app.config.table import SOURCE_OPTIONS
from srs.app.live.encoders import Encoder, SharedEncoder
from srs.core import performance
from srs.kernel.codec import GOP_CODECS, video_codec_of
from srs.kernel.errors import SrsError, StreamBusy
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AMF0_DATA, Message
from srs.protocol import amf0

log = logging.getLogger(__name__)

MAX_JITTER_MS = 250
DEFAULT_FRAME_TIME_MS = 10


class SourceOptions:
    """The per-vhost knobs a source reads; refreshed from the config on reload. Its fields and their
    defaults are the config rows that name a ``source`` option (app/config/rows_vhost.py)."""

    __slots__ = tuple(SOURCE_OPTIONS)

    def __init__(self, **options):
        for name, (_, default) in SOURCE_OPTIONS.items():
            setattr(self, name, options.pop(name, default))
        if options:
            raise TypeError("unknown source options %s" % sorted(options))

    @classmethod
    def from_vhost(cls, vc) -> "SourceOptions":
        if vc is None:
            return cls()
        return cls(**{name: getattr(vc, field) for name, (field, _) in SOURCE_OPTIONS.items()})


# ---- the hub-output contract: what a source calls on the outputs that remux its stream once
# (HLS, DVR, HDS, forward, edge forward, transcode, exec).
#
# A source holds them in ``hub`` and calls them in the publisher's greenlet, so an output must not
# block: it writes files or queues for its own greenlet. An output that raises from ``on_message`` is
# removed (the others still get that message); one that raises from ``on_publish``/``on_unpublish``
# is logged and kept, as before.
@runtime_checkable  # the contract test checks every real hub output class with isinstance
class HubOutput(Protocol):  # here, beside LiveSource, which it names: a module of its own made a cycle
    def on_publish(self, source: "LiveSource") -> None:
        """The stream starts (or the output joins a published stream, before its headers replay)."""

    def on_message(self, msg: Message) -> None:
        """One message of the publisher, after the source's hub-side bookkeeping, before jitter."""

    def on_unpublish(self, source: "LiveSource") -> None:
        """The stream stops (or the output leaves a published stream)."""


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
    """A player attached to a source (``LiveSource.attach``): its output and its place in a group."""

    __slots__ = ("cid", "output", "base", "group", "paused", "dropped_bytes",
                 "drops", "backlog_since_ts", "source", "on_drop")

    def __init__(self, cid: int, output):
        self.cid = cid
        self.output = output
        self.base = 0
        self.group: Optional["Group"] = None
        self.paused = False
        self.dropped_bytes = 0
        self.drops = 0
        self.backlog_since_ts: Optional[int] = None
        self.source: Optional["LiveSource"] = None
        self.on_drop: Optional[Callable[[int], None]] = None


class Group:
    """Consumers that receive byte-identical output: same encoder key and timestamp base."""

    __slots__ = ("key", "base", "shared", "members", "encoder", "encode")

    def __init__(self, key: tuple, base: int, shared: bool, encoder: Encoder):
        self.key = key            # (the attach key, the base; None for a shared encoder)
        self.base = base
        self.shared = shared      # the encoder is a SharedEncoder (see LiveSource.attach)
        self.members: List[Consumer] = []
        self.encoder = encoder
        self.encode = encoder.encode  # bound once: the tick calls it per group per batch


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
        # players whose burst already held the first n messages of ``pending``: consumer -> n
        self.joiners: Optional[Dict[Consumer, int]] = None
        self.groups: Dict[tuple, Group] = {}
        self.consumers: List[Consumer] = []
        self.hub: List[HubOutput] = []   # outputs that remux once per source
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
            _publish(out, self)
        log.info("source %s published by cid=%d", self.url, cid)

    def on_unpublish(self) -> None:
        if self.publisher_cid is None:
            return
        self.flush()
        for out in list(self.hub):
            _unpublish(out, self)
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
        max_frames = self.opts.gop_cache_max_frames
        if 0 < max_frames <= len(self.gop):
            # SRS 5's SrsGopCache::cache: clear and go on caching (a player then starts with what follows)
            log.warning("source %s gop cache exceeds max frames=%d (videos=%d), cleared", self.url, max_frames,
                        self.gop_video_count)
            self.gop.clear()
            self.gop_video_count = 1 if msg.is_video else 0
            self.audio_after_video = 0
            if not msg.is_video:
                return
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
        joiners, self.joiners = self.joiners, None
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.kill(block=False)
        self._fanout(batch, joiners)

    def _fanout(self, batch: List[Message], joiners: Optional[Dict[Consumer, int]] = None) -> None:
        """Encode ``batch`` once per group and write it to every player of the group; ``joiners`` (who
        joined since the batch began) get only what came after their burst."""
        last_ts = batch[-1].ts_ms
        queue_ms = self.opts.queue_length_s * 1000.0
        skip = joiners or ()
        for group in list(self.groups.values()):
            members = group.members
            if not members:
                continue
            data = group.encode(batch, group.base)
            if not data:
                # nothing to send (a remux waiting for a keyframe or the audio codec, or refused)
                if group.shared:
                    self._close_if_refused(group)
                continue
            for c in members:
                if c.paused or c in skip:
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
        for c, covered in (joiners or {}).items():
            if c.group is not None and not c.paused and covered < len(batch):
                data = c.group.encode(batch[covered:], c.base)
                if data:
                    c.output.write(data)

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

    def _close_if_refused(self, group: Group) -> bool:
        """A shared encoder that cannot serve this stream (``refused``): close its players."""
        why = group.encoder.refused  # type: ignore[attr-defined]  # SharedEncoder, see attach
        if not why:
            return False
        for c in group.members:
            if not c.output.closed:
                log.warning("player cid=%d of %s closed: %s", c.cid, self.url, why)
                c.output.close()
        return True

    # ------------------------------------------------------------------ play side
    def attach(self, c: Consumer, key: tuple, make_encoder: Callable[[], Encoder], *,
               header: bytes = b"", shared: bool = False) -> Group:
        """Attach a player to the group of ``key`` (built by ``make_encoder`` if it is the first).

        A timestamped player (RTMP, FLV; ``shared`` False) starts at the GOP cache's keyframe: its
        group is (key, that base), and it gets metadata + sequence headers + the GOP cache now.
        A ``shared`` encoder (a remux, a ``SharedEncoder``) has one group per key whatever the base,
        and a newcomer gets its ``join()`` bytes. ``header`` goes first (the FLV file header)."""
        # The pending messages (this tick's batch, not yet sent) are already in the caches: the newcomer
        # gets them in its burst and, at the tick, only what came after its join (``joiners``). Flushing
        # them here instead would make each join a send to every player (10,000 players joining at
        # 500/s: five million sends a second, the whole join cost). A paced source (send_min_interval) ticks per message,
        # so there the batch still goes out first; a shared encoder has not seen the batch yet, so its
        # newcomer takes it at the tick with the others.
        if self.pending and self.pacer is not None:
            self.flush()
        gop = self.gop
        atc = self.opts.atc or self.bravo_atc
        if shared:
            base = 0
            gkey = (key, None)
        else:
            if atc or self.opts.time_jitter == "off":
                base = 0
            elif gop:
                base = gop[0].ts_ms
            else:
                base = self.last_ts
            gkey = (key, base)
            if self.pending:
                if self.joiners is None:
                    self.joiners = {}
                self.joiners[c] = len(self.pending)
        c.base = base
        c.source = self
        group = self.groups.get(gkey)
        if group is None:
            group = self.groups[gkey] = Group(gkey, base, shared, make_encoder())
        group.members.append(c)
        c.group = group
        self.consumers.append(c)
        if shared:
            encoder: SharedEncoder = group.encoder  # type: ignore[assignment]  # shared=True promises it
            data = encoder.join()
            if not data and self._close_if_refused(group):
                return group
        else:
            # H17: with atc the headers carry the GOP's absolute time (SRS's create_consumer), not 0
            head_ts = (gop[0].ts_ms if gop else self.last_ts) if atc else base
            burst = [m.with_ts(head_ts) for m in (self.meta, self.video_sh, self.audio_sh) if m is not None]
            burst.extend(gop)
            data = group.encode(burst, base) if burst else b""
        if header or data:
            c.output.write(header + data if header else data)
        return group

    def remove_consumer(self, c: Consumer) -> None:
        if self.joiners is not None:
            self.joiners.pop(c, None)
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
    def add_hub_output(self, out: HubOutput) -> None:
        self.hub.append(out)
        if self.publisher_cid is not None:
            _publish(out, self)
            for m in (self.meta, self.video_sh, self.audio_sh):
                if m is not None:
                    out.on_message(m)

    def remove_hub_output(self, out: HubOutput) -> None:
        if out in self.hub:
            self.hub.remove(out)
            if self.publisher_cid is not None:
                _unpublish(out, self)

    def update_options(self, options: SourceOptions) -> None:
        self.opts = options
        if not options.gop_cache:
            self.gop.clear()


def _publish(out: HubOutput, src: LiveSource) -> None:
    """A hub output that fails to start is logged and kept (it may work at the next publish)."""
    try:
        out.on_publish(src)
    except Exception:
        log.exception("hub output %s.on_publish failed", type(out).__name__)


def _unpublish(out: HubOutput, src: LiveSource) -> None:
    try:
        out.on_unpublish(src)
    except Exception:
        log.exception("hub output %s.on_unpublish failed", type(out).__name__)


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
        # callables(source, vhost) -> a HubOutput, or None when the vhost does not want that kind
        self.hub_factories: List[Callable[[LiveSource, str], Optional[HubOutput]]] = []

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
