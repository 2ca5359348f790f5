"""Transcode (SRS's SrsEncoder): one ffmpeg per enabled engine while a stream is published.

    vhost v { transcode live { enabled on; ffmpeg ./objs/ffmpeg/bin/ffmpeg;
              engine ff { enabled on; vcodec libx264; ... output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]; } } }

``make_hub_output(ports, connections, source, vhost)`` returns an ``Encoder`` hub output when an enabled
transcode scope matches the stream: the vhost (``transcode {}``), the app (``transcode live {}``)
or the stream (``transcode live/livestream {}``); all three may apply, as in SRS. On publish it
starts one supervised ffmpeg per enabled engine that plays ``rtmp://127.0.0.1:<port>/<app>?vhost=
<vhost>/<stream>`` and pushes to the engine's output; on unpublish they are stopped.

Loop guard: a stream whose app/stream matches the output pattern of any engine of the same vhost
(e.g. ``livestream_ff`` for ``[stream]_[engine]`` with engine ``ff``) is itself a transcode output
and is not transcoded again. ``on_reload``: a ``transcode`` change restarts the vhost's ffmpegs.
"""
from __future__ import annotations

import logging
import re
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from srs.app.ffmpeg.process import (FfmpegPorts, SupervisedProcess, ff_log_file, split_stream_url, substitute,
                                    transcode_argv)
from srs.app.live.source import LiveSource
from srs.app.ports import Connections, SourceDirectory
from srs.app.server.file_root import PathOutsideRoot, confined_argument, show_name
from srs.kernel.errors import ConfigError
from srs.protocol.request import Request

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]", "")

# what each variable of an output template may stand for, to recognise outputs
_VAR_PATTERNS = {"[stream]": ".+", "[app]": "[^/]+", "[param]": ".*", "[port]": r"\d+"}


def scoped_transcodes(vc, app: str, stream: str) -> List:
    """The enabled transcode blocks of scopes "", app and app/stream (the first block of each scope)."""
    found = []
    for scope in ("", app, app + "/" + stream):
        for t in vc.transcodes:
            if t.scope == scope:
                if t.enabled and any(e.enabled for e in t.engines):
                    found.append(t)
                break
    return found


def _split_output(url: str) -> Optional[Tuple[str, str, str, str]]:
    """``rtmp://host[:port]/app[?q]/stream[?q]`` -> (host, vhost, app, stream), templates kept."""
    if not url.startswith("rtmp://"):
        return None
    hostport, _, path = url[len("rtmp://"):].partition("/")
    host = hostport[:hostport.find("]") + 1] if hostport.startswith("[") else hostport.split(":")[0]
    app_part, _, stream_part = path.rpartition("/")
    app, _, app_query = app_part.partition("?")
    stream, _, stream_query = stream_part.partition("?")
    vhost = host
    for query in (app_query, stream_query):
        m = re.search(r"(?:^|[&?])vhost=([^&/]*)", query)
        if m:
            vhost = m.group(1)
    return host, vhost, app, stream


def _template_regex(template: str, engine: str) -> str:
    parts = re.split(r"(\[\w+\])", template.replace("[engine]", engine))
    return "".join(_VAR_PATTERNS.get(p, ".*") if re.fullmatch(r"\[\w+\]", p) else re.escape(p) for p in parts)


def is_transcode_output(config, vhost: str, app: str, stream: str) -> bool:
    """True when app/stream of this vhost is what one of the vhost's engines publishes."""
    vc = config.vhost(vhost)
    if vc is None:
        return False
    for t in vc.transcodes:
        if not t.enabled:
            continue
        for engine in t.engines:
            if not engine.enabled:
                continue
            parts = _split_output(engine.output)
            if parts is None:
                continue
            host, out_vhost, out_app, out_stream = parts
            host = host.replace("[vhost]", vc.name)
            out_vhost = out_vhost.replace("[vhost]", vc.name)
            if host not in LOCAL_HOSTS and host != vc.name:
                continue  # pushed to another server
            target = config.vhost(out_vhost)
            if target is None or target.name != vc.name:
                continue  # another vhost of ours: its own transcode decides
            if re.fullmatch(_template_regex(out_app, engine.name), app) and \
                    re.fullmatch(_template_regex(out_stream, engine.name), stream):
                return True
    return False


def publisher_request(connections: Connections, source: LiveSource) -> Optional[Request]:
    """The publishing client's Request (tcUrl, param...) when it is a connection we hold (an edge
    ingest or a caster publishes through our own listener: that connection is in the table too)."""
    conn = connections.get(source.publisher_cid) if source.publisher_cid is not None else None
    return conn.req if conn is not None else None


class ProcessOutput:
    """A hub output made of supervised processes that read the stream themselves (over RTMP):
    no message goes through us; they stop with the publish."""

    procs: List[SupervisedProcess]

    def on_message(self, msg) -> None:
        pass

    def on_unpublish(self, source) -> None:
        self.stop()

    def stop(self) -> None:
        procs, self.procs = self.procs, []
        for proc in procs:
            proc.stop()


class Encoder(ProcessOutput):
    """Hub output: the ffmpeg processes of one stream, alive while it is published."""

    def __init__(self, ports: FfmpegPorts, connections: Connections, vhost: str, app: str, stream: str,
                 transcodes: Sequence):
        self.ports = ports
        self.connections = connections
        self.vhost = vhost
        self.app = app
        self.stream = stream
        self.transcodes = list(transcodes)
        self.procs: List[SupervisedProcess] = []

    def __repr__(self) -> str:
        return "Encoder(%s/%s/%s, %d ffmpeg)" % (self.vhost, self.app, self.stream, len(self.procs))

    def shown(self) -> str:
        """vhost/app/stream for a log line (escaped, cut)."""
        return show_name("/".join((self.vhost, self.app, self.stream)))

    def _argvs(self, param: str) -> Iterable[Tuple[str, List[str]]]:
        ports = self.ports
        port = ports.rtmp_port()
        input_url = "rtmp://127.0.0.1:%d/%s?vhost=%s/%s" % (port, self.app, self.vhost, self.stream)
        level = ports.config().ff_log_level
        iparams = ["-loglevel", level] if level else []
        for t in self.transcodes:
            if not t.ffmpeg:
                log.warning("transcode %r of vhost %s: no ffmpeg, ignored", t.scope, self.vhost)
                continue
            ffmpeg = ports.children.pick_ffmpeg(t.ffmpeg, ports.cwd)
            for engine in t.engines:
                if not engine.enabled:
                    continue
                output = substitute(engine.output, vhost=self.vhost, port=port, app=self.app, stream=self.stream,
                                    param=param, engine=engine.name)
                try:  # an output file template (``-y ./[stream].flv``) must not leave its directory
                    argv = transcode_argv(ffmpeg, engine, input_url, confined_argument(engine.output, output), iparams)
                except (ConfigError, PathOutsideRoot) as e:
                    log.error("transcode %s engine %s ignored: %s", self.shown(), engine.name, e)
                    continue
                yield engine.name, argv

    def on_publish(self, source) -> None:
        self.stop()
        req = publisher_request(self.connections, source)
        param = req.param if req is not None else ""
        for name, argv in self._argvs(param):
            log_name = "ffmpeg-encoder-%s-%s-%s" % (self.vhost, self.app, self.stream) + ("-" + name if name else "")
            try:
                for arg in argv:  # the input URL carries the names too: a NUL would raise in Popen
                    confined_argument(arg, arg)
                log_file = ff_log_file(self.ports.config(), self.ports.cwd, log_name)
            except PathOutsideRoot as e:
                # the ffmpeg's input/output URLs carry the same names: do not start it
                log.error("transcode %s engine %r refused: %s", self.shown(), name, e)
                continue
            tag = "encoder(%s/%s/%s %s)" % (self.vhost, self.app, self.stream, name or "-")
            self.procs.append(self.ports.start(argv, log_file, tag))
        log.info("transcode %s/%s/%s: %d ffmpeg started", self.vhost, self.app, self.stream, len(self.procs))


def make_hub_output(ports: FfmpegPorts, connections: Connections, source: LiveSource,
                    vhost: str) -> Optional[Encoder]:
    """The hub factory (the Server binds ``ports`` and ``connections``)."""
    config = ports.config()
    vc = config.vhost(vhost)
    if vc is None or not vc.enabled or not vc.transcodes:
        return None
    _, app, stream = split_stream_url(source.url)
    found = scoped_transcodes(vc, app, stream)
    if not found:
        return None
    if is_transcode_output(config, vc.name, app, stream):
        log.info("transcode: %s is a transcode output, not transcoded again (loop guard)", source.url)
        return None
    return Encoder(ports, connections, vc.name, app, stream, found)


HubFactory = Callable[[LiveSource, str], Optional[ProcessOutput]]


def rebuild_hub_outputs(sources: SourceDirectory, vhosts: Iterable[str], cls: type, factory: HubFactory) -> int:
    """Replace the ``cls`` hub outputs of every source of ``vhosts`` by fresh ones from ``factory``
    (stopping the old children, starting new ones for published streams). Returns sources touched."""
    wanted = set(vhosts)
    touched = 0
    for src in list(sources.sources.values()):
        vhost = src.url.split("/", 1)[0]
        if vhost not in wanted:
            continue
        touched += 1
        for out in [o for o in src.hub if isinstance(o, cls)]:
            src.remove_hub_output(out)
        out = factory(src, vhost)
        if out is not None:
            src.add_hub_output(out)
    return touched


def reload_vhosts(changes, kind: str) -> set:
    """Vhosts whose ``kind`` outputs must be rebuilt: that directive changed, the vhost came or went,
    or the listen port changed (the URLs carry it)."""
    kinds = {c.kind for c in changes}
    vhosts = {c.vhost for c in changes if c.kind in (kind, "vhost_added", "vhost_removed")}
    if "listen" in kinds:
        vhosts.add("*")
    return vhosts


def on_reload(factory: HubFactory, sources: SourceDirectory, old, new, changes) -> None:
    """A reload handler (the Server binds its registered hub ``factory`` and ``sources``)."""
    vhosts = reload_vhosts(changes, "transcode")
    if "*" in vhosts:
        vhosts = {src.url.split("/", 1)[0] for src in sources.sources.values()}
    if vhosts:
        n = rebuild_hub_outputs(sources, vhosts, Encoder, factory)
        log.info("reload transcode of vhosts %s: %d sources", ",".join(sorted(vhosts)), n)
