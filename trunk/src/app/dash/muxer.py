"""MPEG-DASH output of a live source (SRS 5's srs_app_dash.cpp): a hub output that writes, under
``dash_path``::

    <dir of dash_mpd_file>/<stream>.mpd                 the live MPD (kernel/mpd.py)
    <dir of dash_mpd_file>/<stream>/video-init.mp4      fMP4 init per track (kernel/fmp4.py)
    <dir of dash_mpd_file>/<stream>/video-<n>.m4s       media segments; audio-init.mp4, audio-<n>.m4s

The media is remuxed once per stream, inline in the publisher's greenlet (file writes only).
Video segments are cut at a keyframe once they last ``dash_fragment``; the audio segment is cut at
its first frame at or after the video cut (pure audio: at ``dash_fragment``), so each track's
segments follow one another without gaps and a segment's duration is exact. The MPD lists the
last ``dash_window_size`` segments of each track; with ``dash_cleanup`` the files of segments
older than twice the window are deleted (a player may still be fetching the ones just out of it).
``dash_dispose`` deletes every file of the stream that long after its unpublish.

H.264, HEVC and AV1 video and AAC audio go in (the fMP4 sample entries we write); another codec of
a track is one warning and that track is left out. Files are written to a temp name and renamed, so
a player never reads half a segment; every path is confined to dash_path (a client name that would
leave it stops DASH for that publish, one log line).
"""
from __future__ import annotations

import logging
import os
import posixpath
from typing import Dict, List, Optional

import gevent

from srs.app.hds.muxer import write_atomic
from srs.app.ports import Clock, ConfigSource
from srs.app.server.file_root import PathOutsideRoot, confine, remove_inside, show_name
from srs.kernel import fmp4, mpd
from srs.kernel.codec import video_codec_name, video_codec_of
from srs.kernel.errors import CodecError, SrsError
from srs.kernel.log import trace
from srs.kernel.message import Message
from srs.kernel.path_template import build_stream
from srs.protocol.request import split_stream_url

log = logging.getLogger(__name__)

# A segment shorter than this is not cut (a keyframe right after a cut would make a sliver).
SEGMENT_MIN_MS = 100
# A segment is held in memory until it is cut: without a keyframe for this many fragments, video is cut
# anyway (the next segment then starts mid-GOP; a player resyncs at the next keyframe), which bounds
# the memory of one stream to about this many fragments of its bitrate.
MAX_FRAGMENTS_WITHOUT_KEYFRAME = 3
# Bandwidth announced before a segment measured it (SRS's constants).
DEFAULT_BANDWIDTH = {"video": 800000, "audio": 48000}


class _TrackOut:
    """One representation: its fMP4 track, open fragment, numbering and window."""

    __slots__ = ("rid", "track", "frag", "number", "start_ms", "segments", "cut_at", "rep")

    def __init__(self, rid: str):
        self.rid = rid
        self.track: Optional[fmp4.Track] = None
        self.frag: Optional[fmp4.Fragment] = None
        self.number = 1          # of the next segment; keeps counting across publishes (no stale caches)
        self.start_ms = 0
        self.segments: List[tuple] = []   # (number, t, d, bytes, path) of the files kept
        self.cut_at: Optional[int] = None  # audio: cut at the first frame at or after this
        self.rep: Optional[mpd.Representation] = None


class DashStream:
    """The DASH writer of one source (lives as long as the source)."""

    def __init__(self, source, vhost: str, *, config: ConfigSource, clock: Clock, cwd: str):
        self.config = config
        self.clock = clock
        self.cwd = cwd
        self.vhost = vhost
        self.url = source.url
        self.req_vhost, self.app, self.stream = split_stream_url(source.url)
        self.publishing = False
        self.cfg = None
        self.root = ""
        self.mpd_path = ""
        self.dir = ""              # the segments' directory (relative to root)
        self.tracks: Dict[str, _TrackOut] = {"video": _TrackOut("video"), "audio": _TrackOut("audio")}
        self.ast_ms: Optional[int] = None
        self.warned: set = set()
        self.dispose_timer: Optional[gevent.Greenlet] = None

    def __repr__(self) -> str:
        return f"DashStream({self.url})"

    # ------------------------------------------------------------------ hub contract
    def on_publish(self, source) -> None:
        vc = self.config().vhost(self.vhost)
        cfg = vc.dash if vc is not None else None
        if cfg is None or not cfg.enabled:
            self.publishing = False
            return
        self._cancel_dispose()
        self.cfg = cfg
        self.root = os.path.join(self.cwd, cfg.dash_path)
        mpd_rel = build_stream(cfg.dash_mpd_file, self.req_vhost, self.app, self.stream)
        self.dir = posixpath.join(posixpath.dirname(mpd_rel), self.stream)
        try:
            self.mpd_path = confine(self.root, mpd_rel)
            confine(self.root, self.dir + "/video-init.mp4")  # every name of this publish, checked now
        except PathOutsideRoot as e:
            self.publishing = False  # DASH only: the source and its other outputs go on
            log.error("dash: %s refused for this publish: %s", show_name(self.url), e)
            return
        for t in self.tracks.values():  # a republish restarts the timeline (timestamps restart)
            self._expire(t, keep=0)
            t.track = t.frag = t.rep = t.cut_at = None
        self.ast_ms = None
        self.warned = set()
        self.publishing = True
        trace(log, "dash: publish %s, fragment=%.1fs, update=%.1fs, window=%d, path=%s, mpd=%s", self.url,
              cfg.dash_fragment, cfg.dash_update_period, cfg.dash_window_size, cfg.dash_path, self.mpd_path)

    def on_message(self, msg: Message) -> None:
        if not self.publishing or not msg.is_av:
            return
        try:
            if msg.seq_header:
                self._on_sequence_header(msg)
            else:
                self._on_sample(msg)
        except (OSError, SrsError) as e:
            self.publishing = False  # disk trouble: DASH stops for this publish, the stream goes on
            log.error("dash: %s stopped for this publish: %s", self.url, e)

    def on_unpublish(self, source) -> None:
        if not self.publishing:
            return
        self.publishing = False
        try:
            for t in self.tracks.values():
                if t.frag is not None and len(t.frag):
                    self._close(t, None)
            self._write_mpd()
        except (OSError, SrsError) as e:
            log.error("dash: %s unpublish: %s", self.url, e)
        dispose_s = self.cfg.dash_dispose
        if dispose_s > 0:
            self.dispose_timer = gevent.spawn_later(dispose_s, self.dispose)
        trace(log, "dash: unpublish %s", self.url)

    # ------------------------------------------------------------------ media
    def _on_sequence_header(self, msg: Message) -> None:
        t = self.tracks["video" if msg.is_video else "audio"]
        try:
            track = fmp4.track_of(msg, 1)  # one track per file: id 1 in each
        except CodecError as e:
            self._warn(t.rid + "sh", "dash: %s ignores a bad %s sequence header: %s", self.url, t.rid, e)
            return
        if track is None:
            codec = video_codec_name(video_codec_of(msg.payload)) if msg.is_video else "non-AAC"
            self._warn(t.rid, "dash: %s %s %s cannot go into DASH here; that track is left out", self.url, codec,
                       t.rid)
            return
        if t.track == track:
            return  # a repeated header changes nothing
        if t.frag is not None and len(t.frag):
            self._close(t, msg.ts_ms)  # the old config's samples end here
        t.track = track
        t.frag = fmp4.Fragment(track)
        bw = DEFAULT_BANDWIDTH[t.rid]
        t.rep = mpd.Representation(t.rid, track.is_video, track.codec_string, bw, track.width, track.height,
                                   track.sample_rate)
        write_atomic(self._path(t.rid + "-init.mp4"), fmp4.init_segment([track]))

    def _on_sample(self, msg: Message) -> None:
        video = self.tracks["video"]
        t = video if msg.is_video else self.tracks["audio"]
        frag = t.frag
        if frag is None:
            return
        ts = msg.ts_ms
        if msg.is_video:
            if not len(frag) and not msg.keyframe:
                return  # a video segment starts at a keyframe
            elapsed, fragment_ms = ts - t.start_ms, self.cfg.dash_fragment * 1000
            if len(frag) and ((msg.keyframe and elapsed >= max(SEGMENT_MIN_MS, fragment_ms))
                              or elapsed >= MAX_FRAGMENTS_WITHOUT_KEYFRAME * fragment_ms):
                self._close(t, ts)
                audio = self.tracks["audio"]
                if audio.frag is not None and len(audio.frag):
                    audio.cut_at = ts
        elif len(frag) and ((t.cut_at is not None and ts >= t.cut_at)
                            or (video.frag is None and ts - t.start_ms >= self.cfg.dash_fragment * 1000)):
            self._close(t, ts)
        if msg.is_audio and video.frag is not None and video.frag.first_dts is None and not video.segments:
            return  # no audio ahead of the first video keyframe: both tracks start together
        if not len(frag):
            t.start_ms = ts
        self._on_arrival(ts)
        frag.add_message(msg)

    def _on_arrival(self, ts: int) -> None:
        """availabilityStartTime, the wall-clock instant of media time 0: the earliest ``now - ts`` of
        the samples so far, not the first one's. A play starts with a burst of media from the past (the
        origin's GOP cache; an ABR worker's probe and encoder start: 1-2 s on a loaded machine), so its
        first sample arrives late. A late AST announces every segment that late: a player's live edge
        (now - AST) lags the listed window by as much, so it plays near the window's old end, where
        the window soon slides past it (dash.js stalled on a quality switch). A sample never arrives
        before its time, so the minimum settles on the real instant once the burst is played out."""
        ast = self.clock() - ts
        if self.ast_ms is None or ast < self.ast_ms:
            self.ast_ms = ast

    def _close(self, t: _TrackOut, end_ms: Optional[int]) -> None:
        track, base, table, datas, dur = part = t.frag.take(end_ms)
        data = fmp4.media_segment(t.number, [part])
        path = self._path("%s-%d.m4s" % (t.rid, t.number))
        write_atomic(path, data)
        t.segments.append((t.number, base, dur, len(data), path))
        t.number += 1
        t.cut_at = None
        if t.rep is not None and dur > 0:
            t.rep.bandwidth = max(t.rep.bandwidth, len(data) * 8000 // dur)
        self._expire(t, keep=2 * self.cfg.dash_window_size)
        self._write_mpd()
        log.debug("dash: %s segment %s %dms %dB", self.url, path, dur, len(data))

    def _expire(self, t: _TrackOut, keep: int) -> None:
        old = t.segments[:-keep] if keep else list(t.segments)
        if not old:
            return
        del t.segments[:len(old)]
        if self.cfg is not None and self.cfg.dash_cleanup:
            for seg in old:
                remove_inside(self.root, seg[4], "dash " + self.url)

    def _write_mpd(self) -> None:
        window = self.cfg.dash_window_size
        reps = []
        for t in self.tracks.values():
            if t.rep is not None:
                t.rep.segments = [s[:3] for s in t.segments[-window:]]
                reps.append(t.rep)
        if not any(r.segments for r in reps) or self.ast_ms is None:
            return
        body = mpd.render(reps, self.stream + "/", self.ast_ms, self.clock(), self.cfg.dash_update_period * 1000,
                          window)
        write_atomic(self.mpd_path, body)

    # ------------------------------------------------------------------ dispose
    def dispose(self) -> None:
        """dash_dispose: the publisher is gone for that long: delete the MPD and every segment."""
        self.dispose_timer = None
        if self.publishing:
            return
        for t in self.tracks.values():
            self._expire(t, keep=0)
            if t.track is not None:
                remove_inside(self.root, self._path(t.rid + "-init.mp4"), "dash " + self.url)
        remove_inside(self.root, self.mpd_path, "dash " + self.url)
        trace(log, "dash: disposed %s", self.url)

    def _cancel_dispose(self) -> None:
        timer, self.dispose_timer = self.dispose_timer, None
        if timer is not None:
            timer.kill(block=False)

    def _path(self, name: str) -> str:
        return confine(self.root, self.dir + "/" + name)

    def _warn(self, key: str, fmt: str, *args) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning(fmt, *args)


def make_hub_output(source, vhost: str, *, config: ConfigSource, clock: Clock, cwd: str) -> Optional[DashStream]:
    """Hub factory: a DashStream for ``source`` when the vhost has ``dash { enabled on; }``."""
    vc = config().vhost(vhost)
    if vc is None or not vc.dash.enabled:
        return None
    return DashStream(source, vhost, config=config, clock=clock, cwd=cwd)
