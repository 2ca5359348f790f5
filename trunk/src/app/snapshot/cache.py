"""Snapshots of live streams: the latest keyframe of each source, decoded once, pictures cached.

    snaps = Snapshots(config, sources, cwd)             # the Server owns it (a thread pool)
    sources.hub_factories.append(snaps.output_for)      # a SnapshotOutput per source of a vhost
    data, mime = snaps.picture("v/live/s", "jpg", 320, 0)   # in an HTTP greenlet; None: no video

Cost in the stream's greenlets: ``SnapshotOutput.on_message`` keeps a reference to the latest video
sequence header and keyframe (the ``Message`` objects the source already holds), nothing else.

The work runs in a gevent ThreadPool (FFmpeg in OS threads), only when asked, and at most once per
keyframe: the decoded frame of a keyframe is kept with the pictures made from it (per format and
size, a few) until the next keyframe. Per stream at most one job runs; every other request for that
stream waits for it (a cooperative wait in its own greenlet) and then uses the cache, so N clients
asking at once cost one decode. Across streams at most ``MAX_PENDING`` jobs wait; more are refused
(``SnapshotBusy``, a 503) rather than queued without bound.

Periodic files (``snapshot { enabled on; interval; path; }``): one greenlet per published source
writes the latest keyframe every ``interval`` seconds (only when the keyframe changed), atomically
(temporary file + rename) below the path's root (server/file_root.py).
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Tuple

import gevent
from gevent.threadpool import ThreadPool

from srs.app.ffmpeg.process import split_stream_url
from srs.app.ports import ConfigSource, LiveSources
from srs.app.server.file_root import PathOutsideRoot, confine, show_name, template_root, write_file_atomic
from srs.app.snapshot import image
from srs.app.snapshot.image import decode_keyframe, encode_picture, fit_size
from srs.core.lazy import ensure_loaded
from srs.kernel.errors import CodecError, HttpError
from srs.kernel.log import cid_var
from srs.kernel.message import Message
from srs.kernel.path_template import build_stream

log = logging.getLogger(__name__)

THREADS = 2            # decode/encode threads for the whole server (the machine has few cores)
MAX_PENDING = 16       # jobs waiting or running across all streams; more get a 503
MAX_PICTURES = 8       # cached pictures per keyframe (formats x sizes)
JOB_TIMEOUT_S = 10.0   # a picture that takes longer is an error (a 500), the job keeps its slot until done


class SnapshotBusy(HttpError):
    """Too many snapshot jobs at once: the client may retry."""

    def __init__(self, message: str = "snapshot workers busy"):
        super().__init__(message, status=503)


class _Decoded:
    """What one keyframe gave: its frame (decoded once) and the pictures made from it."""

    __slots__ = ("keyframe", "frame", "pictures")

    def __init__(self, keyframe: Message, frame):
        self.keyframe = keyframe
        self.frame = frame
        self.pictures: Dict[Tuple[str, int, int], bytes] = {}


class SnapshotOutput:
    """Hub output of one source: its latest video sequence header and keyframe, the cache of what
    was made from that keyframe, and while published the periodic-file greenlet."""

    def __init__(self, owner: "Snapshots", url: str):
        self.owner = owner
        self.url = url
        self.video_sh: Optional[Message] = None
        self.keyframe: Optional[Message] = None
        self.key_sh: Optional[Message] = None   # the header that decodes ``keyframe``
        self.decoded: Optional[_Decoded] = None
        self.job = None                          # the running job's AsyncResult
        self.periodic = None

    def __repr__(self) -> str:
        return "SnapshotOutput(%s)" % show_name(self.url)

    # ---- hub output (the publisher's greenlet: references only)
    def on_publish(self, source) -> None:
        self.video_sh = source.video_sh
        self.keyframe = self.key_sh = None
        if self.periodic is None:
            self.periodic = gevent.spawn(self._periodic, cid_var.get())

    def on_message(self, msg: Message) -> None:
        if not msg.is_video:
            return
        if msg.seq_header:
            self.video_sh = msg
        elif msg.keyframe and self.video_sh is not None:
            self.keyframe, self.key_sh = msg, self.video_sh

    def on_unpublish(self, source) -> None:
        self.keyframe = self.key_sh = self.video_sh = None
        self.decoded = None
        g, self.periodic = self.periodic, None
        if g is not None:
            g.kill(block=False)

    # ---- pictures (an HTTP greenlet or the periodic one)
    def picture(self, fmt: str, want_w: int, want_h: int) -> Optional[bytes]:
        """The latest keyframe as ``fmt`` at the asked size, None when the stream has no keyframe
        of a codec we decode yet. Raises SnapshotBusy, or HttpError(500) on a failed decode."""
        for _ in range(MAX_PICTURES + 2):  # wait for the running job (each makes one picture), then ours
            key, sh = self.keyframe, self.key_sh
            if key is None or sh is None:
                return None
            decoded = self.decoded
            if decoded is not None and decoded.keyframe is key:
                size = fit_size(decoded.frame.width, decoded.frame.height, want_w, want_h,
                                *self.owner.max_size(self.url))
                data = decoded.pictures.get((fmt,) + size)
                if data is not None:
                    return data
            job = self.job
            if job is None:
                job = self.job = self.owner.submit(self._make, key, sh, fmt, want_w, want_h)
                try:
                    data, decoded_now, frame = self._wait(job)
                finally:
                    self.job = None
                if decoded_now:
                    self.owner.decodes += 1
                    log.info("snapshot %s decoded keyframe ts=%d, %dx%d, decodes=%d", show_name(self.url),
                             key.ts_ms, frame.width, frame.height, self.owner.decodes)
                return data
            self._wait(job)  # someone else's job: it fills the cache (or failed: try ours)
            gevent.sleep(0)  # its owner clears ``job`` when it wakes: let it run first
        raise SnapshotBusy("snapshot of %s still busy" % self.url)

    @staticmethod
    def _wait(job):
        try:
            return job.get(timeout=JOB_TIMEOUT_S)
        except gevent.Timeout as e:
            raise HttpError("snapshot timed out", status=500) from e
        except CodecError as e:
            raise HttpError(str(e), status=500) from e

    def _make(self, key: Message, sh: Message, fmt: str, want_w: int, want_h: int) -> tuple:
        """In a worker thread: decode ``key`` unless already done, then make and cache the picture.
        -> (the picture, whether ``key`` was decoded now, the decoded frame)."""
        decoded = self.decoded
        decoded_now = decoded is None or decoded.keyframe is not key
        if decoded_now:
            decoded = _Decoded(key, decode_keyframe(sh.payload, key.payload))
        size = fit_size(decoded.frame.width, decoded.frame.height, want_w, want_h, *self.owner.max_size(self.url))
        data = decoded.pictures.get((fmt,) + size)
        if data is None:
            data = encode_picture(decoded.frame, fmt, *size)
            if len(decoded.pictures) >= MAX_PICTURES:
                decoded.pictures.pop(next(iter(decoded.pictures)))
            decoded.pictures[(fmt,) + size] = data
        self.decoded = decoded  # one reference swap: readers see the old or the new, both whole
        return data, decoded_now, decoded.frame

    # ---- periodic files
    def _periodic(self, cid: int) -> None:
        cid_var.set(cid)
        written = None
        while True:
            cfg = self.owner.config_of(self.url)
            gevent.sleep(cfg.interval if cfg is not None else 10.0)
            cfg = self.owner.config_of(self.url)
            key = self.keyframe
            if cfg is None or not cfg.enabled or key is None or key is written:
                continue
            try:
                path = self.owner.file_path(self.url, cfg.path)
                fmt = "png" if path.endswith(".png") else "jpg"
                data = self.picture(fmt, 0, 0)
                if data is not None:
                    self.owner.pool.apply(write_file_atomic, (os.path.join(self.owner.cwd, path), data))
                    written = key
            except PathOutsideRoot as e:
                log.error("snapshot file of %s refused: %s", show_name(self.url), e)
                return
            except (HttpError, OSError) as e:
                log.warning("snapshot file of %s failed: %s", show_name(self.url), e)


class Snapshots:
    """The server's snapshot service: the worker threads and the per-source outputs' owner."""

    def __init__(self, config: ConfigSource, sources: LiveSources, cwd: str, threads: int = THREADS,
                 max_pending: int = MAX_PENDING):
        self.config = config
        self.sources = sources
        self.cwd = cwd
        self.pool = ThreadPool(threads)
        self.max_pending = max_pending
        self.pending = 0
        self.decodes = 0   # keyframes decoded (tests count them: N clients, one decode)

    def config_of(self, url: str):
        vc = self.config().vhost(url.split("/", 1)[0])
        return vc.snapshot if vc is not None and vc.enabled else None

    def max_size(self, url: str) -> Tuple[int, int]:
        cfg = self.config_of(url)
        return (cfg.max_width, cfg.max_height) if cfg is not None else (1920, 1080)

    def file_path(self, url: str, template: str) -> str:
        vhost, app, stream = split_stream_url(url)
        root, rest = template_root(template)
        return confine(root, build_stream(rest, vhost, app, stream), self.cwd)

    def output_for(self, source, vhost: str) -> Optional[SnapshotOutput]:
        """The hub factory: every source of an enabled vhost keeps its latest keyframe."""
        return SnapshotOutput(self, source.url) if self.config_of(source.url) is not None else None

    def find(self, url: str) -> Optional[SnapshotOutput]:
        """The snapshot output of a live source, None when there is no such source (or vhost)."""
        src = self.sources.get(url)
        for out in list(src.hub) if src is not None else ():
            if isinstance(out, SnapshotOutput):
                return out
        return None

    def submit(self, fn, *args):
        """Run ``fn(*args)`` in a worker thread; SnapshotBusy when MAX_PENDING jobs are queued."""
        if self.pending >= self.max_pending:
            raise SnapshotBusy()
        self.pending += 1
        ensure_loaded(image.av)   # here, not racing in the pool's threads (core/lazy.py)
        job = self.pool.spawn(fn, *args)
        job.rawlink(self._done)
        return job

    def _done(self, _job) -> None:
        self.pending -= 1

    def stop(self) -> None:
        """Server stop (after the hub outputs were removed, which ended the periodic greenlets)."""
        self.pool.kill()
