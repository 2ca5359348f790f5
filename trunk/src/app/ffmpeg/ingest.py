"""Ingest (SRS's SrsIngester): ffmpeg pulls a file or stream and publishes it to this server.

    vhost v { ingest livestream { enabled on; input { type file; url ./doc/source.200kbps.768x320.flv; }
              ffmpeg ./objs/ffmpeg/bin/ffmpeg;
              engine { enabled off; output rtmp://127.0.0.1:[port]/live?vhost=[vhost]/livestream; } } }

Ingesters start with the server (not on publish): one supervised ffmpeg per engine of every enabled
ingest of every enabled vhost. ``type file`` adds ``-re`` before ``-i`` (read at native speed); a
file's ffmpeg exits at its end and is restarted 3 s later, so a file loops. A disabled engine (or
one without vcodec/acodec) copies. The log is ``ff_log_dir/ffmpeg-ingest-<vhost>-<id>.log``.
Reload: the config diff's ``ingest`` changes (added/removed/changed per id) start/stop/restart one
ingest; a vhost added/removed starts/stops all of its ingests; a new listen port restarts all.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Tuple

from srs.app.ffmpeg.process import (FfmpegPorts, SupervisedProcess, copy_argv, engine_is_copy, ff_log_file,
                                    substitute, transcode_argv)
from srs.app.server.file_root import PathOutsideRoot
from srs.kernel.errors import ConfigError

log = logging.getLogger(__name__)


def ingest_argvs(ports: FfmpegPorts, vhost: str, ingest) -> List[List[str]]:
    """The ffmpeg argv of each engine of ``ingest`` (IngestConfig); bad engines are logged, skipped."""
    if not ingest.ffmpeg:
        log.warning("ingest %s of vhost %s: no ffmpeg, ignored", ingest.id, vhost)
        return []
    if not ingest.input_url:
        log.error("ingest %s of vhost %s: empty input url, ignored", ingest.id, vhost)
        return []
    ffmpeg = ports.children.pick_ffmpeg(ingest.ffmpeg, ports.cwd)
    level = ports.config().ff_log_level
    iparams = ["-loglevel", level] if level else []
    if ingest.input_type == "file":
        iparams.append("-re")
    port = ports.rtmp_port()
    argvs = []
    for engine in ingest.engines:
        output = substitute(engine.output, vhost=vhost, port=port)
        try:
            if engine_is_copy(engine):
                argvs.append(copy_argv(ffmpeg, ingest.input_url, output, iparams))
            else:
                argvs.append(transcode_argv(ffmpeg, engine, ingest.input_url, output, iparams))
        except ConfigError as e:
            log.error("ingest %s of vhost %s: engine %s ignored: %s", ingest.id, vhost, engine.name, e)
    return argvs


class Ingester:
    """The processes of one ``ingest <id>`` block."""

    def __init__(self, ports: FfmpegPorts, vhost: str, ingest):
        self.ports = ports
        self.vhost = vhost
        self.ingest = ingest
        self.procs: List[SupervisedProcess] = []

    def start(self) -> None:
        try:
            log_file = ff_log_file(self.ports.config(), self.ports.cwd,
                                   "ffmpeg-ingest-%s-%s" % (self.vhost, self.ingest.id))
        except PathOutsideRoot as e:  # the names are the admin's here, checked as any other
            log.error("ingest %r of vhost %r refused: %s", self.ingest.id, self.vhost, e)
            return
        for argv in ingest_argvs(self.ports, self.vhost, self.ingest):
            self.procs.append(self.ports.start(argv, log_file, "ingest(%s %s)" % (self.vhost, self.ingest.id)))
        log.info("ingest %s of vhost %s: %d ffmpeg started", self.ingest.id, self.vhost, len(self.procs))

    def stop(self) -> None:
        procs, self.procs = self.procs, []
        for proc in procs:
            proc.stop()


class IngestManager:
    """All ingesters of the server, keyed by (vhost, ingest id)."""

    def __init__(self, ports: FfmpegPorts):
        self.ports = ports
        self.ingesters: Dict[Tuple[str, str], Ingester] = {}

    def start(self) -> None:
        for vc in self.ports.config().vhosts:
            if vc.enabled:
                self._start_vhost(vc)

    def stop(self) -> None:
        for key in list(self.ingesters):
            self._stop(key)

    def _start_vhost(self, vc) -> None:
        for ingest in vc.ingests:
            if ingest.enabled:
                self._start(vc.name, ingest)

    def _start(self, vhost: str, ingest) -> None:
        key = (vhost, ingest.id)
        self._stop(key)
        ingester = Ingester(self.ports, vhost, ingest)
        self.ingesters[key] = ingester
        ingester.start()

    def _stop(self, key: Tuple[str, str]) -> None:
        ingester = self.ingesters.pop(key, None)
        if ingester is not None:
            ingester.stop()
            log.info("ingest %s of vhost %s stopped", key[1], key[0])

    def on_reload(self, old, new, changes) -> None:
        if "listen" in {c.kind for c in changes}:
            self.stop()
            self.start()
            return
        for c in changes:
            kind = c.kind
            if kind == "vhost_removed":
                for key in [k for k in self.ingesters if k[0] == c.vhost]:
                    self._stop(key)
            elif kind == "vhost_added":
                vc = new.vhost(c.vhost)
                if vc is not None and vc.name == c.vhost:
                    self._start_vhost(vc)
            elif kind == "ingest":
                if c.detail == "removed":
                    self._stop((c.vhost, c.ingest_id))
                    continue
                vc = new.vhost(c.vhost)
                ingest = vc.ingest(c.ingest_id) if vc is not None else None
                if ingest is not None and ingest.enabled:
                    self._start(c.vhost, ingest)  # added, or changed: restart with the new settings
