"""The HTTP API (``http_api {}``, port 1985): SRS's /api/v1 endpoints as a bottle app, in SRS 5's shapes
(every answer: code, server, service, pid as strings; ids as strings) with SRS 3's fields kept.

The server serves an ``ApiApp`` with gevent.pywsgi. The app takes what it reads (app.ports):
the running ``config`` (only ``http_api.crossdomain`` and ``http_api.raw_api``, at every request, so a
reload takes effect at once), the ``statistic``, a ``clock``, the ``process`` identity, a ``reload``
entry (raises ConfigError on a bad file), the connection ``gate`` and the live ``sources`` (for
/api/v1/clusters; None: no stream is ever here).

As SRS: every answer is HTTP 200 JSON with ``code`` (0 = ok; 2014/2048/2049 for an unknown vhost,
stream or client); unknown paths are HTTP 404, a known path with the wrong method HTTP 405.
``?callback=fn`` turns the body into JSONP ``fn({...})`` (text/javascript); ``?method=DELETE`` (or
GET/POST/PUT) overrides the HTTP method so JSONP can kick clients. With ``crossdomain on``, CORS
headers go on answers to requests with an Origin header and OPTIONS answers 200; off, OPTIONS is 405.

SRS 5's ``http_api { auth { enabled on; username; password; } }``: after CORS (a preflight OPTIONS
carries no credentials), every request needs HTTP Basic credentials equal to the configured ones
(compared in constant time), else 401 with ``WWW-Authenticate`` and no body. SRS checks paths with
``/api/``; here every route is checked (the raw API and kicks included) but ``/metrics``, which SRS 5
serves unauthenticated (its exporter) and scrapers read without credentials.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import parse_qs

import bottle

from srs.app.api import console
from srs.app.api.statistic import Statistic
from srs.app.api.system import SystemStats
from srs.app.cluster.coworkers import origin_info
from srs.app.ports import Clock, ConfigSource, ConnectionCounts, SourceDirectory
from srs.core import version
from srs.kernel import log as srslog
from srs.kernel.errors import (ERROR_RTMP_CLIENT_NOT_FOUND, ERROR_RTMP_STREAM_NOT_FOUND, ERROR_RTMP_VHOST_NOT_FOUND,
                               ERROR_SUCCESS, ERROR_SYSTEM_CONFIG_RAW, ERROR_SYSTEM_CONFIG_RAW_DISABLED,
                               ERROR_SYSTEM_CONFIG_RAW_NOT_ALLOWED, SrsError)

log = logging.getLogger(__name__)

# \Z, not $: "$" also matches before a trailing newline, which let "f\n" through as a callback
JSONP_CALLBACK = re.compile(r"\A[A-Za-z0-9_.]+\Z")
OVERRIDE_METHODS = ("GET", "POST", "PUT", "DELETE")
# Ids that come from the URL. A client id is its connection id (digits); stream and vhost ids are
# ``vid-<n>-<r>``. A well-formed id that matches nothing is SRS's HTTP 200 with code 2048/2049/2014;
# a malformed one (other characters, oversized) is HTTP 400 with the same code, logged once.
CLIENT_ID = re.compile(r"\A[0-9]{1,18}\Z")
OBJECT_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, OPTIONS"),
    ("Access-Control-Expose-Headers", "Server,range,Content-Length,Content-Range,Location"),  # Location: WHIP/WHEP
    ("Access-Control-Allow-Headers", "origin,range,accept-encoding,referer,Cache-Control,X-Proxy-Authorization,"
                                     "X-Requested-With,Content-Type"),
]
# No API request needs more body than this (raw?rpc=update values are short); larger -> 413 + close.
MAX_BODY_BYTES = 1024 * 1024
# Paths outside http_api.auth (SRS 5 serves its Prometheus exporter unauthenticated).
AUTH_EXEMPT_PATHS = ("/metrics",)
AUTH_CHALLENGE = ("WWW-Authenticate", 'Basic realm="SRS"')
# SRS's answer to /api/v1/clients lists at least this many clients.
MIN_CLIENTS_COUNT = 10
FEATURES = {
    "ssl": True, "hls": True, "hds": False, "callback": True, "api": True, "httpd": True, "dvr": True,
    "transcode": True, "ingest": True, "stat": True, "caster": True, "complex_send": True,
    "tcp_nodelay": True, "so_sendbuf": True, "mr": True,
}
V1_URLS = {
    "versions": "the version of SRS",
    "summaries": "the summary(pid, argv, pwd, cpu, mem) of SRS",
    "rusages": "the rusage of SRS",
    "self_proc_stats": "the self process stats",
    "system_proc_stats": "the system process stats",
    "meminfos": "the meminfo of system",
    "authors": "the license, copyright, authors and contributors",
    "features": "the supported features of SRS",
    "requests": "the request itself, for http debug",
    "vhosts": "manage all vhosts or specified vhost",
    "streams": "manage all streams or specified stream",
    "clients": "manage all clients or specified client, default query top 10 clients",
    "raw": "raw api for srs, support CUID srs for instance the config",
    "clusters": "origin cluster server API",
    "metrics": "prometheus metrics (at /metrics)",
}
V1_TESTS = {
    "requests": "show the request info",
    "errors": "always return an error 100",
    "redirects": "always redirect to /api/v1/tests/errors",
}


def _json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _int(text: str, default: int = 0) -> int:
    """C atoi: leading digits, else the default."""
    m = re.match(r"\s*([+-]?\d+)", text or "")
    return int(m.group(1)) if m else default


def _prom_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def basic_auth_ok(header: str, username: str, password: str) -> bool:
    """``Authorization: Basic base64(user:pass)`` equal to ``username``/``password``, compared in
    constant time (a wrong guess takes as long whatever prefix it shares)."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, pwd = decoded.partition(b":")
    if not sep:
        return False
    user_ok = hmac.compare_digest(user, username.encode())
    pwd_ok = hmac.compare_digest(pwd, password.encode())
    return user_ok and pwd_ok


@dataclass(frozen=True)
class ProcessInfo:
    """Who this server process is; fixed at start (summaries, metrics, every answer's ``server``)."""

    server_id: str
    pid: int
    argv: str          # the command line, joined by spaces
    cwd: str
    start_time_ms: int
    service_id: str = ""  # SRS 5: 8 random characters, new at each start

    def identity(self) -> dict:
        """What SRS 5 puts in every answer after ``code``: server and service ids, the pid as a string."""
        return {"server": self.server_id, "service": self.service_id, "pid": str(self.pid)}


class Summaries:
    """The ``data`` of /api/v1/summaries; the heartbeat sends the same object (``summaries on``)."""

    def __init__(self, process: ProcessInfo, statistic: Statistic, clock: Clock, gate: ConnectionCounts,
                 system: SystemStats):
        self.process = process
        self.statistic = statistic
        self.clock = clock
        self.gate = gate
        self.system = system

    def __call__(self) -> dict:
        p, stat, gate = self.process, self.statistic, self.gate
        # conn_srs: every TCP connection of the process (RTMP, HTTP, API, TCP casters), as SRS
        data = self.system.summaries(self.clock(), p.start_time_ms, p.pid, p.argv, p.cwd, stat.kbps.recv_bytes,
                                     stat.kbps.send_bytes, gate.active, version.VERSION)
        # ours, not SRS's: max_connections and the clients it refused
        data["system"]["conn_srs_max"] = gate.limit
        data["system"]["conn_srs_refused"] = gate.refused
        return data


def _skip_body_drain(environ) -> None:
    """gevent.pywsgi reads and drops an unread body after the answer (to keep the connection
    alive); for a refused huge body we close instead, so tell its input there is nothing left."""
    inp = environ.get("wsgi.input")
    if inp is not None and hasattr(inp, "content_length") and hasattr(inp, "position"):
        try:
            inp.content_length = inp.position
            if hasattr(inp, "chunked_input"):
                inp.chunked_input = False
        except AttributeError:  # another WSGI server: it drains or closes on its own
            pass


class ApiApp(bottle.Bottle):
    """The bottle app plus a WSGI front that does what bottle's router cannot: method override,
    JSONP callback validation, OPTIONS/CORS and the ``Server`` header on every answer."""

    def __init__(self, *, config: ConfigSource, statistic: Statistic, clock: Clock, process: ProcessInfo,
                 reload: Callable[[], None], gate: ConnectionCounts, sources: Optional[SourceDirectory] = None):
        super().__init__(catchall=True)  # handlers return text: JSON/JSONP is made by _reply
        self.current_config = config  # not "config": bottle.Bottle has its own
        self.statistic = statistic
        self.clock = clock
        self.process = process
        self.reload_config = reload
        self.gate = gate
        self.sources = sources
        self.system = SystemStats()
        self.summaries_data = Summaries(process, statistic, clock, gate, self.system)
        self._routes()
        for status in (400, 404, 405, 500):
            self.error(status)(self._error)

    # --- WSGI front
    def wsgi(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        cors = self.current_config().http_api.crossdomain
        extra = [("Server", version.SIGNATURE)]
        if cors and environ.get("HTTP_ORIGIN"):
            extra += CORS_HEADERS

        def start(status, headers, exc_info=None):
            names = {k.lower() for k, _ in headers}
            return start_response(status, headers + [(k, v) for k, v in extra if k.lower() not in names], exc_info)

        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "OPTIONS":
            if not cors:
                return self._raw(start, "405 Method Not Allowed", {"code": 405})
            return self._raw(start, "200 OK", b"", CORS_HEADERS)
        if _int(environ.get("CONTENT_LENGTH", ""), 0) > MAX_BODY_BYTES or (
                "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
            log.warning("http api: reject body of %s bytes (max %d)", environ.get("CONTENT_LENGTH") or "chunked",
                        MAX_BODY_BYTES)
            _skip_body_drain(environ)
            return self._raw(start, "413 Request Entity Too Large", {"code": 413}, [("Connection", "close")])
        auth = self.current_config().http_api.auth
        if auth.enabled and environ.get("PATH_INFO", "") not in AUTH_EXEMPT_PATHS and not basic_auth_ok(
                environ.get("HTTP_AUTHORIZATION", ""), auth.username, auth.password):
            srslog.trace(log, "HTTP API %s %s: 401, %s credentials", method, environ.get("PATH_INFO", "")[:256],
                         "wrong" if environ.get("HTTP_AUTHORIZATION") else "no")
            return self._raw(start, "401 Unauthorized", b"", [AUTH_CHALLENGE])
        callback = query.get("callback", [""])[0]
        if callback and not JSONP_CALLBACK.match(callback):
            log.warning("http api: reject jsonp callback %r", callback[:64])
            return self._raw(start, "400 Bad Request", {"code": 400})
        override = query.get("method", [""])[0].upper()
        if override:
            if override not in OVERRIDE_METHODS:
                return self._raw(start, "405 Method Not Allowed", {"code": 405})
            environ["REQUEST_METHOD"] = override
        srslog.trace(log, "HTTP API %s %s%s", environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                     "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        return super().wsgi(environ, start)

    @staticmethod
    def _raw(start, status: str, body, headers=()):
        data = body if isinstance(body, bytes) else _json(body).encode()
        hdrs = [("Content-Length", str(len(data)))] + list(headers)
        if data:
            hdrs.append(("Content-Type", "application/json"))
        start(status, hdrs)
        return [data]

    def _error(self, err: bottle.HTTPError) -> str:
        if err.status_code == 500:
            log.error("http api: %s %s failed: %s\n%s", bottle.request.method, bottle.request.path,
                      err.exception, err.traceback)
        bottle.response.content_type = "application/json"
        return _json({"code": err.status_code})

    # --- answers
    def _reply(self, obj: dict) -> str:
        callback = bottle.request.query.get("callback") or ""
        if callback:  # already validated by the WSGI front
            bottle.response.content_type = "text/javascript"
            return f"{callback}({_json(obj)})"
        bottle.response.content_type = "application/json"
        return _json(obj)

    def _code(self, code: int) -> str:
        return self._reply({"code": code, **self.process.identity()})

    def _bad_id(self, kind: str, text: str, code: int) -> str:
        log.warning("http api: refuse %s id %s", kind, ascii(text[:64]))
        bottle.response.status = 400
        return self._code(code)

    def _ok(self, **fields) -> str:
        return self._reply({"code": ERROR_SUCCESS, **self.process.identity(), **fields})

    # --- routes
    def _routes(self) -> None:
        any_method = ["GET", "POST", "PUT", "DELETE"]
        r = self.route
        r("/api/", callback=lambda: self._ok(urls={"v1": "the api version 1.0"}))
        r("/api", callback=lambda: self._ok(urls={"v1": "the api version 1.0"}))
        r("/api/v1/", callback=lambda: self._ok(urls=V1_URLS, tests=V1_TESTS))
        r("/api/v1", callback=lambda: self._ok(urls=V1_URLS, tests=V1_TESTS))
        r("/api/v1/versions", callback=self.versions)
        r("/api/v1/summaries", callback=self.summaries)
        r("/api/v1/rusages", callback=lambda: self._ok(data=self.system.rusage()))
        r("/api/v1/self_proc_stats", callback=lambda: self._ok(data=self.system.self_proc_stats()))
        r("/api/v1/system_proc_stats", callback=lambda: self._ok(data=self.system.system_proc_stats()))
        r("/api/v1/meminfos", callback=lambda: self._ok(data=self.system.meminfos()))
        r("/api/v1/authors", callback=self.authors)
        r("/api/v1/features", callback=self.features)
        r("/api/v1/requests", method=any_method, callback=self.requests)
        for path in ("/api/v1/vhosts", "/api/v1/vhosts/", "/api/v1/vhosts/<vid>"):
            r(path, callback=self.vhosts)
        for path in ("/api/v1/streams", "/api/v1/streams/", "/api/v1/streams/<sid>"):
            r(path, callback=self.streams)
        for path in ("/api/v1/clients", "/api/v1/clients/", "/api/v1/clients/<cid>"):
            r(path, method=["GET", "DELETE"], callback=self.clients)
        r("/api/v1/raw", method=["GET", "POST"], callback=self.raw)
        r("/api/v1/clusters", method=["GET", "POST"], callback=self.clusters)  # H14: SRS 3 coworkers POST
        r("/api/v1/tests/requests", method=any_method, callback=self.requests)
        r("/api/v1/tests/errors", method=any_method, callback=lambda: self._reply({"code": 100}))
        r("/api/v1/tests/redirects", method=any_method,
          callback=lambda: bottle.redirect("/api/v1/tests/errors", 301))
        r("/metrics", callback=self.metrics)
        console.mount(self, self.current_config)  # issue 14: /console/, the page over this API

    def versions(self) -> str:
        return self._ok(data={"major": version.VERSION_MAJOR, "minor": version.VERSION_MINOR,
                              "revision": version.VERSION_REVISION, "version": version.VERSION})

    def summaries(self) -> str:
        return self._ok(data=self.summaries_data())

    def authors(self) -> str:
        return self._ok(data={"primary": version.PRIMARY, "license": version.LICENSE,
                              "copyright": version.COPYRIGHT, "authors": version.AUTHORS,
                              "contributors_link": version.URL, "contributors": version.AUTHORS})

    def features(self) -> str:
        return self._ok(data={"options": "", "options2": "", "build": "", "build2": "",
                              "features": dict(FEATURES)})

    def requests(self) -> str:
        req = bottle.request
        headers = {k: v for k, v in req.headers.items()}
        uri = req.fullpath + ("?" + req.query_string if req.query_string else "")
        return self._ok(data={"uri": uri, "path": req.fullpath, "METHOD": req.method, "headers": headers,
                              "server": {"sigature": version.KEY, "version": version.VERSION,
                                         "link": version.URL, "time": self.clock()}})

    def vhosts(self, vid: str = "") -> str:
        stat = self.statistic
        if vid and not OBJECT_ID.match(vid):
            return self._bad_id("vhost", vid, ERROR_RTMP_VHOST_NOT_FOUND)
        if vid:
            vhost = stat.find_vhost(vid)
            if vhost is None:
                return self._code(ERROR_RTMP_VHOST_NOT_FOUND)
            return self._ok(vhost=stat.dump_vhost(vhost))
        return self._ok(vhosts=stat.dumps_vhosts())

    def streams(self, sid: str = "") -> str:
        stat = self.statistic
        now_ms = self.clock()
        if sid and not OBJECT_ID.match(sid):
            return self._bad_id("stream", sid, ERROR_RTMP_STREAM_NOT_FOUND)
        if sid:
            stream = stat.find_stream(sid)
            if stream is None:
                return self._code(ERROR_RTMP_STREAM_NOT_FOUND)
            return self._ok(stream=stat.dump_stream(stream, now_ms))
        return self._ok(streams=stat.dumps_streams(now_ms))

    def clients(self, cid: str = "") -> str:
        stat = self.statistic
        if cid and not CLIENT_ID.match(cid):
            return self._bad_id("client", cid, ERROR_RTMP_CLIENT_NOT_FOUND)
        client = stat.find_client(cid) if cid else None
        if cid and client is None:
            return self._code(ERROR_RTMP_CLIENT_NOT_FOUND)
        if bottle.request.method == "DELETE":
            if client is None:  # DELETE of the whole list is not a thing
                return self._code(ERROR_RTMP_CLIENT_NOT_FOUND)
            stat.kick(client.id)
            log.warning("kickoff client id=%s ok", client.id)
            return self._ok()
        now_ms = self.clock()
        if client is not None:
            return self._ok(client=client.dumps(now_ms))
        q = bottle.request.query
        start = max(0, _int(q.get("start", "")))
        count = max(MIN_CLIENTS_COUNT, _int(q.get("count", "")))
        return self._ok(clients=stat.dumps_clients(now_ms, start, count))

    def raw(self) -> str:
        http_api = self.current_config().http_api
        raw_api = http_api.raw_api
        rpc = bottle.request.query.get("rpc") or ""
        if rpc == "raw":
            return self._reply({"code": ERROR_SUCCESS, "http_api": {
                "crossdomain": http_api.crossdomain,
                "raw_api": {"enabled": raw_api.enabled, "allow_reload": raw_api.allow_reload,
                            "allow_query": raw_api.allow_query, "allow_update": raw_api.allow_update}}})
        if not raw_api.enabled:
            return self._reply({"code": ERROR_SYSTEM_CONFIG_RAW_DISABLED})
        if rpc not in ("reload", "query", "update"):
            return self._reply({"code": ERROR_SYSTEM_CONFIG_RAW})
        allowed = {"reload": raw_api.allow_reload, "query": raw_api.allow_query, "update": raw_api.allow_update}
        if not allowed[rpc]:
            return self._reply({"code": ERROR_SYSTEM_CONFIG_RAW_DISABLED})
        if rpc != "reload":
            # query/update of the config through the API are not implemented (yet)
            return self._reply({"code": ERROR_SYSTEM_CONFIG_RAW_NOT_ALLOWED})
        try:
            self.reload_config()
        except SrsError as e:
            log.warning("raw api reload failed: %s", e)
            return self._reply({"code": e.code})
        srslog.trace(log, "raw api reload ok")
        return self._reply({"code": ERROR_SUCCESS})

    def clusters(self) -> str:
        q = bottle.request.query
        query = {k: q.get(k, "") for k in ("ip", "vhost", "app", "stream")}
        # H14: origin cluster: where the stream is published on this server, or null
        origin = None
        if self.sources is not None:
            origin = origin_info(self.current_config(), self.sources.sources, query["vhost"], query["app"],
                                 query["stream"], q.get("coworker", ""))
        return self._reply({"code": ERROR_SUCCESS, "data": {"query": query, "origin": origin}})

    def metrics(self) -> str:
        stat = self.statistic
        lines = []

        def metric(name, kind, help_text, samples):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                label = ",".join(f'{k}="{_prom_label(v)}"' for k, v in labels.items())
                lines.append(f"{name}{{{label}}} {value}" if label else f"{name} {value}")

        streams = stat.streams()
        proc = self.system.process_figures()
        info = {"version": version.VERSION, "server": self.process.server_id, "pid": str(self.process.pid)}
        metric("srs_build_info", "gauge", "SRS server identity.", [(info, 1)])
        metric("srs_uptime_seconds", "gauge", "Seconds since the server started.",
               [({}, max(0, self.clock() - self.process.start_time_ms) / 1000.0)])
        metric("srs_streams", "gauge", "Streams known to the server.", [({}, len(streams))])
        metric("srs_streams_publishing", "gauge", "Streams with an active publisher.",
               [({}, sum(1 for s in streams if s.active))])
        metric("srs_clients", "gauge", "Connected RTMP/HTTP clients.", [({}, stat.nb_clients)])
        gate = self.gate
        metric("srs_connections", "gauge", "Open TCP connections of every listener.", [({}, gate.active)])
        metric("srs_connections_refused_total", "counter", "Connections refused at max_connections.",
               [({}, gate.refused)])
        metric("srs_send_bytes_total", "counter", "Bytes sent to clients.", [({}, stat.kbps.send_bytes)])
        metric("srs_receive_bytes_total", "counter", "Bytes received from clients.", [({}, stat.kbps.recv_bytes)])
        metric("srs_send_kbps", "gauge", "Send rate over 30s.", [({}, stat.kbps.send_kbps_30s)])
        metric("srs_receive_kbps", "gauge", "Receive rate over 30s.", [({}, stat.kbps.recv_kbps_30s)])

        def labels(s):
            return {"vhost": s.vhost.name, "app": s.app, "stream": s.name}
        metric("srs_stream_clients", "gauge", "Clients of a stream (publisher included).",
               [(labels(s), s.nb_clients) for s in streams])
        metric("srs_stream_frames_total", "counter", "Video frames of a stream.",
               [(labels(s), s.nb_frames) for s in streams])
        metric("srs_stream_send_bytes_total", "counter", "Bytes sent for a stream.",
               [(labels(s), s.kbps.send_bytes) for s in streams])
        metric("srs_stream_receive_bytes_total", "counter", "Bytes received for a stream.",
               [(labels(s), s.kbps.recv_bytes) for s in streams])
        metric("srs_stream_send_kbps", "gauge", "Send rate of a stream over 30s.",
               [(labels(s), s.kbps.send_kbps_30s) for s in streams])
        metric("srs_stream_receive_kbps", "gauge", "Receive rate of a stream over 30s.",
               [(labels(s), s.kbps.recv_kbps_30s) for s in streams])
        metric("process_cpu_seconds_total", "counter", "User and system CPU time.", [({}, proc["cpu_seconds"])])
        metric("process_resident_memory_bytes", "gauge", "Resident memory.", [({}, proc["rss_bytes"])])
        metric("process_open_fds", "gauge", "Open file descriptors.", [({}, proc["open_fds"])])
        metric("process_start_time_seconds", "gauge", "Start time since the epoch.", [({}, proc["start_time_s"])])
        bottle.response.content_type = "text/plain; version=0.0.4; charset=utf-8"
        return "\n".join(lines) + "\n"
