"""The ABR ladder of a published stream: a supervised worker process, the HLS master playlist and the
DASH master MPD.

    vhost v { hls { enabled on; } abr { enabled on; rendition 480p { height 480; vbitrate 1000; } } }

``make_hub_output(ports, sources, source, vhost)`` gives every source of a vhost with ``abr`` enabled
an ``AbrLadder`` (unless the stream is itself a rendition: ``<stream>_<name>`` of one of the
vhost's renditions, the loop guard). On publish the ladder starts ONE child process,
``python -m srs.app.abr.worker <spec>`` (app/abr/worker.py: one decode, N x264 encodes, each
published back over RTMP to our own listener as ``<stream>_<name>``), so every rendition is a normal
live stream: RTMP, HTTP-FLV, HLS, DVR... as the vhost says. On unpublish the worker is stopped.

Supervision is the transcode children's (app/ffmpeg/process.py: own session, parent-death signal,
reaped, stopped with the server), with two differences: the worker's stderr is read by a greenlet
and logged line by line with the worker's cid (no separate log file), and a worker that keeps
failing is restarted after a doubling delay (RESTART_S .. BACKOFF_MAX_S), reset after it ran
STABLE_S seconds.

The master playlist (``abr.master``, default ``[app]/[stream]_abr.m3u8``, below the vhost's
``hls_path``; not ``[stream].m3u8``, which is the source's own HLS) lists the renditions whose
sequence headers have arrived, in the configured order, with RESOLUTION/CODECS from those headers.
A greenlet of the ladder checks once a second while published and rewrites it when it changes;
it stays after the unpublish, as the variant playlists do. No master is written while the vhost's
HLS is off (the renditions still play over RTMP/HTTP-FLV). Likewise the DASH master
(``abr.dash_master``, default ``[app]/[stream]_abr.mpd`` below ``dash_path``, app/abr/dash_master.py)
while the vhost's DASH is on.
"""
from __future__ import annotations

import json
import logging
import posixpath
import sys
import time
from typing import List, Optional

import gevent
from gevent import subprocess

from srs.app.abr.dash_master import dash_master
from srs.app.abr.master import (COPIED_AUDIO_KBPS, TS_OVERHEAD, PeakRate, Variant, audio_codecs, bandwidth_bps,
                                render_master, video_codecs)
from srs.app.ffmpeg.process import FfmpegPorts, SupervisedProcess, _set_pdeathsig, split_stream_url
from srs.app.ffmpeg.transcode import ProcessOutput, rebuild_hub_outputs, reload_vhosts
from srs.app.live.source import LiveSource
from srs.app.ports import LiveSources, SourceDirectory
from srs.app.server.file_root import PathOutsideRoot, confine, confined_argument, show_name, write_file_atomic
from srs.kernel.log import cid_var
from srs.kernel.path_template import build_stream

log = logging.getLogger(__name__)

WORKER_MODULE = "srs.app.abr.worker"
RESTART_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_S = 30.0       # a worker that ran this long failed for a new reason: back to RESTART_S
MASTER_CHECK_S = 1.0
LINE_MAX = 1024       # a worker's stderr line longer than this is cut (the log stays readable)


class WorkerProcess(SupervisedProcess):
    """A SupervisedProcess whose stderr goes to our log (with its cid) and whose restarts back off."""

    def __init__(self, argv: List[str], *, children, tag: str, cwd: str, cid: int):
        super().__init__(argv, "", children=children, tag=tag, cwd=cwd, cid=cid, restart_s=RESTART_S)
        self.started_at = 0.0
        self.failures = 0

    def _spawn(self):
        proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, cwd=self.cwd, start_new_session=True,
                                preexec_fn=_set_pdeathsig, close_fds=True)
        self.started_at = time.monotonic()
        gevent.spawn(self._relay, proc.stderr)
        return proc

    def _relay(self, pipe) -> None:
        """Each stderr line of the worker as one log line with its cid, until the pipe closes."""
        cid_var.set(self.cid)
        try:
            while True:
                line = pipe.readline(LINE_MAX)
                if not line:
                    break
                log.info("%s: %s", self.tag, line.decode("utf-8", "replace").rstrip())
        finally:
            pipe.close()

    def restart_delay(self) -> float:
        if time.monotonic() - self.started_at >= STABLE_S:
            self.failures = 0
        self.failures += 1
        return min(RESTART_S * 2 ** (self.failures - 1), BACKOFF_MAX_S)


SOURCE = "source"  # ``abr { source on; }``: the worker's copy of the source, <stream>_source (a reserved name)


def rendition_stream(stream: str, name: str) -> str:
    return "%s_%s" % (stream, name)


def is_rendition(abr, stream: str) -> bool:
    """The loop guard: ``stream`` is what one of the renditions (or the source copy) publishes."""
    names = [r.name for r in abr.renditions] + ([SOURCE] if abr.source else [])
    return any(stream.endswith("_" + n) and len(stream) > len(n) + 1 for n in names)


class AbrLadder(ProcessOutput):
    """Hub output: the worker of one stream while it is published, and its master playlist."""

    def __init__(self, ports: FfmpegPorts, sources: LiveSources, vhost: str, app: str, stream: str):
        self.ports = ports
        self.sources = sources
        self.vhost, self.app, self.stream = vhost, app, stream
        self.procs: List[SupervisedProcess] = []
        self.master_greenlet = None
        self.written = {}    # kind -> the master text last written
        self.rate = PeakRate()  # of the source, for ``abr { source on; }``

    def __repr__(self) -> str:
        return "AbrLadder(%s)" % self.shown()

    def shown(self) -> str:
        return show_name("/".join((self.vhost, self.app, self.stream)))

    def _abr(self):
        vc = self.ports.config().vhost(self.vhost)
        return vc if vc is not None and vc.enabled and vc.abr.enabled else None

    def worker_argv(self, abr) -> List[str]:
        port = self.ports.rtmp_port()
        base = "rtmp://127.0.0.1:%d/%s?vhost=%s/" % (port, self.app, self.vhost)
        spec = {"input": base + self.stream, "preset": abr.preset, "renditions": [
            {"name": r.name, "width": r.width, "height": r.height, "vbitrate": r.vbitrate, "abitrate": r.abitrate,
             "url": base + rendition_stream(self.stream, r.name)} for r in abr.renditions]}
        if abr.source:
            spec["source"] = base + rendition_stream(self.stream, SOURCE)
        text = json.dumps(spec)
        confined_argument(text, text)  # no NUL in a program argument (names were checked at the publish)
        return [sys.executable, "-m", WORKER_MODULE, text]

    def on_publish(self, source) -> None:
        self.stop()
        vc = self._abr()
        if vc is None or not vc.abr.renditions:
            return
        try:
            argv = self.worker_argv(vc.abr)
        except PathOutsideRoot as e:
            log.error("abr %s refused: %s", self.shown(), e)
            return
        tag = "abr(%s/%s/%s)" % (self.vhost, self.app, self.stream)
        proc = WorkerProcess(argv, children=self.ports.children, tag=tag, cwd=self.ports.cwd,
                             cid=self.ports.next_cid())
        proc.start()
        self.procs = [proc]
        self.written = {}    # kind -> the master text last written
        self.master_greenlet = gevent.spawn(self._master_loop, cid_var.get())
        log.info("abr %s: worker started (cid=%d), renditions %s", self.shown(), proc.cid,
                 ",".join(r.name for r in vc.abr.renditions))

    def on_message(self, msg) -> None:
        self.rate.add(msg)  # a few additions per message, in the publisher's greenlet

    def stop(self) -> None:
        super().stop()
        g, self.master_greenlet = self.master_greenlet, None
        if g is not None and g is not gevent.getcurrent():
            g.kill(block=False)

    # ---- the master playlist
    def master(self) -> Optional[tuple]:
        """(path on disk, playlist bytes) with the renditions ready so far (and first the source, with
        ``abr { source on; }``, once its peak rate is measured); None when HLS is off or none is ready."""
        vc = self._abr()
        if vc is None or not vc.hls.enabled:
            return None
        master_url = build_stream(vc.abr.master, vc.name, self.app, self.stream)
        master_dir = posixpath.dirname(master_url) or "."
        vbps, abps = self.rate.peak()
        listed = []
        if vc.abr.source and vbps:  # the source copy: its measured peak
            listed.append((rendition_stream(self.stream, SOURCE), lambda audio: int((vbps + abps) * TS_OVERHEAD)))
        listed += [(rendition_stream(self.stream, r.name),
                    lambda audio, r=r: bandwidth_bps(r.vbitrate, r.abitrate, bool(audio))) for r in vc.abr.renditions]
        variants = []
        for name, bandwidth in listed:
            src = self.sources.get("%s/%s/%s" % (self.vhost, self.app, name))
            video = video_codecs(src.video_sh) if src is not None and src.video_sh is not None else None
            if video is None:
                continue  # not ready yet (or, for the source copy, not H.264)
            codec, width, height = video
            audio = audio_codecs(src.audio_sh)
            uri = posixpath.relpath(build_stream(vc.hls.hls_m3u8_file, vc.name, self.app, name), master_dir)
            variants.append(Variant(uri, bandwidth(audio), width, height, ",".join(c for c in (codec, audio) if c)))
        if not variants:
            return None
        return confine(vc.hls.hls_path, master_url, self.ports.cwd), render_master(variants)

    def dash_master(self) -> Optional[tuple]:
        """(path on disk, MPD bytes) of the renditions' DASH windows (app/abr/dash_master.py)."""
        vc = self._abr()
        if vc is None:
            return None
        entries = [(r.name, rendition_stream(self.stream, r.name), r.vbitrate * 1000,
                    (r.abitrate or COPIED_AUDIO_KBPS) * 1000) for r in vc.abr.renditions]
        vbps, abps = self.rate.peak()
        if vc.abr.source and vbps:
            entries.insert(0, (SOURCE, rendition_stream(self.stream, SOURCE), vbps, abps))
        return dash_master(vc, self.sources, self.app, self.stream, entries, self.ports.cwd)

    def _master_loop(self, cid: int) -> None:
        """Rewrites each master (HLS, DASH) when its text changes; a master whose name leaves its
        root is given up for this publish, one log line."""
        cid_var.set(cid)
        makers = {"playlist": self.master, "mpd": self.dash_master}
        while makers:
            gevent.sleep(MASTER_CHECK_S)
            for kind, make in list(makers.items()):
                try:
                    found = make()
                    if found is None or found[1] == self.written.get(kind):
                        continue
                    path, text = found
                    write_file_atomic(path if posixpath.isabs(path) else posixpath.join(self.ports.cwd, path), text)
                    self.written[kind] = text
                    log.info("abr %s: master %s %s, %d variants", self.shown(), kind, path,
                             text.count(b"#EXT-X-STREAM-INF") + text.count(b"<Representation "))
                except PathOutsideRoot as e:
                    log.error("abr %s: no master %s: %s", self.shown(), kind, e)
                    del makers[kind]
                except OSError as e:
                    log.warning("abr %s: master %s not written: %s", self.shown(), kind, e)


def make_hub_output(ports: FfmpegPorts, sources: LiveSources, source: LiveSource, vhost: str) -> Optional[AbrLadder]:
    """The hub factory (the Server binds ``ports`` and ``sources``)."""
    vc = ports.config().vhost(vhost)
    if vc is None or not vc.enabled or not vc.abr.enabled or not vc.abr.renditions:
        return None
    _, app, stream = split_stream_url(source.url)
    if is_rendition(vc.abr, stream):
        return None  # a rendition is not laddered again
    return AbrLadder(ports, sources, vc.name, app, stream)


def on_reload(factory, sources: SourceDirectory, old, new, changes) -> None:
    """A reload handler: a changed ``abr`` (or listen port) restarts the ladders of the vhost."""
    vhosts = reload_vhosts(changes, "abr")
    if "*" in vhosts:
        vhosts = {src.url.split("/", 1)[0] for src in sources.sources.values()}
    if vhosts:
        n = rebuild_hub_outputs(sources, vhosts, AbrLadder, factory)
        log.info("reload abr of vhosts %s: %d sources", ",".join(sorted(vhosts)), n)
