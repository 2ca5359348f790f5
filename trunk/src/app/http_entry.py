"""Starts the two HTTP front ends of the server: the API (bottle on gevent.pywsgi) and the
HTTP server (static files + live remux) on our own HTTP stack."""
from __future__ import annotations

import logging

from gevent.pywsgi import WSGIServer

from srs.app.server import make_listener
from srs.core.version import SIGNATURE
from srs.kernel.log import cid_var

log = logging.getLogger(__name__)


class _NullLog:
    def write(self, *_):
        pass


class ApiServer:
    """gevent.pywsgi running the bottle app; each request gets its own cid."""

    def __init__(self, server, host: str, port: int):
        from srs.app.http_api import make_api_app

        app = make_api_app(server)

        def with_cid(environ, start_response):
            cid_var.set(server.next_cid())
            return app(environ, start_response)

        sock = make_listener(host or "0.0.0.0", port, getattr(server.config, "reuseport", False))
        self.wsgi = WSGIServer(sock, with_cid, log=None, error_log=_NullLog())
        self.wsgi.start()
        self.port = self.wsgi.server_port
        log.info("HTTP API listen at %s:%d", host or "0.0.0.0", self.port)

    def stop(self) -> None:
        self.wsgi.stop(timeout=1)


def start_http_api(server):
    cfg = server.config.http_api
    if not cfg.enabled:
        return None
    host, port = cfg.listen
    return ApiServer(server, host, port)


def start_http_server(server):
    cfg = server.config.http_server
    if not cfg.enabled:
        return None
    from srs.app.http_server import HttpMux, HttpServer
    from srs.app.http_stream import LiveRouter

    mux = HttpMux()
    router = LiveRouter(server, cfg.dir)
    mux.handle("/", router)
    for vc in server.config.vhosts:
        hs = getattr(vc, "http_static", None)
        if hs is not None and hs.enabled and vc.enabled:
            router.add_static_mount(vc.name, hs.mount, hs.dir)
    http = HttpServer("http", mux, server.next_cid, server_header=SIGNATURE,
                      crossdomain=getattr(cfg, "crossdomain", True))
    host, port = cfg.listen
    http.listen(host or "0.0.0.0", port, reuseport=getattr(server.config, "reuseport", False))
    http.start()
    log.info("HTTP server listen at %s:%d, dir=%s", host or "0.0.0.0", http.port, cfg.dir)
    return http
