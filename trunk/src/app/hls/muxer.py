"""HLS: a hub output per live source that cuts the stream into TS segments and keeps an m3u8.

Behaviour is SRS 2.0's srs_app_hls.cpp (+ 3.0's AES keys and ts floor); see srs-compat.md §8.

    hls = HlsManager(config=..., clock=..., hooks=..., connections=..., sources=..., cwd=...)
    registry.hub_factories.append(hls.output_for)         # the Server does this
    ...
    hls.stop()                                            # at server stop: close + hls_dispose

Flow per message (inline in the publisher's greenlet; only file writes, no network):
  hold the first messages until the codecs are known (a frame of each kind, or 1 s of media)
  -> sequence headers: cached by the remuxer; a new one marks the segment EXT-X-DISCONTINUITY
  -> reap? video: keyframe (if hls_wait_keyframe) and duration >= hls_fragment; audio:
     duration >= hls_aof_ratio * hls_fragment (pure audio relies on it); never before 200 ms
  -> FlvToTs bytes appended to ``<ts>.tmp`` (encrypted with hls_keys)
Reaping closes the segment (kept only if 100 ms <= duration <= 2 * hls_td_ratio * hls_fragment),
renames it into place, shrinks the window (deleting old files with hls_cleanup), rewrites the m3u8
through ``.temp`` + rename and queues the on_hls / on_hls_notify hooks (async worker).

A segment's duration runs from its first message to the message that starts the next segment,
so 1 s GOPs with hls_fragment 2 give 2.000 s segments (SRS measures to the previous frame and
reaps one GOP later in that case).

State that must survive republish (the sequence number, the window, the remuxer's continuity
counters) lives in an ``HlsStream`` owned by the manager, keyed by the stream URL, because the
registry drops an idle source and creates a new one (and a new hub) when the stream comes back.

Every file is confined to hls_path (keys: hls_key_file_path) by app.file_root, cleanup included; a
name that would leave it stops HLS for that publish (one log line), whatever hls_on_error says.
Errors on disk (or in the media) never escape to the publisher: ``hls_on_error`` decides.
  continue: log (rate-limited); the segment being written is abandoned and the next reap point
            opens a new file.
  ignore:   HLS stops for this publish (the next publish tries again).
  disconnect: as ignore, and the publisher is kicked (the connection of ``source.publisher_cid``).
"""
from __future__ import annotations

import logging
import os
import posixpath
from typing import Dict, List, Optional

import gevent

from srs.app.server.file_root import PathOutsideRoot, confine, remove_inside, show_name
from srs.app.hls.fmp4 import FMP4_AUDIO_CODECS, FMP4_VIDEO_CODECS, Fmp4Remux
from srs.app.hls.ll import LlRegistry, LlStream
from srs.app.hls.keys import KeyRing, SegmentFile, makedirs_for, unlink_quietly
from srs.app.ports import Clock, ConfigSource, Connections, HookCaller, SourceDirectory
from srs.kernel.m3u8 import FloorClock, Segment, dirname, render, segment_uri, shrink
from srs.kernel import log as srslog
from srs.kernel.aes import Aes128CbcEncryptor
from srs.kernel.codec import ACODEC_AAC, ACODEC_MP3, is_video_frame, video_codec_name, video_codec_of
from srs.kernel.errors import SrsError
from srs.kernel.flv_to_ts import TS_VIDEO_CODECS, FlvToTs
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.path_template import build_stream, build_timestamp
from srs.protocol.request import Request, split_stream_url

log = logging.getLogger(__name__)

# SRS_AUTO_HLS_SEGMENT_MIN_DURATION_MS: shorter segments are dropped; no reap before twice it.
SEGMENT_MIN_DURATION_MS = 100
# SRS_AUTO_HLS_SEGMENT_TIMESTAMP_JUMP_MS: a timestamp this far before the segment start restarts it.
TIMESTAMP_JUMP_MS = 300
# Codec detection: hold at most this much media before deciding with what was seen.
PROBE_MS = 1000
PROBE_MAX_MSGS = 256
# Disk errors in "continue" mode are logged at most this often.
ERROR_LOG_INTERVAL_MS = 5000


class HlsStream:
    """The HLS state of one stream URL: the hub output of its (successive) sources."""

    def __init__(self, manager: "HlsManager", url: str, vhost: str):
        self.manager = manager
        self.url = url
        self.vhost = vhost
        self.req_vhost, self.app, self.stream = split_stream_url(url)
        self.source = None
        self.cfg = None
        self.active = False
        self.ftt: Optional[FlvToTs] = None   # or an Fmp4Remux (hls_use_fmp4): the same calls
        self.video_codecs = TS_VIDEO_CODECS   # the video codecs the container takes -> their names
        self.map_uri = ""                     # fMP4: the EXT-X-MAP of the segments being opened
        self.init_paths: List[tuple] = []     # fMP4: (path, uri) of the init segments written
        self.codecs_known = False
        self.pending: List[Message] = []
        self.seen_video = False         # or the TS video codec seen: "h264" / "hevc"
        self.refused_video = ""         # a video codec TS cannot carry (AV1, VP9): warned at _decide
        self.audio_format: Optional[int] = None
        self.video_sh: Optional[bytes] = None
        self.audio_sh: Optional[bytes] = None
        self.mark_next = False          # the next segment opened gets EXT-X-DISCONTINUITY
        self.wait_key = False           # drop video until a keyframe (start of a publish)
        self.seq = 0
        self.segments: List[Segment] = []
        self.current: Optional[Segment] = None
        self.file: Optional[SegmentFile] = None
        self.keys: Optional[KeyRing] = None
        self.floor = FloorClock()
        self.m3u8_path = self.m3u8_url = self.m3u8_dir = ""
        self.root = ""                  # hls_path of the publish: every file written or deleted is inside
        self.max_td_s = 0.0
        self.last_update_ms = 0
        self.can_dispose = False
        self.errors = 0
        self._last_error_log_ms = -ERROR_LOG_INTERVAL_MS
        self.reaped = 0
        self.ll: Optional[LlStream] = None  # hls_ll (app/hls/ll.py): partial segments of the fMP4 path

    def __repr__(self) -> str:
        return f"HlsStream({self.url}, seq={self.seq}, segments={len(self.segments)})"

    # ------------------------------------------------------------------ hub output
    def on_publish(self, source) -> None:
        if self.active:  # a publish without an unpublish: close what is open first
            self.on_unpublish(self.source)
        self.source = source
        self.last_update_ms = self.manager.clock()
        vc = self.manager.config().vhost(self.vhost)
        cfg = vc.hls if vc is not None else None
        if cfg is None or not cfg.enabled:
            self.active = False
            return
        self.cfg = cfg
        self.m3u8_url = build_stream(cfg.hls_m3u8_file, self.req_vhost, self.app, self.stream)
        try:
            self.m3u8_path = confine(cfg.hls_path, self.m3u8_url)
        except PathOutsideRoot as e:
            self._fail(e)  # HLS only: the source and its other outputs go on
            return
        self.root = cfg.hls_path
        self.m3u8_dir = dirname(self.m3u8_path)
        self.max_td_s = cfg.hls_fragment * cfg.hls_td_ratio
        self.active = True
        self.can_dispose = True
        self.codecs_known = False
        self.pending = []
        self.seen_video = False
        self.refused_video = ""
        self.audio_format = None
        self.video_sh = self.audio_sh = None
        self.wait_key = cfg.hls_wait_keyframe
        self.video_codecs = FMP4_VIDEO_CODECS if cfg.hls_use_fmp4 else TS_VIDEO_CODECS
        self.map_uri = ""
        if cfg.hls_use_fmp4 and cfg.hls_keys:
            log.warning("hls: %s hls_keys (AES-128 of TS) is not applied to fMP4 segments", self.url)
        self.keys = (KeyRing(cfg, self.req_vhost, self.app, self.stream, self.m3u8_dir)
                     if cfg.hls_keys and not cfg.hls_use_fmp4 else None)
        if cfg.hls_dispose > 0:
            self.manager.ensure_timer(cfg.hls_dispose)
        self._ll_setup(cfg)
        srslog.trace(log, "hls: publish %s, win=%.2fs, frag=%.2fs, td=%.2fs, aof=%.2f, path=%s, m3u8=%s, ts=%s, "
                     "keys=%s, floor=%s, cleanup=%s, waitk=%s, dispose=%.1fs, on_error=%s", self.url,
                     cfg.hls_window, cfg.hls_fragment, self.max_td_s, cfg.hls_aof_ratio, cfg.hls_path,
                     cfg.hls_m3u8_file, cfg.hls_ts_file, cfg.hls_keys, cfg.hls_ts_floor, cfg.hls_cleanup,
                     cfg.hls_wait_keyframe, cfg.hls_dispose, cfg.hls_on_error)
        try:
            makedirs_for(self.m3u8_path)
        except OSError as e:
            self._fail(e)

    def on_message(self, msg: Message) -> None:
        if not self.active:
            return
        kind = msg.kind
        if kind != MSG_VIDEO and kind != MSG_AUDIO:
            return
        self.last_update_ms = self.manager.clock()
        try:
            if self.codecs_known:
                self._mux(msg)
            else:
                self._probe(msg)
        except (OSError, SrsError) as e:
            self._fail(e)

    def on_unpublish(self, source) -> None:
        self.last_update_ms = self.manager.clock()
        if not self.active:
            return
        try:
            if not self.codecs_known and self.pending:
                self._decide()
            self._close()
        except (OSError, SrsError) as e:
            self._fail(e, unpublishing=True)
        self._abandon()
        self.active = False
        self.pending = []
        if self.ll is not None:
            self.ll.on_unpublish()

    # ------------------------------------------------------------------ codecs
    def _probe(self, msg: Message) -> None:
        """Hold messages until we know which elementary streams the PMT must list."""
        self.pending.append(msg)
        payload = msg.payload
        if not payload:
            return
        if msg.kind == MSG_VIDEO:
            codec_id = video_codec_of(payload)
            if codec_id in self.video_codecs:
                self.seen_video = self.video_codecs[codec_id]
            elif codec_id:
                self.refused_video = video_codec_name(codec_id)
        elif self.audio_format is None:
            self.audio_format = payload[0] >> 4
        first = self.pending[0].ts_ms
        if ((self.seen_video and self.audio_format is not None) or len(self.pending) >= PROBE_MAX_MSGS
                or msg.ts_ms - first >= PROBE_MS):
            self._decide()

    def _decide(self) -> None:
        cfg = self.cfg
        vcodec = self.seen_video if self.seen_video and cfg.hls_vcodec != "vn" else None
        if self.refused_video and not self.seen_video:
            log.warning("hls: %s %s video cannot go into %s, HLS carries no video (play it over RTMP "
                        "or HTTP-FLV)", self.url, self.refused_video, "fMP4 here" if cfg.hls_use_fmp4 else "MPEG-TS")
        acodec = None
        if cfg.hls_acodec != "an":
            audio_codecs = FMP4_AUDIO_CODECS if cfg.hls_use_fmp4 else {ACODEC_AAC: "aac", ACODEC_MP3: "mp3"}
            acodec = audio_codecs.get(self.audio_format)
            if acodec is None and self.audio_format == ACODEC_MP3:
                log.warning("hls: %s MP3 audio is left out of fMP4 segments (AAC only)", self.url)
        self.codecs_known = True
        pending, self.pending = self.pending, []
        if vcodec is None and acodec is None:
            log.warning("hls: %s has no H.264/HEVC/AAC/MP3 to mux (video=%s, audio=%s), HLS idle until "
                        "republish",
                        self.url, self.seen_video, self.audio_format)
            self.ftt = None
            return
        ftt = self.ftt
        remux = Fmp4Remux if cfg.hls_use_fmp4 else FlvToTs
        if ftt is None or ftt.vcodec != vcodec or ftt.acodec != acodec or type(ftt) is not remux:
            # A new remuxer (new continuity counters) only when the codecs change, which also
            # brings a discontinuity; otherwise the counters run on across republish.
            self.ftt = remux(vcodec, acodec)
        srslog.trace(log, "hls: %s codecs video=%s audio=%s", self.url, vcodec, acodec)
        for m in pending:
            try:
                self._mux(m)
            except (OSError, SrsError) as e:
                self._fail(e)
                if not self.active:
                    return

    # ------------------------------------------------------------------ muxing
    def _mux(self, msg: Message) -> None:
        ftt = self.ftt
        if ftt is None:
            return
        payload = msg.payload
        if not payload:
            return
        if msg.kind == MSG_VIDEO:
            if (ftt.vcodec is None or len(payload) < 5
                    or self.video_codecs.get(video_codec_of(payload)) != ftt.vcodec):
                return
            if msg.seq_header:
                ftt.on_message(msg)  # cache the codec config first, whatever the disk does
                self._on_sequence_header(msg, True)
                return
            if not is_video_frame(payload):  # end of sequence, metadata: nothing to mux
                return
            if self.wait_key:
                if not msg.keyframe:
                    return  # joined mid-GOP (reload): video starts at a keyframe
                self.wait_key = False
        else:
            fmt = payload[0] >> 4
            if ftt.acodec is None or fmt != (ACODEC_AAC if ftt.acodec == "aac" else ACODEC_MP3):
                return
            if msg.seq_header:
                ftt.on_message(msg)  # cache the codec config first, whatever the disk does
                self._on_sequence_header(msg, False)
                return
        ts = msg.ts_ms
        cur = self.current
        error = None
        try:
            if cur is None:
                self._open(ts)
            else:
                cfg = self.cfg
                elapsed = ts - cur.start_ms
                if msg.kind == MSG_VIDEO:
                    if (msg.keyframe or not cfg.hls_wait_keyframe) and self._overflow(elapsed, cfg.hls_fragment):
                        self._reap(ts)
                elif self._overflow(elapsed, cfg.hls_aof_ratio * cfg.hls_fragment):
                    self._reap(ts)  # audio "absolutely" overflows: what cuts a pure audio stream
        except OSError as e:
            error = e  # still mux the message: the remuxer state and the new segment go on
        if self.ll is not None and self.current is not None:
            part = self.ll.cut(ftt, msg)  # LL-HLS: the part due before this frame, into the segment too
            if part and self.file is not None:
                try:
                    self.file.write(part)
                except OSError as e:  # as below: the segment goes on without a file, dropped at close
                    self.file.abort()
                    self.file, error = None, e
        data = ftt.on_message(msg)
        if data or self.cfg.hls_use_fmp4:  # fMP4 holds the frame until the segment ends: it counts now
            cur = self.current
            if self.file is not None:
                try:
                    self.file.write(data)
                except OSError:
                    self.file.abort()  # the segment goes on without a file; dropped at close
                    self.file = None
                    raise
            cur.bytes += len(data) if data else len(msg.payload)  # fMP4: about what the frame will take
            if ts < cur.start_ms:
                if ts < cur.start_ms - TIMESTAMP_JUMP_MS:
                    log.warning("hls: %s timestamp jump %d => %d", self.url, cur.start_ms, ts)
                    cur.start_ms = cur.end_ms = ts
            elif ts > cur.end_ms:
                cur.end_ms = ts
        if error is not None:
            raise error

    def _overflow(self, elapsed_ms: int, limit_s: float) -> bool:
        if elapsed_ms < 2 * SEGMENT_MIN_DURATION_MS:
            return False
        extra = self.floor.extra_s(self.cfg.hls_fragment) if self.cfg.hls_ts_floor else 0.0
        return elapsed_ms >= (limit_s + extra) * 1000.0

    def _on_sequence_header(self, msg: Message, video: bool) -> None:
        previous = self.video_sh if video else self.audio_sh
        if previous == msg.payload:
            return  # a repeated header (encoder resend, hub replay) changes nothing
        if video:
            self.video_sh = msg.payload
        else:
            self.audio_sh = msg.payload
        cur = self.current
        if previous is not None and cur is not None and cur.bytes:
            # The codec changed mid-segment: end it here so the discontinuity is at the change.
            self._close(msg.ts_ms)
            cur = None
        if cur is None:
            self.mark_next = True
        else:
            cur.discontinuity = True

    # ------------------------------------------------------------------ segments
    def _open(self, start_ms: int) -> None:
        cfg = self.cfg
        now = self.manager.clock()
        seq = self.seq
        self.seq += 1
        name = build_stream(cfg.hls_fmp4_file if cfg.hls_use_fmp4 else cfg.hls_ts_file, self.req_vhost, self.app,
                            self.stream)
        if cfg.hls_ts_floor:
            name = name.replace("[timestamp]", str(self.floor.next(now, cfg.hls_fragment)))
        name = build_timestamp(name, now, self.manager.config().utc_time).replace("[seq]", str(seq))
        path = confine(self.root, name)  # before anything is written; refused -> _fail stops HLS
        seg = Segment(seq, start_ms, path, segment_uri(path, self.m3u8_dir, self.m3u8_url, cfg.hls_entry_prefix))
        seg.discontinuity = self.mark_next
        self.mark_next = False
        self.current = seg
        psi = self.ftt.pat_pmt()  # every segment starts with PAT/PMT (fMP4: fixes the segment's tracks)
        if cfg.hls_use_fmp4:
            seg.map_uri = self._fmp4_init(name)
        if self.ll is not None:
            self.ll.on_open(seg)
        cipher = None
        if self.keys is not None:
            key, seg.iv, seg.key_seq, seg.key_uri, seg.key_path = self.keys.for_segment(seq)
            cipher = Aes128CbcEncryptor(key, seg.iv)
        f = SegmentFile(path, cipher)  # on OSError the segment goes on without a file
        try:
            f.write(psi)
        except OSError:
            f.abort()
            raise
        self.file = f
        seg.bytes = len(psi)

    def _ll_setup(self, cfg) -> None:
        """hls_ll: parts need the fMP4 writer (TS parts are not done here)."""
        registry = self.manager.ll
        if self.ll is not None:
            registry.remove(self.ll)
        self.ll = None
        if not cfg.hls_ll:
            return
        if not cfg.hls_use_fmp4:
            log.warning("hls: %s hls_ll needs hls_use_fmp4 on, regular HLS only", self.url)
            return
        self.ll = LlStream(self, cfg.hls_part)
        registry.add(self.m3u8_path, self.ll)

    def _fmp4_init(self, segment_name: str) -> str:
        """Write the init segment when the tracks changed (``<segment name with [seq]>-init<n>.mp4``
        beside the segments: a new name per version, so players of older segments keep theirs);
        its URI for EXT-X-MAP."""
        ftt = self.ftt
        if ftt.init_changed or not self.map_uri:
            name = build_stream(self.cfg.hls_fmp4_file, self.req_vhost, self.app, self.stream)
            name = posixpath.splitext(name.replace("[seq]", "init%d" % ftt.init_version))[0] + ".mp4"
            path = confine(self.root, build_timestamp(name, self.manager.clock(), self.manager.config().utc_time))
            temp = path + ".tmp"
            try:
                with open(temp, "wb") as f:
                    f.write(ftt.init())
                os.replace(temp, path)
            except OSError:
                unlink_quietly(temp)
                raise
            self.map_uri = segment_uri(path, self.m3u8_dir, self.m3u8_url, self.cfg.hls_entry_prefix)
            if (path, self.map_uri) not in self.init_paths:
                self.init_paths.append((path, self.map_uri))
        return self.map_uri

    def _reap(self, ts_ms: int) -> None:
        try:
            self._close(ts_ms)
        finally:
            self._open(ts_ms)

    def _close(self, end_ms: Optional[int] = None) -> None:
        """Close the current segment at ``end_ms`` (the next segment's start) or its last message."""
        cur, f = self.current, self.file
        self.current = self.file = None
        if cur is None:
            return
        end = end_ms if end_ms is not None and end_ms >= cur.start_ms else cur.end_ms
        cur.duration_ms = end - cur.start_ms
        error = None
        if isinstance(self.ftt, Fmp4Remux):  # fMP4 writes a segment's samples when it ends
            tail = self.ftt.segment_end(end_ms, styp=self.ll is None or self.ll.index == 0)
            if f is not None and tail:
                try:
                    f.write(tail)
                except OSError as e:
                    f.abort()
                    f, error = None, e
            cur.bytes = len(tail)
        keep = (f is not None and cur.duration_ms >= SEGMENT_MIN_DURATION_MS
                and cur.duration_ms <= 2 * self.max_td_s * 1000)
        if keep:
            try:
                f.commit()
            except OSError as e:
                error, keep = e, False
        elif f is not None:
            f.abort()
        if self.ll is not None:
            self.ll.on_close(cur, tail if isinstance(self.ftt, Fmp4Remux) else b"", keep)
        if keep:
            self.segments.append(cur)
            self.reaped += 1
            log.debug("hls: reap %s seq=%d %.3fs %dB", cur.uri, cur.seq, cur.duration, cur.bytes)
            self._hooks(cur)
        else:
            if cur.seq == self.seq - 1:
                self.seq -= 1  # reuse the number, as SRS
            if cur.discontinuity:
                self.mark_next = True
            srslog.trace(log, "hls: drop ts segment seq=%d, uri=%s, duration=%dms%s", cur.seq, cur.uri,
                         cur.duration_ms, "" if f is not None else " (no file)")
        removed = shrink(self.segments, self.cfg.hls_window)
        try:
            self._write_m3u8()
        finally:
            if self.cfg.hls_cleanup:
                self._delete(removed)
        if error is not None:
            raise error

    def _write_m3u8(self) -> None:
        if not self.segments:
            return
        temp = self.m3u8_path + ".temp"
        try:
            with open(temp, "wb") as f:
                f.write(render(self.segments, self.max_td_s))
            os.replace(temp, self.m3u8_path)
        except OSError:
            unlink_quietly(temp)
            raise

    def _delete(self, removed: List[Segment]) -> None:
        for seg in removed:
            remove_inside(self.root, seg.path, "hls " + self.url)
        if self.init_paths:  # fMP4 inits no segment of the window (or the next) refers to any more
            maps = {s.map_uri for s in self.segments} | {self.map_uri}
            for path, uri in [p for p in self.init_paths if p[1] not in maps]:
                self.init_paths.remove((path, uri))
                remove_inside(self.root, path, "hls " + self.url)
        live = {s.key_seq for s in self.segments}
        if self.current is not None:
            live.add(self.current.key_seq)
        if self.keys is not None:
            live.add(self.keys.key_seq)
        for seg in removed:
            if seg.key_path and seg.key_seq not in live:
                live.add(seg.key_seq)  # once per key
                root = self.keys.key_root if self.keys is not None else self.cfg.hls_key_file_path
                remove_inside(root, seg.key_path, "hls " + self.url)

    def _abandon(self) -> None:
        if self.file is not None:
            self.file.abort()
        self.file = None
        self.current = None

    # ------------------------------------------------------------------ hooks
    def _hooks(self, seg: Segment) -> None:
        vc = self.manager.config().vhost(self.vhost)
        hk = vc.http_hooks if vc is not None else None
        if hk is None or not hk.enabled or not (hk.on_hls or hk.on_hls_notify):
            return
        req, cid, ip = self._identity()
        hooks = self.manager.hooks
        if hk.on_hls:
            hooks.on_hls(list(hk.on_hls), req, cid, ip, seg.duration, seg.path, seg.uri, self.m3u8_path,
                         self.m3u8_url, seg.seq, cwd=self.manager.cwd)
        if hk.on_hls_notify:
            hooks.on_hls_notify(list(hk.on_hls_notify), req, seg.uri, self.cfg.hls_nb_notify, cid)

    def _identity(self):
        """The publisher's request, cid and ip for hooks (its connection's while it is connected)."""
        cid = (self.source.publisher_cid or 0) if self.source is not None else 0
        conn = self.manager.connections.get(cid) if cid else None
        req = conn.req if conn is not None else None
        if req is None:
            req = Request()
            req.vhost, req.app, req.stream = self.req_vhost, self.app, self.stream
        return req, cid, conn.ip if conn is not None else ""

    # ------------------------------------------------------------------ errors
    def _fail(self, err: Exception, unpublishing: bool = False) -> None:
        self.errors += 1
        if isinstance(err, PathOutsideRoot):  # a name stays refused: off for this publish, no kick
            self.active = False
            self.pending = []
            self._abandon()
            log.error("hls: %s refused for this publish: %s", show_name(self.url), err)
            return
        policy = self.cfg.hls_on_error if self.cfg is not None else "continue"
        if policy == "continue" or unpublishing:
            now = self.manager.clock()
            if now - self._last_error_log_ms >= ERROR_LOG_INTERVAL_MS:
                self._last_error_log_ms = now
                log.warning("hls: %s error (continue, %d so far): %s", self.url, self.errors, err)
            return
        self.active = False
        self.pending = []
        self._abandon()
        if policy == "disconnect":
            log.error("hls: %s error, disconnect the publisher: %s", self.url, err)
            self._kick()
        else:
            log.warning("hls: %s error, HLS disabled for this publish (hls_on_error %s): %s", self.url,
                        policy, err)

    def _kick(self) -> None:
        cid = self.source.publisher_cid if self.source is not None else None
        conn = self.manager.connections.get(cid) if cid is not None else None
        if conn is not None:
            conn.kick()
        else:
            log.warning("hls: cannot kick the publisher of %s (cid=%s)", self.url, cid)

    # ------------------------------------------------------------------ dispose
    def dispose(self) -> None:
        """hls_dispose: end HLS for this publish and delete the m3u8 and every segment."""
        if self.active:
            self.on_unpublish(self.source)
        vc = self.manager.config().vhost(self.vhost)
        dispose_s = vc.hls.hls_dispose if vc is not None else 0
        self.can_dispose = False
        if dispose_s <= 0:
            return
        self._abandon()
        removed, self.segments = self.segments, []
        self.map_uri = ""
        if self.ll is not None:
            self.ll.clear()
        self._delete(removed)
        if self.keys is not None and self.keys.key_path:
            remove_inside(self.keys.key_root, self.keys.key_path, "hls " + self.url)
            self.keys = None
        if self.m3u8_path:
            remove_inside(self.root, self.m3u8_path, "hls " + self.url)
        srslog.trace(log, "hls: disposed %s (%d segments)", self.url, len(removed))


class HlsManager:
    """Every HlsStream of a server, the hls_dispose timer, and shutdown; what its streams need
    from the server (config, clock, hooks, the publishers' connections, cwd) lives here."""

    def __init__(self, config: ConfigSource, clock: Clock, hooks: HookCaller, connections: Connections,
                 sources: SourceDirectory, cwd: str):
        self.config = config
        self.clock = clock
        self.hooks = hooks
        self.connections = connections
        self.sources = sources
        self.cwd = cwd
        self.streams: Dict[str, HlsStream] = {}
        self.timer: Optional[gevent.Greenlet] = None
        self.ll = LlRegistry(clock)  # LL-HLS streams, for the HTTP router (app/hls/ll.py)
        self.interval_s = 1.0

    def output_for(self, source, vhost: str) -> Optional[HlsStream]:
        vc = self.config().vhost(vhost)
        if vc is None or not vc.hls.enabled:
            return None
        stream = self.streams.get(source.url)
        if stream is None:
            stream = self.streams[source.url] = HlsStream(self, source.url, vhost)
        stream.source = source
        return stream

    def ensure_timer(self, dispose_s: float) -> None:
        self.interval_s = min(self.interval_s, max(0.05, dispose_s / 4.0))
        if self.timer is None or self.timer.dead:
            self.timer = gevent.spawn(self._dispose_loop)

    def _dispose_loop(self) -> None:
        srslog.set_cid(0)
        while True:
            gevent.sleep(self.interval_s)
            try:
                self.check_dispose(self.clock())
            except Exception:  # one stream's bug must not stop disposing the others
                log.exception("hls: dispose check failed")

    def check_dispose(self, now_ms: int) -> None:
        for stream in list(self.streams.values()):
            if not stream.can_dispose:
                continue
            vc = self.config().vhost(stream.vhost)
            dispose_s = vc.hls.hls_dispose if vc is not None else 0
            if dispose_s > 0 and now_ms - stream.last_update_ms > dispose_s * 1000:
                srslog.trace(log, "hls: %s idle %dms > hls_dispose %.1fs", stream.url,
                             now_ms - stream.last_update_ms, dispose_s)
                stream.dispose()

    def on_reload(self, old=None, new=None, changes=None) -> None:
        """A ``server.reload_handlers`` entry: apply a changed ``hls {}`` to live sources (SRS's
        reload_vhost_hls): attach HLS where it was turned on, restart it where its settings changed
        (the hub replays the sequence headers), detach it where it was turned off."""
        for src in list(self.sources.sources.values()):
            vhost = src.url.split("/", 1)[0]
            vc = self.config().vhost(vhost)
            cfg = vc.hls if vc is not None else None
            enabled = cfg is not None and cfg.enabled
            out = next((o for o in src.hub if isinstance(o, HlsStream)), None)
            if out is None:
                if enabled:
                    src.add_hub_output(self.output_for(src, vhost))
            elif not enabled or (out.active and out.cfg != cfg):
                src.remove_hub_output(out)  # closes the open segment if publishing
                if enabled:
                    src.add_hub_output(out)

    def stop(self) -> None:
        """Server shutdown: close every open segment, then apply hls_dispose (SRS's source dispose)."""
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.kill(block=False)
        for stream in list(self.streams.values()):
            try:
                stream.dispose()
            except Exception:
                log.exception("hls: dispose %s failed", stream.url)
