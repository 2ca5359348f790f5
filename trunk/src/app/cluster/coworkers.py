"""Origin cluster (SRS 3's SrsCoWorkers): origins that share their streams by redirecting players.

    vhost __defaultVhost__ { cluster { mode local; origin_cluster on; coworkers 10.0.0.2:1985 10.0.0.3:1985; } }

Each origin answers ``GET /api/v1/clusters?vhost=&app=&stream=&ip=&coworker=`` (its HTTP API) with
``data: {query: {ip, vhost, app, stream}, origin: {ip, port, vhost, api, routers} | null}``: ``origin``
is set when the stream is published on this server (``origin_info``).

A player on an origin of such a vhost asking for a stream that is not published here (SRS: the source
is "inactive") is not kept waiting: the origin asks its coworkers in turn (``discover``, one HTTP GET
each, a short timeout) and the first that has the stream gets the player, by an RTMP 302 (an onStatus
error ``NetConnection.Connect.Rejected`` with ``ex: {code: 302, redirect: tcUrl, redirect2: url}``).
When no coworker has it the player is refused, as SRS 3 does (an edge retries on its own). An edge
whose ``origin`` is one of these origins follows the 302 once (see edge.py).

Our own API may be listed among the coworkers (SRS's example confs do): it answers ``origin: null``
for a stream we do not publish, so it is skipped like any other coworker without the stream.
"""
from __future__ import annotations

import json
import logging
from typing import Mapping, Optional, Tuple
from urllib.parse import quote

from srs.app.config.conf import Config
from srs.app.http.client import http_get
from srs.app.live.source import LiveSource
from srs.app.ports import LiveSources
from srs.kernel.errors import ERROR_RTMP_STREAM_NOT_FOUND, SrsError
from srs.protocol.request import DEFAULT_VHOST, make_rtmp_url, parse_host_port, parse_rtmp_url

log = logging.getLogger(__name__)

DISCOVER_TIMEOUT_S = 2.0   # per coworker: a dead coworker must not hold a player for long
REDIRECT_WAIT_S = 3.0      # SRS_RTMP_REDIRECT_TIMEOUT: how long the client may take to answer a 302
LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "")


def origin_info(config: Config, sources: Mapping[str, LiveSource], vhost: str, app: str, stream: str,
                coworker: str) -> Optional[dict]:
    """The ``origin`` object of /api/v1/clusters: where ``vhost/app/stream`` is published on this
    server (``sources``: the live sources by URL), or None. ``coworker`` is the API address the asker
    used to reach us: when we listen on a wildcard/loopback address its host is the best guess of
    how the asker reaches our RTMP port."""
    vc = config.vhost(vhost)
    if vc is None:
        return None
    src = sources.get(f"{vc.name}/{app}/{stream}")
    if src is None or src.publisher_cid is None:
        return None
    listen_host, listen_port = config.listen[0] if config.listen else ("", 1935)
    service_ip = listen_host if listen_host not in LOOPBACK else ""
    if not service_ip and coworker:
        try:
            service_ip = parse_host_port(coworker, 1985)[0]
        except SrsError:  # a malformed query parameter: fall back below
            service_ip = ""
    if not service_ip:
        service_ip = "127.0.0.1"
    api_host, api_port = config.http_api.listen
    api = f"{service_ip if api_host in ('', '0.0.0.0', '::') else api_host}:{api_port}"
    log.info("cluster: %s/%s/%s is here, redirect to ip=%s, port=%d, api=%s", vc.name, app, stream,
             service_ip, listen_port, api)
    return {"ip": service_ip, "port": listen_port, "vhost": vc.name, "api": api, "routers": [api]}


def query_url(coworker: str, req) -> str:
    """The clusters API URL that asks ``coworker`` (host:port of its HTTP API) for ``req``'s stream."""
    q = "&".join(f"{k}={quote(v, safe='')}" for k, v in (
        ("vhost", req.vhost), ("ip", req.host), ("app", req.app), ("stream", req.stream), ("coworker", coworker)))
    return f"http://{coworker}/api/v1/clusters?{q}"


def parse_origin(body: bytes) -> Optional[Tuple[str, int]]:
    """(ip, port) of a clusters API answer, or None when the coworker does not have the stream.
    Raises SrsError for an answer that is not the API's JSON."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SrsError(f"cluster: not JSON: {body[:64]!r}") from e
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, dict):
        raise SrsError(f"cluster: no data in {body[:128]!r}")
    origin = data.get("origin")
    if not isinstance(origin, dict):
        return None
    ip, port = origin.get("ip"), origin.get("port")
    if not isinstance(ip, str) or not ip or isinstance(port, bool) or not isinstance(port, (int, float)) or port <= 0:
        return None
    return ip, int(port)


def discover(coworkers, req) -> Optional[Tuple[str, int]]:
    """Ask each coworker in turn; the (ip, port) of the first that publishes ``req``'s stream."""
    for coworker in coworkers:
        url = query_url(coworker, req)
        try:
            status, body = http_get(url, timeout_s=DISCOVER_TIMEOUT_S)
            if status != 200:
                raise SrsError(f"cluster: HTTP {status}")
            found = parse_origin(body)
        except SrsError as e:
            log.warning("cluster: ask coworker %s for %s failed: %s", coworker, req.stream_url, e)
            continue
        if found is not None:
            log.info("cluster: coworker %s has %s at %s:%d", coworker, req.stream_url, *found)
            return found
    return None


def redirect_url(host: str, port: int, req) -> str:
    """SRS's srs_generate_rtmp_url: the player's app/stream/params on the coworker."""
    vhost = req.vhost if req.vhost != DEFAULT_VHOST else None
    return make_rtmp_url(host, port, req.app, req.stream, vhost=vhost, param=req.param or "")


def redirect_target(sources: LiveSources, vc, req) -> Optional[str]:
    """For a player of ``req`` on origin-cluster vhost ``vc`` (rtmp_conn calls it before attaching
    the player): None to play here (the stream is published here, or this is no origin cluster),
    else the RTMP URL of the coworker that has it. Raises SrsError when no coworker has it."""
    if vc is None or vc.is_edge or not vc.origin_cluster:
        return None
    src = sources.get(req.stream_url)
    if src is not None and src.publisher_cid is not None:
        return None
    found = discover(vc.coworkers, req)
    if found is None:
        raise SrsError(f"cluster: no origin publishes {req.stream_url} (coworkers {', '.join(vc.coworkers)})",
                       code=ERROR_RTMP_STREAM_NOT_FOUND)
    return redirect_url(found[0], found[1], req)


def tc_url_of(url: str) -> str:
    """The tcUrl part of a full RTMP URL (SRS's redirect field; redirect2 is the full URL)."""
    return parse_rtmp_url(url)[0]


def redirect_player(conn, vc) -> str:
    """The player of ``conn`` (an RtmpConn that has sent the play replies) on origin-cluster vhost
    ``vc``: "" to play here; else sends the RTMP 302, waits a little for the client's answer (SRS
    waits for a call; a client that just closes is fine) and returns the URL, and the caller closes.
    No coworker with the stream: onStatus NetStream.Play.StreamNotFound, then SrsError."""
    try:
        url = redirect_target(conn.sources, vc, conn.req)
    except SrsError as e:
        conn.session.on_play_error("NetStream.Play.StreamNotFound", str(e))
        conn.flush()
        raise
    if not url:
        return ""
    log.info("cluster: redirect %s to %s", conn.req.stream_url, url)
    conn.session.redirect(tc_url_of(url), url)
    conn.flush()
    try:
        conn.next_event(REDIRECT_WAIT_S)
    except Exception:  # noqa: BLE001 - any answer, a close or a timeout all end the redirect
        pass
    return url
