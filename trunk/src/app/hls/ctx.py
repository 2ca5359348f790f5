"""``hls { hls_ctx on; hls_ts_ctx on; }`` (SRS 5's SrsHlsStream): an HLS player is a client.

An .m3u8 request without a live ``hls_ctx`` starts a session: an id (8 random characters, or the one
the player brought), a client of type ``hls-play`` in the statistic (API, kick), the vhost's security
and ``on_play`` hook (a refusal is 403), and a tiny master playlist pointing at the same path with
``?hls_ctx=<id>`` (the player's query kept). With a live ``hls_ctx`` the real playlist is served, each
segment line carrying ``hls_ctx`` when ``hls_ts_ctx`` is on, so the segment requests count their bytes
to the session. A session nobody asks for during twice the playlist window (or fragment, at least 2 s)
ends: its ``on_stop`` hook runs and the client leaves the statistic.

Here it is off unless configured (SRS 5 defaults both on): turning it on changes what an .m3u8 URL
answers first, which existing players and scripts of this server do not expect.
"""
from __future__ import annotations

import logging
import re
import secrets
import string
from typing import Callable, Dict, Optional
from urllib.parse import quote

import gevent

from srs.kernel import log as srslog
from srs.kernel.errors import AccessDenied, HttpError
from srs.protocol.request import Request
from srs.protocol.security import check_security

log = logging.getLogger(__name__)

# Media segments a session counts: TS, and fMP4 (hls_use_fmp4) ones.
SEGMENT_EXTS = (".ts", ".m4s")

CTX_CHARS = string.ascii_lowercase + string.digits
MIN_IDLE_S = 2.0      # a session lives at least this long without requests
SWEEP_S = 1.0         # how often idle sessions are looked for
MAX_SESSIONS = 10000  # bounded: a client inventing ids cannot grow memory without end
M3U8_MIME = "application/vnd.apple.mpegurl"
_LL_PART_TAGS = (b"#EXT-X-PART:", b"#EXT-X-PRELOAD-HINT:")
_LL_URI = re.compile(rb'URI="([^"?]*)"')


class HlsSession:
    __slots__ = ("id", "cid", "req", "ip", "last_ms", "idle_ms")

    def __init__(self, ctx: str, cid: int, req: Request, ip: str, now_ms: int, idle_ms: int):
        self.id, self.cid, self.req, self.ip = ctx, cid, req, ip
        self.last_ms = now_ms
        self.idle_ms = idle_ms


def _query_without_ctx(target: str) -> str:
    """The request's query (no ``?``) without its hls_ctx parameter."""
    query = target.partition("?")[2].partition("#")[0]
    return "&".join(p for p in query.split("&") if p and not p.startswith("hls_ctx="))


class HlsSessions:
    """The HLS sessions of one HTTP server. ``ports`` is the router's PlayerPorts (config, clock, hooks,
    statistic); ``next_cid()`` numbers sessions as connections are numbered (API ids, hook client_id)."""

    def __init__(self, ports, next_cid: Callable[[], int]):
        self.ports = ports
        self.next_cid = next_cid
        self.sessions: Dict[str, HlsSession] = {}
        self._sweeper: Optional[gevent.Greenlet] = None
        # LL-HLS (app/hls/ll.py): (req, real path) -> the playlist of a session, once ready, or None
        self.live_playlist: Optional[Callable] = None

    def wants(self, vc, path: str) -> bool:
        hls = vc.hls if vc is not None else None
        return bool(hls is not None and hls.enabled and hls.hls_ctx and path.endswith((".m3u8",) + SEGMENT_EXTS))

    def serve(self, conn, req, vc, static) -> None:
        """Answer an .m3u8 or .ts request of a vhost with hls_ctx on; ``static`` serves the files."""
        if req.path.endswith(SEGMENT_EXTS):
            self._ts(conn, req, static)
        else:
            self._m3u8(conn, req, vc, static)

    # --- segments: counted to their session, served as files
    def _ts(self, conn, req, static) -> None:
        session = self.sessions.get(req.query.get("hls_ctx", ""))
        sent = static(conn, req)   # counted from what was sent: the path is resolved once, by the file server
        if session is not None:
            session.last_ms = self.ports.clock()
            self.ports.statistic.add_bytes(session.cid, 0, sent or 0)

    def count(self, req, nbytes: int) -> None:
        """LL-HLS parts (served from memory by app/hls/ll.py) count to the session they name."""
        session = self.sessions.get(req.query.get("hls_ctx", ""))
        if session is not None:
            session.last_ms = self.ports.clock()
            self.ports.statistic.add_bytes(session.cid, 0, nbytes)

    # --- playlists
    def _m3u8(self, conn, req, vc, static) -> None:
        real, redirect = static.resolve(conn, req)
        if redirect is not None or real is None:
            raise HttpError(f"no file {req.path}", status=404)
        ctx = req.query.get("hls_ctx", "")
        session = self.sessions.get(ctx)
        try:   # no stat first: the open says whether it is a file
            with open(real, "rb") as f:
                body = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            raise HttpError(f"no file {req.path}", status=404) from None
        if session is None:
            # A master playlist on disk (app/abr's ladder) is answered itself, its variants in the new
            # session: a master pointing at a master is more than hls.js and Safari follow.
            self._start(conn, req, vc, ctx, body if b"#EXT-X-STREAM-INF" in body else None)
            return
        session.last_ms = self.ports.clock()
        if self.live_playlist is not None:
            body = self.live_playlist(req, real) or body  # may block (_HLS_msn)
        body = self._with_ctx(body, session.id, vc.hls.hls_ts_ctx)
        if req.method == "HEAD":
            conn.send_response(200, [("Content-Type", M3U8_MIME), ("Cache-Control", "no-cache")], body, head_only=True)
            return
        conn.send_response(200, [("Content-Type", M3U8_MIME), ("Cache-Control", "no-cache")], body)
        self.ports.statistic.add_bytes(session.cid, 0, len(body))

    @staticmethod
    def _with_ctx(body: bytes, ctx: str, segments: bool) -> bytes:
        """The variants of a master playlist (app/abr) always carry the session (one session for the
        player); the segments (TS or fMP4) when ``segments`` (hls_ts_ctx)."""
        exts = (b".m3u8", b".ts", b".m4s") if segments else (b".m3u8",)
        lines = body.split(b"\n")
        for i, line in enumerate(lines):
            text = line.strip()
            if text and not text.startswith(b"#") and any(e in text for e in exts):
                lines[i] = text + (b"&" if b"?" in text else b"?") + b"hls_ctx=" + ctx.encode()
            elif segments and text.startswith(_LL_PART_TAGS):  # LL-HLS parts: URI="..." attributes
                lines[i] = _LL_URI.sub(lambda m: b'URI="%s?hls_ctx=%s"' % (m.group(1), ctx.encode()), text)
        return b"\n".join(lines)

    def _start(self, conn, req, vc, wanted: str, master: Optional[bytes]) -> None:
        ports = self.ports
        if len(self.sessions) >= MAX_SESSIONS:
            raise HttpError("too many hls sessions", status=503)
        ok_id = wanted and len(wanted) <= 64 and all(c in CTX_CHARS or c in "-_" for c in wanted.lower())
        ctx = wanted if ok_id else "".join(secrets.choice(CTX_CHARS) for _ in range(8))
        path = req.path
        app, _, name = path.lstrip("/").rpartition("/")
        r = Request()
        r.schema = "http"
        r.host = req.host or "127.0.0.1"
        r.vhost = vc.name
        r.app = app
        r.stream = name[:-len(".m3u8")]
        query = _query_without_ctx(req.target)
        r.param = "?" + query if query else ""
        r.tc_url = f"http://{r.host}/{app}"
        r.page_url = req.header("Referer") or ""
        r.ip = conn.ip
        cid = self.next_cid()
        hooks = vc.http_hooks if vc.http_hooks is not None and vc.http_hooks.enabled else None
        try:
            sec = vc.security
            if sec is not None and sec.enabled:
                check_security(sec.rules, "play", conn.ip)
            if hooks is not None and hooks.on_play:
                ports.hooks.on_play(hooks.on_play, r, cid, conn.ip)
        except AccessDenied as e:
            log.warning("HLS play %s denied: %s", path, e)
            conn.send_response(403, [("Content-Type", "text/plain")], b"forbidden\n")
            return
        now = ports.clock()
        idle_ms = int(max(MIN_IDLE_S, 2 * vc.hls.hls_window, 2 * vc.hls.hls_fragment) * 1000)
        self.sessions[ctx] = HlsSession(ctx, cid, r, conn.ip, now, idle_ms)
        ports.statistic.on_client(cid, r, "hls-play", conn.ip, lambda: self._end(ctx, "kicked"), now)
        srslog.trace(log, "HLS session %s cid=%d for %s/%s/%s from %s", ctx, cid, r.vhost, r.app, r.stream, conn.ip)
        if self._sweeper is None or self._sweeper.dead:
            self._sweeper = gevent.spawn(self._sweep)
        if master is not None:
            body = self._with_ctx(master, ctx, False)
        else:
            location = f"{quote(path)}?hls_ctx={ctx}" + (f"&{query}" if query else "")
            body = (f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n{location}\n").encode()
        conn.send_response(200, [("Content-Type", M3U8_MIME), ("Cache-Control", "no-cache")], body,
                           head_only=req.method == "HEAD")

    # --- the end of a session
    def _end(self, ctx: str, why: str) -> None:
        session = self.sessions.pop(ctx, None)
        if session is None:
            return
        ports = self.ports
        ports.statistic.on_disconnect(session.cid)
        srslog.trace(log, "HLS session %s cid=%d of %s ended: %s", ctx, session.cid, session.req.stream, why)
        vc = ports.config().vhost(session.req.vhost)
        hooks = vc.http_hooks if vc is not None and vc.http_hooks is not None and vc.http_hooks.enabled else None
        if hooks is not None and hooks.on_stop:
            ports.hooks.on_stop(hooks.on_stop, session.req, session.cid, session.ip)

    def _sweep(self) -> None:
        """One greenlet while sessions exist: ends those idle too long (their on_stop is called here)."""
        srslog.set_cid(0)
        while self.sessions:
            gevent.sleep(SWEEP_S)
            now = self.ports.clock()
            for ctx, session in list(self.sessions.items()):
                if now - session.last_ms >= session.idle_ms:
                    try:
                        self._end(ctx, "idle")
                    except Exception:  # a failing hook must not stop the sweep
                        log.exception("HLS session %s end failed", ctx)
