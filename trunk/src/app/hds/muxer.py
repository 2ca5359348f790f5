"""HDS (Adobe HTTP Dynamic Streaming) output of a live source, as SRS's srs_app_hds.cpp.

A hub output (see the hub contract): for ``vhost/app/stream`` it writes under ``hds_path``::

    <app>/<stream>.f4m            the manifest, written at publish
    <app>/<stream>.abst           the bootstrap, rewritten after each fragment
    <app>/<stream>Seg1-Frag<N>    the fragments: one mdat of FLV tags, N counting from 1

Each fragment starts with the current sequence headers (timestamped at the fragment start) and
carries the publisher's original timestamps. The bootstrap lists the fragments of the window
(their total duration over ``hds_window`` drops the oldest, whose file is deleted).

Where we differ from SRS, on purpose:
- a fragment is cut at a video keyframe once it lasts ``hds_fragment`` (any message for pure
  audio), so every fragment is decodable on its own; SRS cuts at any message. A fragment's
  duration is then the distance to the next one's start, so the afrt timeline has no gaps;
- at unpublish the last, partial fragment is written and listed too (SRS drops it);
- files are written to a temp name and renamed, so a player never reads half a bootstrap.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional

from srs.app.ports import ConfigSource
from srs.app.server.file_root import PathOutsideRoot, confine, remove_inside, show_name
from srs.kernel import f4v
from srs.kernel.errors import ERROR_SYSTEM_FILE_WRITE, SrsError
from srs.kernel.log import trace
from srs.kernel.message import Message
from srs.protocol.request import split_stream_url

log = logging.getLogger(__name__)


class Fragment:
    __slots__ = ("index", "start_ms", "duration_ms", "msgs", "path", "last_ms")

    def __init__(self, index: int, start_ms: int, path: str):
        self.index = index
        self.start_ms = start_ms
        self.last_ms = start_ms
        self.duration_ms = 0
        self.msgs: List[Message] = []
        self.path = path


def write_atomic(path: str, data: bytes) -> None:
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, mode=0o755, exist_ok=True)
    temp = path + ".tmp"
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError as e:
        raise SrsError(f"write {path} failed: {e}", ERROR_SYSTEM_FILE_WRITE) from e


class HdsStream:
    """The HDS writer of one source (lives as long as the source; fragment numbers keep counting
    across publishes, as SRS's SrsHds)."""

    def __init__(self, source, vhost: str, *, config: ConfigSource, cwd: str):
        self.config = config
        self.cwd = cwd
        self.vhost = vhost
        self.url = source.url
        _, self.app, self.stream = split_stream_url(source.url)
        self.fragment_index = 1
        self.publishing = False
        self.fragments: List[Fragment] = []
        self.current: Optional[Fragment] = None
        self.video_sh: Optional[Message] = None
        self.audio_sh: Optional[Message] = None
        self.has_video = False
        self.fragment_ms = 10000.0
        self.window_ms = 60000.0
        self.dir = ""
        self.root = ""  # hds_path under the server's cwd: every file written or deleted stays inside

    def __repr__(self) -> str:
        return f"HdsStream({self.url})"

    # ------------------------------------------------------------------ hub contract
    def on_publish(self, source) -> None:
        vc = self.config().vhost(self.vhost)
        cfg = vc.hds if vc is not None else None
        if cfg is None or not cfg.enabled:
            self.publishing = False
            return
        self.fragment_ms = float(cfg.hds_fragment) * 1000.0
        self.window_ms = float(cfg.hds_window) * 1000.0
        self.root = os.path.join(self.cwd, cfg.hds_path)
        self.dir = os.path.join(self.root, self.app)
        self.fragments = []
        self.current = None
        self.video_sh = self.audio_sh = None
        self.has_video = False
        try:
            path = self._path(self.stream + ".f4m")
            # every name this publish will write, checked now: the stream never half-starts
            self._path(f4v.fragment_name(self.stream, self.fragment_index))
        except PathOutsideRoot as e:
            self.publishing = False  # HDS only: the source and its other outputs go on
            log.error("hds: %s refused for this publish: %s", show_name(self.url), e)
            return
        self.publishing = True
        write_atomic(path, f4v.manifest(self.stream).encode("utf-8"))
        trace(log, "hds: publish %s, fragment=%.1fs, window=%.1fs, manifest=%s", self.url,
              self.fragment_ms / 1000, self.window_ms / 1000, path)

    def on_message(self, msg: Message) -> None:
        if not self.publishing or not msg.is_av:
            return  # SRS's HDS takes audio and video only
        if msg.is_video:
            self.has_video = True
        if msg.seq_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
            if self.current is not None:
                self.current.msgs.append(msg)  # a codec change inside a fragment
            return
        cur = self.current
        if cur is not None and msg.ts_ms - cur.start_ms >= self.fragment_ms and (
                (msg.is_video and msg.keyframe) or not self.has_video):
            self._close(msg.ts_ms)
            cur = None
        if cur is None:
            cur = self._open(msg.ts_ms)
        cur.msgs.append(msg)
        cur.last_ms = max(cur.last_ms, msg.ts_ms)

    def on_unpublish(self, source) -> None:
        if not self.publishing:
            return
        cur = self.current
        if cur is not None and len(cur.msgs) > 1:
            self._close(cur.last_ms)
        self.current = None
        self.publishing = False
        self.fragments = []
        self.video_sh = self.audio_sh = None
        trace(log, "hds: unpublish %s, next fragment %d", self.url, self.fragment_index)

    # ------------------------------------------------------------------ fragments
    def _open(self, ts_ms: int) -> Fragment:
        index = self.fragment_index
        self.fragment_index += 1
        frag = Fragment(index, ts_ms, self._path(f4v.fragment_name(self.stream, index)))
        # Every fragment starts with the sequence headers, at the fragment's start time.
        for sh in (self.video_sh, self.audio_sh):
            if sh is not None:
                frag.msgs.append(sh.with_ts(ts_ms))
        self.current = frag
        return frag

    def _close(self, end_ms: int) -> None:
        frag = self.current
        self.current = None
        frag.duration_ms = max(0, end_ms - frag.start_ms)
        write_atomic(frag.path, f4v.encode_fragment(frag.msgs))
        frag.msgs = []  # written: keep only the numbers
        self.fragments.append(frag)
        self._adjust_window()
        self._write_bootstrap()
        log.debug("hds: fragment %s %dms", frag.path, frag.duration_ms)

    def _adjust_window(self) -> None:
        frags = self.fragments
        total = sum(f.duration_ms for f in frags)
        while len(frags) > 1 and total > self.window_ms:
            old = frags.pop(0)
            total -= old.duration_ms
            remove_inside(self.root, old.path, "hds " + self.url)

    def bootstrap(self) -> f4v.Bootstrap:
        frags = self.fragments
        last = frags[-1]
        # As SRS: version = the last fragment number, current media time = its start time;
        # segment 1 holds every fragment so far.
        return f4v.Bootstrap(version=last.index, live=True, current_media_time=last.start_ms,
                             segment_runs=[(1, last.index)],
                             fragment_runs=[f4v.FragmentRun(f.index, f.start_ms, f.duration_ms) for f in frags])

    def _write_bootstrap(self) -> None:
        write_atomic(self._path(self.stream + ".abst"), self.bootstrap().encode())

    def _path(self, name: str) -> str:
        """``hds_path/<app>/<name>``, refused (PathOutsideRoot) when the app or stream would leave hds_path."""
        return confine(self.root, self.app + "/" + name)


def make_hub_output(source, vhost: str, *, config: ConfigSource, cwd: str) -> Optional[HdsStream]:
    """Hub factory: an HdsStream for ``source`` when the vhost has ``hds { enabled on; }``."""
    vc = config().vhost(vhost)
    if vc is None or not vc.hds.enabled:
        return None
    return HdsStream(source, vhost, config=config, cwd=cwd)
