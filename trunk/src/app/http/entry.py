"""Starts the HTTP front ends of the server: the API (bottle on gevent.pywsgi) and the HTTP server
(static files + live remux) on our own HTTP stack, each also over TLS on its own port when its
``https {}`` is enabled (SRS 4: 1990 for the API, 8088 for the server; the HTTPS server serves the
same mux as the HTTP one, so a stream mounted on publish is on both). All accept through a
``Listener`` that shares the server's ``max_connections`` gate with RTMP and the TCP casters."""
from __future__ import annotations

import logging
import os
from typing import Callable, Optional

from gevent.pywsgi import WSGIHandler, WSGIServer

from srs.app.config.conf import Config
from srs.app.http.server import HttpMux, HttpServer
from srs.app.http.static import StaticFileHandler
from srs.app.http.stream import LiveRouter
from srs.app.ports import CidSource
from srs.app.server.assets import asset_dir
from srs.app.server.listener import HTTP_REFUSAL, ConnectionGate, Listener, make_listener
from srs.app.server.tls import ServerTls
from srs.core.version import SIGNATURE
from srs.kernel.log import cid_var

# An API connection that sends nothing for this long is closed (pywsgi itself waits forever),
# so idle connections cannot hold max_connections slots or fds.
API_IDLE_TIMEOUT_S = 30.0
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

log = logging.getLogger(__name__)


class _NullLog:
    def write(self, *_):
        pass


class ApiRequestHandler(WSGIHandler):
    """pywsgi's handler, quiet about bad clients: a request it cannot parse (a version such as
    ``HTTP/5``, more than 100 headers, a broken Content-Length...) is a 400 and one log line,
    never a traceback on the console (pywsgi prints one for errors that are not ValueErrors)."""

    def read_request(self, raw_requestline):
        try:
            return super().read_request(raw_requestline)
        except ValueError:
            raise
        except Exception as exc:  # http.client.HTTPException, IndexError from the version...
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc

    def _handle_client_error(self, ex):
        ip = self.client_address[0] if isinstance(self.client_address, tuple) else self.client_address
        log.warning("HTTP API client ip=%s bad request: %s", ip, ascii(str(ex))[:200])
        return ("400", _BAD_REQUEST)


class ApiServer:
    """gevent.pywsgi running the bottle app; each request gets its own cid."""

    def __init__(self, app: Callable, host: str, port: int, *, next_cid: CidSource, gate: ConnectionGate,
                 reuseport: bool = False, idle_timeout_s: float = API_IDLE_TIMEOUT_S,
                 tls: Optional[ServerTls] = None):
        # ``app``: the WSGI app the Server built with the parts it reads (api.routes.ApiApp)
        def with_cid(environ, start_response):
            cid_var.set(next_cid())
            return app(environ, start_response)

        sock = make_listener(host or "0.0.0.0", port, reuseport)
        # pywsgi only parses and answers; our Listener accepts (max_connections, canned 503)
        self.wsgi = WSGIServer(sock, with_cid, log=None, error_log=_NullLog(),
                               handler_class=ApiRequestHandler)
        self.wsgi.init_socket()
        self.port = sock.getsockname()[1]

        def handle(client, addr):
            cid_var.set(next_cid())  # until the first request sets its own
            client.settimeout(idle_timeout_s)
            self.wsgi.handle(client, addr)

        name = "https api" if tls is not None else "http api"
        self.listener = Listener(name, sock, handle, gate, HTTP_REFUSAL, tls=tls)
        self.listener.start()
        log.info("%s listen at %s:%d", "HTTPS API" if tls is not None else "HTTP API", host or "0.0.0.0",
                 self.port)

    def stop(self) -> None:
        self.listener.stop(timeout=1)


def start_http_api(config: Config, app: Callable, next_cid: CidSource, gate: ConnectionGate) -> Optional[ApiServer]:
    cfg = config.http_api
    if not cfg.enabled:
        return None
    host, port = cfg.listen
    return ApiServer(app, host, port, next_cid=next_cid, gate=gate, reuseport=config.reuseport)


def start_https_api(config: Config, app: Callable, next_cid: CidSource,
                    gate: ConnectionGate) -> Optional[ApiServer]:
    """``http_api { https { enabled on; } }``: the same API app over TLS (its own port, 1990)."""
    cfg = config.http_api.https
    if not cfg.enabled:
        return None
    host, port = cfg.listen
    tls = ServerTls(cfg.key, cfg.cert, "https api")  # a bad key/cert: TlsError, the server does not start
    return ApiServer(app, host, port, next_cid=next_cid, gate=gate, reuseport=config.reuseport, tls=tls)


def _http_mux(config: Config, make_router: Callable[[str], LiveRouter]) -> HttpMux:
    """The mux of the HTTP server (and of the HTTPS one): live streams and static files."""
    mux = HttpMux()
    router = make_router(config.http_server.dir)
    mux.handle("/", router)
    players = asset_dir("players")
    if players and not os.path.isdir(os.path.join(config.http_server.dir, "players")):
        # a pip install run outside trunk/ has no objs/nginx/html/players (make copies them there):
        # serve the shipped ones, as /players/ of a checkout (this also shadows an app named "players")
        mux.handle("/players/", StaticFileHandler(players, "/players/"))
    for vc in config.vhosts:
        hs = vc.http_static
        if hs.enabled and vc.enabled:
            router.add_static_mount(vc.name, hs.mount, hs.dir)
    return mux


def start_http_server(config: Config, make_router: Callable[[str], LiveRouter], next_cid: CidSource,
                      gate: ConnectionGate) -> Optional[HttpServer]:
    """``make_router(dir)``: the live router (http.stream.LiveRouter, which the Server binds to
    its parts) serving HTTP-FLV/TS/AAC/MP3 and the static files under ``dir``."""
    cfg = config.http_server
    if not cfg.enabled:
        return None
    http = HttpServer("http", _http_mux(config, make_router), next_cid, server_header=SIGNATURE,
                      crossdomain=cfg.crossdomain, gate=gate)
    host, port = cfg.listen
    http.listen(host or "0.0.0.0", port, reuseport=config.reuseport)
    http.start()
    log.info("HTTP server listen at %s:%d, dir=%s", host or "0.0.0.0", http.port, cfg.dir)
    return http


def start_https_server(config: Config, http: Optional[HttpServer], make_router: Callable[[str], LiveRouter],
                       next_cid: CidSource, gate: ConnectionGate) -> Optional[HttpServer]:
    """``http_server { https { enabled on; } }``: the HTTP server's mux (``http``'s, or a new one when
    the plain server is off) over TLS on its own port (8088)."""
    cfg = config.http_server.https
    if not cfg.enabled:
        return None
    tls = ServerTls(cfg.key, cfg.cert, "https")  # a bad key/cert: TlsError, the server does not start
    mux = http.mux if http is not None else _http_mux(config, make_router)
    https = HttpServer("https", mux, next_cid, server_header=SIGNATURE,
                       crossdomain=config.http_server.crossdomain, gate=gate, tls=tls)
    host, port = cfg.listen
    https.listen(host or "0.0.0.0", port, reuseport=config.reuseport)
    https.start()
    log.info("HTTPS server listen at %s:%d, key=%s, cert=%s", host or "0.0.0.0", https.port, cfg.key, cfg.cert)
    return https
