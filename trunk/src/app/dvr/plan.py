"""DVR: record a live stream to FLV (or MP4, SRS 3) files, as SRS's srs_app_dvr.cpp.

A hub output of the source (see srs.app.live.source): it sees every message of the publisher with
its original timestamps and writes them, corrected by the dvr block's ``time_jitter``, to files:

- ``session``: one file per publish, closed on unpublish;
- ``segment``: also a new file whenever the current one reaches ``dvr_duration`` (at a video
  keyframe when ``dvr_wait_keyframe``); every file starts with the metadata and sequence headers;
- ``append`` (SRS 2): one file; an existing one is reopened and the timestamps continue from
  its last tag. It is written in place (no .tmp) and its metadata refreshed every 60 s.

Any plan reopens an existing target file for append, as SRS 2 does (SRS 3 refuses; so does the
mp4 writer, which cannot append). Each file closed fires ``on_dvr`` (async) when the vhost's
http_hooks are enabled.

Recording never breaks the publisher: an error (disk full, unwritable path, a bug) is logged,
the file is abandoned and recording stops until the next publish.

Wiring (the Server does it, with its own parts)::

    registry.hub_factories.append(functools.partial(make_hub_output, config=..., clock=...,
                                                    hooks=..., clients=..., cwd=...))
"""
from __future__ import annotations

import logging
import os

from srs.app.dvr.flv import FlvSegment
from srs.app.ports import ClientDirectory, Clock, ConfigSource, HookCaller
from srs.app.server.file_root import PathOutsideRoot, confine, show_name, template_root
from srs.kernel import log as srslog
from srs.kernel.errors import SrsError
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.path_template import build_stream, build_timestamp
from srs.protocol.request import Request, split_stream_url

log = logging.getLogger(__name__)

# SRS's jitter constants (srs_app_source.cpp): a jump beyond +-250 ms counts as one 10 ms frame.
MAX_JITTER_MS = 250
DEFAULT_FRAME_TIME_MS = 10
# The append plan patches the metadata this often (media time), as SRS 2.
APPEND_REFRESH_MS = 60_000
PLANS = ("session", "segment", "append")


# ---------------------------------------------------------------------------------- config helpers

def dvr_applies(apply, app: str, stream: str) -> bool:
    """SRS's ``srs_config_apply_filter``: empty or ``all`` = every stream, else ``app/stream`` ids."""
    apply = tuple(apply or ())
    if not apply or apply == ("all",):
        return True
    return f"{app}/{stream}" in apply


def file_template(template: str) -> str:
    """A ``dvr_path`` not ending in ``.flv``/``.mp4`` is a directory: ``/[stream].[timestamp].flv`` is added."""
    if not template.endswith((".flv", ".mp4")):
        template = template.rstrip("/") + "/[stream].[timestamp].flv"
    return template


def build_path(template: str, vhost: str, app: str, stream: str, now_ms: int) -> str:
    """The file path for ``dvr_path`` at ``now_ms`` (local time, as SRS)."""
    return build_timestamp(build_stream(file_template(template), vhost, app, stream), now_ms, utc=False)


def confined_path(template: str, vhost: str, app: str, stream: str, now_ms: int, cwd: str) -> str:
    """build_path, kept inside the template's root: its directory part before the first ``[``
    (raises PathOutsideRoot before anything is created)."""
    root, rest = template_root(file_template(template))
    return confine(root, build_path(rest, vhost, app, stream, now_ms), cwd)


class Jitter:
    """SRS's SrsRtmpJitter for the file timeline: ``full`` (monotonic from 0, jumps become
    10 ms), ``zero`` (subtract the first timestamp) or ``off`` (as received)."""

    __slots__ = ("mode", "last_raw", "last_ts", "first")

    def __init__(self, mode: str):
        self.mode = mode
        self.last_raw = None
        self.last_ts = 0
        self.first = None

    def correct(self, raw: int) -> int:
        if self.mode == "off":
            return raw
        if self.mode == "zero":
            if self.first is None:
                self.first = raw
            return max(0, raw - self.first)
        delta = 0 if self.last_raw is None else raw - self.last_raw
        if delta < -MAX_JITTER_MS or delta > MAX_JITTER_MS:
            delta = DEFAULT_FRAME_TIME_MS
        self.last_raw = raw
        self.last_ts = max(0, self.last_ts + delta)
        return self.last_ts


# ---------------------------------------------------------------------------------- the hub output

class Dvr:
    """The DVR of one source (one hub output); plans as SRS's SrsDvr*Plan. ``clients`` tells the
    publisher's ip and tcUrl for on_dvr; paths are relative to ``cwd`` (the server's)."""

    def __init__(self, source, vhost: str, *, config: ConfigSource, clock: Clock, hooks: HookCaller,
                 clients: ClientDirectory, cwd: str):
        self.config = config
        self.clock = clock
        self.hooks = hooks
        self.clients = clients
        self.cwd = cwd
        self.source = source
        self.vhost = vhost
        self.active = False
        self.cfg = None
        self.cid = 0
        self.segment = None          # FlvSegment | Mp4Segment while recording
        self.jitter: Jitter | None = None
        self.shift = None            # added to corrected timestamps (continuing an existing file)
        self.last_refresh_ts = 0
        self.meta: Message | None = None
        self.video_sh: Message | None = None
        self.audio_sh: Message | None = None
        self.files: list = []        # paths closed so far (tests, API)

    def __repr__(self) -> str:
        return f"Dvr({self.source.url})"

    # ------------------------------------------------------------------ hub contract
    def on_publish(self, source) -> None:
        self._close_quietly()
        self.meta = self.video_sh = self.audio_sh = None
        vc = self.config().vhost(self.vhost)
        cfg = vc.dvr if vc is not None else None
        _, app, stream = split_stream_url(source.url)
        self.active = bool(cfg is not None and cfg.enabled and dvr_applies(cfg.apply, app, stream)
                           and cfg.plan in PLANS)
        if not self.active:
            return
        self.cfg = cfg
        self.cid = source.publisher_cid or srslog.get_cid()
        self._guard(self._open_segment)

    def on_message(self, msg: Message) -> None:
        if self.active:
            self._guard(self._on_message, msg)

    def on_unpublish(self, source) -> None:
        if self.active:
            self._guard(self._close_segment)
        self.active = False

    # ------------------------------------------------------------------ plans
    def _on_message(self, msg: Message) -> None:
        kind = msg.kind
        if kind == MSG_AMF0_DATA:
            self.meta = msg
            seg = self.segment
            if seg is not None and seg.fresh and not seg.has_metadata:
                last = seg.last_ts
                seg.write_metadata(msg, 0 if last is None else last)
            return
        if kind != MSG_VIDEO and kind != MSG_AUDIO:
            return
        if msg.seq_header:
            if kind == MSG_VIDEO:
                self.video_sh = msg
            else:
                self.audio_sh = msg
        seg = self.segment
        if seg is None:
            return
        video_key = kind == MSG_VIDEO and msg.keyframe and not msg.seq_header
        cfg = self.cfg
        if (cfg.wait_keyframe and kind == MSG_VIDEO and not msg.seq_header and not video_key
                and not seg.has_keyframe):
            return  # a file starts at a keyframe
        ts = self._file_ts(msg.ts_ms)
        if (cfg.plan == "segment" and not msg.seq_header and seg.first_ts is not None and cfg.duration > 0
                and ts - seg.first_ts >= cfg.duration * 1000 and (video_key or not cfg.wait_keyframe)):
            self._close_segment()
            self._open_segment()
            seg = self.segment
            ts = self._file_ts(msg.ts_ms)
        seg.write(msg, ts)
        if cfg.plan == "append" and ts - self.last_refresh_ts >= APPEND_REFRESH_MS:
            self.last_refresh_ts = ts
            seg.refresh_metadata()

    def _file_ts(self, raw: int, header: bool = False) -> int:
        ts = 0 if header else self.jitter.correct(raw)
        if self.shift is None:
            seg = self.segment
            # Continue after the last tag of a reopened file (one default frame later).
            self.shift = 0 if seg.last_ts is None else seg.last_ts + DEFAULT_FRAME_TIME_MS - ts
        return (ts + self.shift) & 0xFFFFFFFF

    def _open_segment(self) -> None:
        cfg = self.cfg
        vhost, app, stream = split_stream_url(self.source.url)
        path = confined_path(cfg.path, vhost, app, stream, self.clock(), self.cwd)
        fs_path = os.path.join(self.cwd, path)
        mp4 = path.endswith(".mp4")
        if mp4 and cfg.plan == "append":
            log.warning("dvr: mp4 cannot be appended to; %s is recorded per session", path)
        if mp4:
            from srs.app.dvr.mp4 import Mp4Segment  # PyAV is loaded only by servers recording mp4
            seg = Mp4Segment(path, fs_path)
        else:
            seg = FlvSegment(path, fs_path, use_tmp=cfg.plan != "append")
        seg.open()
        self.segment = seg
        self.jitter = Jitter(cfg.time_jitter)
        self.shift = None
        self.last_refresh_ts = 0 if seg.last_ts is None else seg.last_ts
        srslog.trace(log, "dvr stream %s to file %s", stream, path)
        # Every file starts playable on its own: metadata and sequence headers first.
        if self.meta is not None and seg.fresh:
            seg.write_metadata(self.meta, 0)
        for sh in (self.video_sh, self.audio_sh):
            if sh is not None:
                seg.write(sh, self._file_ts(sh.ts_ms, header=True))

    def _close_segment(self) -> None:
        seg, self.segment = self.segment, None
        if seg is None:
            return
        if seg.close():
            self.files.append(seg.path)
            srslog.trace(log, "dvr: closed %s, duration=%dms", seg.path, seg.duration_ms)
            self._on_dvr(seg.path)

    def _close_quietly(self) -> None:
        if self.segment is not None:
            self._guard(self._close_segment)

    # ------------------------------------------------------------------ errors and hooks
    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # the publisher must never see a DVR failure
            seg, self.segment = self.segment, None
            if seg is not None:
                seg.abort()
            self.active = False
            if isinstance(e, PathOutsideRoot):
                log.error("dvr: recording of %s refused: %s", show_name(self.source.url), e)
            elif isinstance(e, (OSError, SrsError)):
                log.error("dvr: recording of %s stopped: %s", self.source.url, e)
            else:
                log.exception("dvr: recording of %s stopped", self.source.url)

    def _on_dvr(self, path: str) -> None:
        vc = self.config().vhost(self.vhost)
        hooks = vc.http_hooks if vc is not None else None
        if hooks is None or not hooks.enabled or not hooks.on_dvr:
            return
        vhost, app, stream = split_stream_url(self.source.url)
        ip = tc_url = ""
        client = self.clients.find_client(self.cid)
        if client is not None:
            ip, tc_url = client.ip, client.tc_url
        req = Request(ip=ip)
        req.tc_url, req.vhost, req.app, req.stream = tc_url, vhost, app, stream
        self.hooks.on_dvr(list(hooks.on_dvr), req, self.cid, ip, path, cwd=self.cwd)


def make_hub_output(source, vhost: str, *, config: ConfigSource, clock: Clock, hooks: HookCaller,
                    clients: ClientDirectory, cwd: str):
    """Hub factory: a Dvr for ``source`` when the vhost records it, else None."""
    vc = config().vhost(vhost)
    if vc is None or not vc.dvr.enabled:
        return None
    _, app, stream = split_stream_url(source.url)
    if not dvr_applies(vc.dvr.apply, app, stream):
        return None
    return Dvr(source, vhost, config=config, clock=clock, hooks=hooks, clients=clients, cwd=cwd)
