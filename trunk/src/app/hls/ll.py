"""``hls { hls_use_fmp4 on; hls_ll on; hls_part 0.333; }``: low-latency HLS (RFC 8216bis) on the fMP4 path.

The segment writer (app/hls/muxer.py with app/hls/fmp4.py) stays what it is; this adds:

  parts     while a segment is written, its samples are flushed every ~``hls_part`` seconds as a
            ``moof mdat`` (the first with ``styp``): each flush is one partial segment, kept in memory
            for the playlist window and appended to the segment file, so the full segment on disk is
            the concatenation of its parts and old clients play it unchanged. A part is cut before
            a video frame (audio-only: an audio frame) when waiting one more frame would overrun the
            part target; a part that starts with a keyframe is INDEPENDENT=YES.
  playlist  built in memory at each request (kernel/m3u8_ll.py): EXT-X-PART of the recent segments and
            of the one being written, EXT-X-PRELOAD-HINT of the next part, SERVER-CONTROL, delta
            updates (``_HLS_skip=YES``). The m3u8 file on disk stays the regular playlist.
  blocking  ``_HLS_msn``/``_HLS_part``: the request waits on the stream's gevent Event (set at every
            part and segment) until the playlist holds that part, at most 3 target durations, then
            503 (§6.2.5.2). The preload-hinted part may be asked before it exists: it waits the same way.

Every query parameter is checked by ``kernel.m3u8_ll.parse_directives`` (400 on anything else).
"""
from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional

from gevent.event import Event

from srs.kernel.errors import HttpError
from srs.kernel.m3u8 import Segment
from srs.kernel.m3u8_ll import (Part, parse_directives, part_uri, parts_to_keep, render_ll, satisfied,
                                target_duration)
from srs.kernel.message import MSG_VIDEO, Message

log = logging.getLogger(__name__)

WAIT_TARGETS = 3        # a blocking request waits at most this many target durations
PART_MIME = "video/mp4"
M3U8_MIME = "application/vnd.apple.mpegurl"
MSN_AHEAD_MAX = 2       # _HLS_msn beyond the last segment + 2: 400 at once (§6.2.5.2)


class LlStream:
    """The parts and waiters of one HLS stream (an ``HlsStream`` with hls_ll on)."""

    def __init__(self, hls, part_target_s: float):
        self.hls = hls                      # the HlsStream: segments, max_td_s, cfg
        self.part_target_s = part_target_s
        self.parts: List[Part] = []
        self.paths: Dict[str, Part] = {}    # real path -> part, for the HTTP lookup
        self.current_msn = 0
        self.index = 0                      # the next part of the segment being written
        self.part_start_ms = 0
        self.last_cut_ts = 0                # the previous frame that could start a part
        self.next_independent = True
        self.seg_path = self.seg_uri = ""
        self.hint_uri = self.hint_path = ""
        self.writing = False
        self.changed = Event()

    # ------------------------------------------------------------------ from the muxer
    def on_open(self, seg: Segment) -> None:
        self.current_msn = seg.seq
        self.index = 0
        self.part_start_ms = self.last_cut_ts = seg.start_ms
        self.next_independent = True  # a segment opens at a keyframe (or holds only audio)
        self.seg_path, self.seg_uri = seg.path, seg.uri
        self.writing = True
        self._hint()
        self._notify()

    def cut(self, ftt, msg: Message) -> bytes:
        """Before ``msg`` is muxed: end the current part here if it is due; its bytes (to append to
        the segment file) or b""."""
        if msg.kind != MSG_VIDEO and ftt.vcodec is not None:
            return b""  # parts cut before video frames: a keyframe then starts an independent part
        ts = msg.ts_ms
        elapsed = ts - self.part_start_ms
        interval = max(0, ts - self.last_cut_ts)
        self.last_cut_ts = ts
        target_ms = self.part_target_s * 1000.0
        if elapsed <= 0 or (elapsed + interval <= target_ms and elapsed < target_ms):
            return b""
        data = ftt.segment_end(ts, styp=self.index == 0)
        if data:
            self._add(ts - self.part_start_ms, data)
            self.part_start_ms = ts
            self.next_independent = msg.kind != MSG_VIDEO or msg.keyframe
        return data

    def on_close(self, seg: Segment, tail: bytes, kept: bool) -> None:
        """The segment ends: ``tail`` its last part; parts of a dropped segment go (its number is reused)."""
        if tail and kept:
            self._add(max(1, seg.start_ms + seg.duration_ms - self.part_start_ms), tail)
        if not kept:
            self._keep([p for p in self.parts if p.msn != seg.seq])
        self.writing = False
        self._prune()
        self._notify()

    def on_unpublish(self) -> None:
        self.writing = False
        self.hint_uri = self.hint_path = ""
        self._notify()  # waiters answer with what there is

    def clear(self) -> None:
        """hls_dispose: the parts go with the segments."""
        self.parts, self.paths = [], {}
        self.on_unpublish()

    # ------------------------------------------------------------------ state
    def _add(self, duration_ms: int, data: bytes) -> None:
        uri = part_uri(self.seg_uri, self.index)
        part = Part(self.current_msn, self.index, duration_ms, self.next_independent, uri, data)
        self.parts.append(part)
        self.paths[os.path.realpath(part_uri(self.seg_path, self.index))] = part
        self.index += 1
        self._hint()
        self._prune()
        self._notify()

    def _hint(self) -> None:
        self.hint_uri = part_uri(self.seg_uri, self.index)
        self.hint_path = os.path.realpath(part_uri(self.seg_path, self.index))

    def _prune(self) -> None:
        self._keep(parts_to_keep(self.hls.segments, self.parts, self.current_msn, self.hls.max_td_s))

    def _keep(self, kept: List[Part]) -> None:
        if len(kept) != len(self.parts):
            self.parts = kept
            alive = set(map(id, kept))
            self.paths = {k: p for k, p in self.paths.items() if id(p) in alive}

    def _notify(self) -> None:
        ev, self.changed = self.changed, Event()
        ev.set()

    def current_parts(self) -> int:
        return self.index if self.writing else 0

    def last_complete(self) -> int:
        segs = self.hls.segments
        return segs[-1].seq if segs else -1

    def wait_ms(self) -> int:
        return int(WAIT_TARGETS * target_duration(self.hls.segments, self.hls.max_td_s) * 1000)

    def wait_until(self, ready, clock) -> bool:
        """Block this greenlet until ``ready()`` or the bound; True when ready."""
        deadline = clock() + self.wait_ms()
        while not ready():
            left = deadline - clock()
            if left <= 0 or not (self.writing or self.hls.active):
                return ready()
            self.changed.wait(left / 1000.0)
        return True

    def playlist(self, skip: bool) -> bytes:
        return render_ll(self.hls.segments, self.parts, self.current_msn, self.hint_uri if self.writing else "",
                         self.part_target_s, self.hls.max_td_s, skip)


class LlRegistry:
    """The LL streams of a server (HlsManager.ll), found by the real path of their m3u8 or part."""

    def __init__(self, clock):
        self.clock = clock
        self.streams: Dict[str, LlStream] = {}  # realpath of the m3u8 -> stream
        self.on_sent = None  # (req, bytes) of a part sent: hls_ctx counts it to the session (app/hls/ctx.py)

    def add(self, m3u8_path: str, stream: LlStream) -> None:
        self.streams[os.path.realpath(m3u8_path)] = stream

    def remove(self, stream: LlStream) -> None:
        for k in [k for k, s in self.streams.items() if s is stream]:
            del self.streams[k]

    # ------------------------------------------------------------------ HTTP
    def serve(self, conn, req, static, ctx_on: bool) -> bool:
        """The LiveRouter's hook: a part (waiting for the hinted one), or, without hls_ctx, an LL
        playlist. False: not ours (the request goes on to hls_ctx or the static files)."""
        if not self.streams:
            return False
        real, redirect = static.resolve(conn, req)
        if real is None or redirect is not None:
            return False
        if req.path.endswith(".m4s"):
            return self._part(conn, req, real)
        if ctx_on or real not in self.streams:
            return False
        body = self.playlist_body(req, real)
        conn.send_response(200, [("Content-Type", M3U8_MIME), ("Cache-Control", "no-cache")], body,
                           head_only=req.method == "HEAD")
        return True

    def playlist_body(self, req, real: str) -> Optional[bytes]:
        """The LL playlist for the m3u8 at ``real`` once what the request asks is there; None when
        that m3u8 is not an LL stream's (hls_ctx's hook: then the file is served)."""
        s = self.streams.get(real)
        if s is None or not s.hls.segments:
            return None
        msn, part, skip = parse_directives(req.query)
        if msn is not None:
            if msn > s.current_msn + MSN_AHEAD_MAX:
                raise HttpError(f"_HLS_msn {msn} too far ahead of {s.current_msn}", status=400)

            def ready() -> bool:
                return satisfied(msn, part, s.last_complete(), s.current_msn, s.current_parts())
            if not s.wait_until(ready, self.clock):
                raise HttpError(f"_HLS_msn {msn} part {part} not ready", status=503)
        return s.playlist(skip)

    def _part(self, conn, req, real: str) -> bool:
        for s in list(self.streams.values()):
            found = s.paths.get(real)
            if found is None and real == s.hint_path:
                s.wait_until(lambda: real in s.paths or real != s.hint_path, self.clock)
                found = s.paths.get(real)
                if found is None:
                    raise HttpError(f"part {req.path} not ready", status=404)
            if found is not None:
                conn.send_response(200, [("Content-Type", PART_MIME), ("Cache-Control", "no-cache")], found.data,
                                   head_only=req.method == "HEAD")
                if self.on_sent is not None and req.method != "HEAD":
                    self.on_sent(req, len(found.data))
                return True
        return False
