#!/usr/bin/env python3
"""A demo receiver for SRS's HTTP callbacks and heartbeat (SRS's research/api-server, on bottle).

    python server.py [port] [--host 0.0.0.0] [--deny-publish STREAM] [--deny-play STREAM]
                     [--deny-connect APP] [--json-replies]

Callbacks (POST, JSON body, as SRS sends them):
    /api/v1/clients    on_connect, on_close
    /api/v1/streams    on_publish, on_unpublish
    /api/v1/sessions   on_play, on_stop
    /api/v1/dvrs       on_dvr
    /api/v1/hls        on_hls          (GET /api/v1/hls/... is the on_hls_notify target)
    /api/v1/servers    heartbeat
Each callback is logged as one JSON line on stdout and answered with the code as text ("0" allows;
with --json-replies ``{"code": N, "data": null}`` as SRS 3's demo). A deny rule answers 403.
Error codes as SRS's demo: 100 the body is not JSON, 200 the action does not belong to the URL.

For tests, ``GET /api/v1/received`` lists what was received (``DELETE`` clears it) and a hook URL
may carry knobs in its query: ``delay=<seconds>`` (answer late), ``status=<http status>``,
``reply=<raw body>``. The first stdout line is ``{"event": "listening", "host": ..., "port": ...}``
(port 0 picks a free port). Standalone: needs only bottle.
"""
from __future__ import annotations

import argparse
import json
import socketserver
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bottle

ERROR_SUCCESS = 0
ERROR_PARSE_JSON = 100
ERROR_INVALID_ACTION = 200
ERROR_DENIED = 403

ACTIONS = {
    "clients": ("on_connect", "on_close"),
    "streams": ("on_publish", "on_unpublish"),
    "sessions": ("on_play", "on_stop"),
    "dvrs": ("on_dvr",),
    "hls": ("on_hls",),
}


class Receiver:
    def __init__(self, deny_publish=(), deny_play=(), deny_connect=(), json_replies=False):
        self.deny_publish = set(deny_publish)
        self.deny_play = set(deny_play)
        self.deny_connect = set(deny_connect)
        self.json_replies = json_replies
        self.received: list[dict] = []
        self.servers: dict[str, dict] = {}
        self.lock = threading.Lock()  # wsgiref serves each request in its own thread here

    def record(self, entry: dict) -> None:
        entry = dict(entry, received_at=time.time())
        with self.lock:
            self.received.append(entry)
        print(json.dumps(entry, sort_keys=True), flush=True)

    def verdict(self, body: dict) -> int:
        action = body.get("action")
        if action == "on_connect" and body.get("app") in self.deny_connect:
            return ERROR_DENIED
        if action == "on_publish" and body.get("stream") in self.deny_publish:
            return ERROR_DENIED
        if action == "on_play" and body.get("stream") in self.deny_play:
            return ERROR_DENIED
        return ERROR_SUCCESS

    def reply(self, code: int) -> str:
        if self.json_replies:
            return json.dumps({"code": code, "data": None})
        return str(code)


def make_app(receiver: Receiver) -> bottle.Bottle:
    app = bottle.Bottle()

    def knobs():
        """Test knobs from the hook URL's query: delay, status, reply."""
        q = bottle.request.query
        delay = float(q.get("delay") or 0)
        if delay > 0:
            time.sleep(delay)
        if q.get("status"):
            bottle.response.status = int(q.get("status"))
        return q.get("reply")

    def callback(resource: str):
        raw = bottle.request.body.read()
        override = knobs()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            receiver.record({"resource": resource, "error": "bad json", "raw": raw.decode("utf-8", "replace")})
            return receiver.reply(ERROR_PARSE_JSON) if override is None else override
        if body.get("action") not in ACTIONS[resource]:
            code = ERROR_INVALID_ACTION
        else:
            code = receiver.verdict(body)
        receiver.record({"resource": resource, "code": code, "body": body})
        return receiver.reply(code) if override is None else override

    for resource in ACTIONS:
        app.route(f"/api/v1/{resource}", "POST", (lambda r: lambda: callback(r))(resource))

    @app.post("/api/v1/servers")
    def heartbeat():
        raw = bottle.request.body.read()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            receiver.record({"resource": "servers", "error": "bad json"})
            return receiver.reply(ERROR_PARSE_JSON)
        with receiver.lock:
            receiver.servers[str(body.get("device_id", ""))] = dict(body, updated_at=time.time())
        receiver.record({"resource": "servers", "code": ERROR_SUCCESS, "body": body})
        return receiver.reply(ERROR_SUCCESS)

    @app.get("/api/v1/servers")
    def servers():
        with receiver.lock:
            return {"code": ERROR_SUCCESS, "data": list(receiver.servers.values())}

    @app.get("/api/v1/hls/<path:path>")
    def hls_notify(path):
        override = knobs()
        receiver.record({"resource": "hls", "code": ERROR_SUCCESS,
                         "body": {"action": "on_hls_notify", "path": "/" + path,
                                  "query": dict(bottle.request.query)}})
        return receiver.reply(ERROR_SUCCESS) if override is None else override

    @app.get("/api/v1/received")
    def received():
        with receiver.lock:
            return {"code": ERROR_SUCCESS, "data": list(receiver.received)}

    @app.delete("/api/v1/received")
    def clear():
        with receiver.lock:
            receiver.received.clear()
        return {"code": ERROR_SUCCESS}

    return app


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request, so one slow callback does not hold up the others."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # the JSON lines are the log
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="SRS HTTP callback demo receiver")
    parser.add_argument("port", nargs="?", type=int, default=8085)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--deny-publish", action="append", default=[], metavar="STREAM")
    parser.add_argument("--deny-play", action="append", default=[], metavar="STREAM")
    parser.add_argument("--deny-connect", action="append", default=[], metavar="APP")
    parser.add_argument("--json-replies", action="store_true", help='answer {"code": N, "data": null}')
    args = parser.parse_args(argv)
    receiver = Receiver(args.deny_publish, args.deny_play, args.deny_connect, args.json_replies)
    httpd = make_server(args.host, args.port, make_app(receiver), server_class=ThreadingServer,
                        handler_class=QuietHandler)
    print(json.dumps({"event": "listening", "host": args.host, "port": httpd.server_port}), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
