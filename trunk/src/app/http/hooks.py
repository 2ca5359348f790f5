"""HTTP callbacks (vhost ``http_hooks {}``), as SRS's srs_app_http_hooks.cpp.

Each event POSTs a JSON body to every URL of its directive, in order. on_connect, on_publish and
on_play decide whether the client may go on: the first failing URL raises AccessDenied carrying
the URL and SRS's reason code. on_close, on_unpublish and on_stop only log failures. on_dvr,
on_hls and on_hls_notify never make the caller wait: they go to a bounded queue served by one
worker greenlet (SRS's async call worker), so their order is kept and overflow is dropped with
a warning.

Only the calling greenlet waits for a hook (the client is a gevent socket), so a slow hook server
stalls the client it decides about and nobody else.
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
from typing import Callable, List, Sequence

import gevent
import gevent.queue

from srs.app.http.client import http_get, http_post_json
from srs.kernel import log as srslog
from srs.kernel.errors import (ERROR_HTTP_DATA_INVALID, ERROR_HTTP_STATUS_INVALID, ERROR_RESPONSE_CODE,
                               AccessDenied, HttpError, SrsError)
from srs.protocol.request import DEFAULT_VHOST, Request

log = logging.getLogger(__name__)

# SRS waits at most this long for an HLS notify GET.
HLS_NOTIFY_TIMEOUT_S = 10.0
# Async hook tasks waiting for the worker; beyond this they are dropped (a dead hook server
# must not grow memory without bound).
ASYNC_QUEUE_SIZE = 1024


def check_response(status: int, body: bytes) -> None:
    """SRS's rule for a hook answer; raises AccessDenied with the reason code on failure."""
    if status not in (200, 201):  # SRS 3 also accepts 201 Created
        raise AccessDenied(f"http status {status}", code=ERROR_HTTP_STATUS_INVALID)
    text = body.strip()
    if not text:
        raise AccessDenied("empty response", code=ERROR_HTTP_DATA_INVALID)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise AccessDenied(f"response is not json: {text[:64]!r}", code=ERROR_HTTP_DATA_INVALID) from e
    if not isinstance(value, dict):
        if text == b"0":
            return
        raise AccessDenied(f"response code {text[:64]!r}", code=ERROR_HTTP_DATA_INVALID)
    code = value.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise AccessDenied(f"response object without integer code: {text[:128]!r}", code=ERROR_RESPONSE_CODE)
    if code != 0:
        raise AccessDenied(f"response object code {code}", code=ERROR_RESPONSE_CODE)


class HttpHooks:
    """Calls the hook URLs of one server. ``server_id``, ``service_id`` and ``stream_id_fn(req)`` fill
    the SRS 4/5 fields (the Statistic provides them: ``HttpHooks(server_id=stat.server_id,
    service_id=stat.service_id, stream_id_fn=stat.stream_id)``); ``cwd`` is what on_dvr/on_hls report
    when the caller passes none.

    Bodies have SRS 5's shape and JSON types (srs_app_http_hooks.cpp @5): ``client_id`` is a string (SRS 3
    sent a number; receivers written in Go for SRS 4/5 refuse one), every event carries server_id,
    service_id, client_id, ip, vhost, app; every stream event also stream, param, tcUrl, stream_url and
    stream_id. SRS 3 receivers read the same names, so they keep working."""

    def __init__(self, timeout_s: float = 30.0, server_id: str = "",
                 stream_id_fn: Callable[[Request], str | None] | None = None, cwd: str | None = None,
                 queue_size: int = ASYNC_QUEUE_SIZE, service_id: str = ""):
        self.timeout_s = timeout_s
        self.server_id = server_id
        self.service_id = service_id
        self.stream_id_fn = stream_id_fn
        self.cwd = cwd if cwd is not None else os.getcwd()
        # joinable: a task is done once it ran (task_done), so join() waits on the queue, not a poll
        self._queue: gevent.queue.JoinableQueue = gevent.queue.JoinableQueue(maxsize=queue_size)
        self._worker: gevent.Greenlet | None = None
        self.dropped = 0  # async tasks dropped on overflow

    # --- bodies
    def _base(self, action: str, req: Request, cid: int, ip: str) -> dict:
        # the connection id as a string: SRS 4/5's client_id is its 8-char context id, always a JSON string
        body = {"server_id": self.server_id, "service_id": self.service_id, "action": action,
                "client_id": str(cid), "ip": ip, "vhost": req.vhost, "app": req.app}
        return body

    def _stream_fields(self, body: dict, req: Request) -> dict:
        vhost, app, stream = body["vhost"], body["app"], req.stream
        body["stream"] = stream
        body["param"] = req.param or ""
        body["tcUrl"] = req.tc_url or ""
        prefix = "" if vhost == DEFAULT_VHOST else vhost
        body["stream_url"] = f"{prefix}/{app}/{stream}"
        sid = self.stream_id_fn(req) if self.stream_id_fn is not None else None
        body["stream_id"] = sid or ""
        return body

    # --- POST and verdict
    def _post(self, url: str, body: dict) -> bytes:
        """POST one hook; returns the answer's body, raises AccessDenied (with ``.url``) on any failure."""
        try:
            status, resp = http_post_json(url, body, self.timeout_s)
        except HttpError as e:
            err = AccessDenied(f"http hook {body['action']} {url}: {e}", code=e.code)
            err.url = url
            raise err from e
        try:
            check_response(status, resp)
        except AccessDenied as e:
            e.url = url
            e.args = (f"http hook {body['action']} {url}: {e.args[0]}, response={resp[:256]!r}",)
            raise
        srslog.trace(log, "http: %s ok, client_id=%s, url=%s, request=%s, response=%s", body["action"],
                     body.get("client_id"), url, json.dumps(body), resp[:256].decode("utf-8", "replace"))
        return resp

    def _decide(self, urls: Sequence[str] | None, body: dict) -> None:
        for url in urls or ():
            self._post(url, body)  # the first failing url rejects the client

    def _notify(self, urls: Sequence[str] | None, body: dict) -> None:
        for url in urls or ():
            try:
                self._post(url, body)
            except SrsError as e:
                log.warning("http: ignore %s failed, client_id=%s, url=%s, err=%s", body["action"],
                            body.get("client_id"), url, e)

    # --- events that decide (raise AccessDenied)
    def on_connect(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str) -> None:
        body = self._base("on_connect", req, cid, ip)
        # SRS 5: on_connect also names the stream the connect's tcUrl carries (empty before play/publish)
        body["stream"] = req.stream or ""
        body["param"] = req.param or ""
        body["tcUrl"] = req.tc_url or ""
        body["pageUrl"] = req.page_url or ""
        self._decide(urls, body)

    def on_publish(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str) -> None:
        self._decide(urls, self._stream_fields(self._base("on_publish", req, cid, ip), req))

    def on_play(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str) -> None:
        body = self._stream_fields(self._base("on_play", req, cid, ip), req)
        body["pageUrl"] = req.page_url or ""
        self._decide(urls, body)

    def on_forward(self, url: str, req: Request, cid: int, ip: str) -> List[str]:
        """SRS 5's forward backend (``forward { backend url; }``): POST on_forward; the answer
        ``{"code": 0, "data": {"urls": ["rtmp://..."]}}`` says where to forward (no data: nowhere).
        Raises AccessDenied (``.url``) when the backend fails or answers something else."""
        body = self._base("on_forward", req, cid, ip)
        body.update({"stream": req.stream, "param": req.param or "", "tcUrl": req.tc_url or ""})
        resp = self._post(url, body)
        value = json.loads(resp)
        data = value.get("data") if isinstance(value, dict) else None
        urls = data.get("urls", []) if isinstance(data, dict) else []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            err = AccessDenied(f"http hook on_forward {url}: data.urls is not a list of strings: {resp[:128]!r}",
                               code=ERROR_HTTP_DATA_INVALID)
            err.url = url
            raise err
        return urls  # _post logged the request and the answer

    # --- events whose result is ignored (the caller waits, errors are logged)
    def on_close(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str, send_bytes: int,
                 recv_bytes: int) -> None:
        body = self._base("on_close", req, cid, ip)
        body["send_bytes"] = int(send_bytes)
        body["recv_bytes"] = int(recv_bytes)
        self._notify(urls, body)

    def on_unpublish(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str) -> None:
        self._notify(urls, self._stream_fields(self._base("on_unpublish", req, cid, ip), req))

    def on_stop(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str) -> None:
        self._notify(urls, self._stream_fields(self._base("on_stop", req, cid, ip), req))

    # --- fire-and-forget events (worker greenlet)
    def on_dvr(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str, file: str,
               cwd: str | None = None) -> None:
        if not urls:
            return
        body = self._stream_fields(self._base("on_dvr", req, cid, ip), req)
        body["cwd"] = cwd if cwd is not None else self.cwd
        body["file"] = file
        self._enqueue(cid, self._notify, list(urls), body)

    def on_hls(self, urls: Sequence[str] | None, req: Request, cid: int, ip: str, duration: float, file: str, url: str,
               m3u8: str, m3u8_url: str, seq_no: int, cwd: str | None = None) -> None:
        if not urls:
            return
        # the ts url is relative to the m3u8's directory, as SRS reports it
        prefix = posixpath.dirname(m3u8_url or "")
        if prefix and not url.startswith(("http://", "https://")):
            url = prefix + "/" + url
        body = self._stream_fields(self._base("on_hls", req, cid, ip), req)
        body.update({"duration": round(float(duration), 3), "cwd": cwd if cwd is not None else self.cwd,
                     "file": file, "url": url, "m3u8": m3u8, "m3u8_url": m3u8_url, "seq_no": int(seq_no)})
        self._enqueue(cid, self._notify, list(urls), body)

    def on_hls_notify(self, urls: Sequence[str] | None, req: Request, ts_url: str, nb_notify: int,
                      cid: int = 0) -> None:
        for url in urls or ():
            if ts_url.startswith(("http://", "https://")):
                url = ts_url
            url = (url.replace("[server_id]", self.server_id).replace("[service_id]", self.service_id)
                   .replace("[app]", req.app).replace("[stream]", req.stream)
                   .replace("[ts_url]", ts_url).replace("[param]", req.param))
            self._enqueue(cid, self._get_notify, url, int(nb_notify))

    def _get_notify(self, url: str, nb_notify: int) -> None:
        try:
            status, body = http_get(url, min(self.timeout_s, HLS_NOTIFY_TIMEOUT_S), max_bytes=max(0, nb_notify))
        except SrsError as e:
            log.warning("http: ignore on_hls_notify failed, url=%s, err=%s", url, e)
            return
        srslog.trace(log, "http: on_hls_notify ok, url=%s, status=%d, read=%dB", url, status, len(body))

    # --- the async worker
    def _enqueue(self, cid: int, fn: Callable[..., None], *args) -> None:  # fn: one of our methods
        try:
            self._queue.put_nowait((cid, fn, args))
        except gevent.queue.Full:
            self.dropped += 1
            log.warning("http: async hook queue full (%d), drop %s", self._queue.maxsize, fn.__name__)
            return
        if self._worker is None or self._worker.dead:
            self._worker = gevent.spawn(self._work)

    def _work(self) -> None:
        while True:
            cid, fn, args = self._queue.get()
            srslog.set_cid(cid)  # log lines of the task carry the client that caused it
            # Every request has its own deadline; this hard bound is the backstop that keeps one task that
            # hangs anyway (seen rarely under heavy parallel load) from holding up every later hook.
            bound = gevent.Timeout(self.timeout_s * 4 + 1)
            bound.start()
            try:
                fn(*args)
            except gevent.Timeout as t:
                if t is bound:
                    log.error("http: async hook %s still running after %.0fs, abandoned",
                              fn.__name__, self.timeout_s * 4 + 1)
                else:
                    log.exception("http: async hook failed")
            except Exception:  # a bug in one task must not stop the worker
                log.exception("http: async hook failed")
            finally:
                bound.close()
                self._queue.task_done()  # also when the worker is killed inside the task

    def pending(self) -> int:
        """Async tasks not yet started (tests and shutdown use it)."""
        return self._queue.qsize()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until the async queue is empty and the running task is done; True if it is."""
        if self._queue.qsize() and (self._worker is None or self._worker.dead):
            self._worker = gevent.spawn(self._work)  # the worker died: serve what is queued
        return self._queue.join(timeout_s)

    def stop(self) -> None:
        """Kill the worker; queued tasks are dropped."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill(block=True)
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
