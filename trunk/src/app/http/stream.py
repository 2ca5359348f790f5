"""HTTP live streaming (SRS's http_remux): FLV, TS, AAC and MP3 from the same live source as RTMP.

``LiveRouter`` sits at "/" of the HTTP server: a path that matches a vhost's ``http_remux`` mount
(``[vhost]/[app]/[stream].flv`` by default; any of .flv/.ts/.aac/.mp3 is accepted on the same
mount) becomes a live player; anything else goes to the static file handlers.

FLV players are consumers of the source's merged-write tick, grouped by timestamp base like RTMP
players: the chunk-framed FLV tags of a batch are built once per group. TS/AAC/MP3 players share one
remuxer per source and format (``RemuxEncoder``): the batch is remuxed once and the same bytes go to
every player of that format.

A player gets exactly the server parts it uses (``PlayerPorts``, typed by app/ports.py); the wiring
is app/http/entry.py's.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from srs.app.http.remux import attach_remux_player, audio_mismatch
from srs.app.http.static import StaticFileHandler
from srs.app.live.encoders import FlvEncoder
from srs.app.live.output import Output
from srs.app.live.source import Consumer, LiveSource
from srs.app.ports import Clock, ConfigSource, EdgePuller, LiveSources, PlayerStatistic, PlayHooks, SendMeter
from srs.kernel import flv
from srs.kernel.errors import AccessDenied, RequestError
from srs.protocol import names
from srs.protocol.http import chunk
from srs.protocol.request import Request
from srs.protocol.security import check_security

log = logging.getLogger(__name__)

FORMATS = {
    ".flv": ("flv", "video/x-flv"),
    ".ts": ("ts", "video/MP2T"),
    ".aac": ("aac", "audio/x-aac"),
    ".mp3": ("mp3", "audio/mpeg"),
}


def mount_regex(mount: str) -> "re.Pattern":
    """``[vhost]/[app]/[stream].flv`` -> a regex over the request path, for any remux extension."""
    m = mount.strip()
    if m.startswith("[vhost]"):
        m = m[len("[vhost]"):]
    if not m.startswith("/"):
        m = "/" + m
    base = re.sub(r"\.(flv|ts|aac|mp3)$", "", m)
    pattern = re.escape(base).replace(re.escape("[app]"), r"(?P<app>[^?#]+?)").replace(
        re.escape("[stream]"), r"(?P<stream>[^/?#]+?)")
    return re.compile("^" + pattern + r"(?P<ext>\.(?:flv|ts|aac|mp3))$")


@dataclass(frozen=True)
class PlayerPorts:
    """What an HTTP live player uses of the server."""

    config: ConfigSource
    clock: Clock
    sources: LiveSources
    hooks: PlayHooks
    statistic: PlayerStatistic
    edge: EdgePuller
    meter: SendMeter


class LiveRouter:
    def __init__(self, ports: PlayerPorts, root_dir: str, hls_sessions=None, snapshots=None, hls_ll=None):
        self.ports = ports
        self.root_dir = root_dir
        self.snapshots = snapshots  # issue 14: /app/stream.jpg|png (app/snapshot/http.py SnapshotRoute), or None
        self.hls_sessions = hls_sessions  # SRS 5's hls_ctx (app/hls/ctx.py HlsSessions), None: plain files
        self.hls_ll = hls_ll  # LL-HLS parts and blocking playlists (app/hls/ll.py LlRegistry), or None
        if hls_ll is not None and hls_sessions is not None:
            hls_sessions.live_playlist = hls_ll.playlist_body
            hls_ll.on_sent = hls_sessions.count
        self.static = StaticFileHandler(root_dir, "/")
        self.static_mounts: List[Tuple[str, str, object]] = []  # (vhost, prefix, handler)
        self._regex_cache: Dict[str, "re.Pattern"] = {}

    def add_static_mount(self, vhost: str, mount: str, root: str) -> None:
        prefix = mount.replace("[vhost]", vhost if vhost != "__defaultVhost__" else "").strip()
        if not prefix.startswith("/"):
            prefix = "/" + prefix.split("/", 1)[-1] if "/" in prefix else "/"
        self.static_mounts.append((vhost, prefix, StaticFileHandler(root, prefix)))

    def __call__(self, conn, req) -> None:
        try:
            live = self.match_live(req)
        except RequestError as e:
            log.warning("HTTP client %s refused: %s", conn.ip, e)
            conn.send_response(400, [("Content-Type", "text/plain")], b"bad stream name\n")
            return
        if live is not None:
            vhost, app, stream, ext = live
            HttpLivePlayer(self.ports, conn, req, vhost, app, stream, ext).serve()
            return
        if self.snapshots is not None and req.path.endswith((".jpg", ".png")) and \
                self.snapshots.serve(conn, req, self.root_dir):
            return
        static = self.static
        for vhost, prefix, handler in self.static_mounts:
            if req.path.startswith(prefix) and prefix != "/":
                static = handler
                break
        sessions = self.hls_sessions
        if self.hls_ll is not None and req.path.endswith((".m3u8", ".m4s")):
            vc = self.ports.config().vhost(req.host or "")
            ctx_on = sessions is not None and vc is not None and vc.enabled and sessions.wants(vc, req.path)
            if self.hls_ll.serve(conn, req, static, ctx_on):
                return
        if sessions is not None and req.path.endswith((".m3u8", ".ts", ".m4s")):
            vc = self.ports.config().vhost(req.host or "")
            if vc is not None and vc.enabled and sessions.wants(vc, req.path):
                sessions.serve(conn, req, vc, static)
                return
        static(conn, req)

    def match_live(self, req) -> Optional[Tuple[str, str, str, str]]:
        """(vhost, app, stream, ext) of a live URL, None for anything else; RequestError when the
        app, stream or query of a live URL is not a name we accept (``req.path`` is %-decoded
        once by the HTTP parser; ``protocol.names`` checks what one more decoding would give)."""
        path = req.path
        dot = path.rfind(".")
        if dot < 0 or path[dot:] not in FORMATS:
            return None
        vc = self.ports.config().vhost(req.host or "")
        if vc is None or not vc.enabled:
            return None
        remux = vc.http_remux
        if remux is None or not remux.enabled:
            return None
        rx = self._regex_cache.get(remux.mount)
        if rx is None:
            rx = self._regex_cache[remux.mount] = mount_regex(remux.mount)
        m = rx.match(path)
        if m is None:
            return None
        app, stream = m.group("app").strip("/"), m.group("stream")
        # Checked before the file-system lookup below: a name with ".." must not even be stat'ed.
        # (The vhost is the configured one the Host header picked, not a client string.)
        names.check_path_name("app", app)
        names.check_path_name("stream", stream)
        names.check_param(_query_of(req.target))
        ext = m.group("ext")
        if not remux.mount.endswith(ext) and os.path.isfile(os.path.join(self.root_dir, path.lstrip("/"))):
            return None  # an HLS segment (or any file) on disk wins over the other remux formats
        return vc.name, app, stream, ext


class HttpLivePlayer:
    """One HTTP live player: hooks and stats as an RTMP player, then a consumer until the client closes."""

    def __init__(self, ports: PlayerPorts, conn, req, vhost: str, app: str, stream: str, ext: str):
        self.ports = ports
        self.conn = conn
        self.http_req = req
        self.vhost = vhost
        self.fmt, self.mime = FORMATS[ext]
        self.req = play_request(req, conn, vhost, app, stream)

    def serve(self) -> None:
        ports, conn, req = self.ports, self.conn, self.req
        vc = ports.config().vhost(self.vhost)
        hooks = vc.http_hooks if vc.http_hooks is not None and vc.http_hooks.enabled else None
        if self.fmt in ("aac", "mp3"):   # issue 18 §9: .mp3 of an AAC stream would send nothing
            known = ports.sources.get(req.stream_url)
            why = audio_mismatch(known.audio_codec_id if known is not None else None, self.fmt)
            if why:
                log.warning("HTTP play %s refused: %s", req.stream_url, why)
                conn.send_response(415, [("Content-Type", "text/plain")], why.encode() + b"\n")
                return
        try:
            authorize_play(ports.hooks, vc, req, conn.cid, conn.ip)
        except AccessDenied as e:
            log.warning("HTTP play %s denied: %s", req.stream_url, e)
            conn.send_response(403, [("Content-Type", "text/plain")], b"forbidden\n")
            return
        chunked = self.http_req.version != "1.0"
        conn.take_over()
        headers = [("Content-Type", self.mime), ("Cache-Control", "no-cache")]
        if chunked:
            conn.start_chunked(200, headers)
        else:
            conn.send_raw(_http10_head(self.mime, conn.server_header))
        output = Output(conn.sock, conn.cid)
        st = ports.statistic
        st.on_client(conn.cid, req, "Play", conn.ip, output.close, ports.clock())
        src = ports.sources.fetch_or_create(req.stream_url, self.vhost)
        consumer = Consumer(conn.cid, output)
        attach_player(src, consumer, self.fmt, chunked, vc.http_remux.fast_cache, remux=vc.http_remux)
        if vc.is_edge:  # H11: an edge source is pulled from the origin, shared with RTMP players
            ports.edge.on_play(src, req)
        log.info("HTTP %s play %s, chunked=%s", self.fmt, req.stream_url, chunked)
        ports.meter.meter(conn.cid, output)
        try:
            conn.wait_closed()
        finally:
            src.remove_consumer(consumer)
            output.close()
            ports.meter.unmeter(conn.cid)
            st.on_disconnect(conn.cid)
            if hooks is not None and hooks.on_stop:
                ports.hooks.on_stop(hooks.on_stop, req, conn.cid, conn.ip)
            log.info("HTTP %s player closed, sent=%dB", self.fmt, output.sent_bytes)


def play_request(http_req, conn, vhost: str, app: str, stream: str) -> Request:
    """The Request of an HTTP client of a live stream (a player, a snapshot), for hooks and stats."""
    r = Request()
    r.schema = "http"
    r.host = http_req.host or "127.0.0.1"
    r.vhost = vhost
    r.app = app
    r.stream = stream
    # H12 fix: HttpRequest has no raw_query; the hooks' param is the query of the request target
    r.param = _query_of(http_req.target)
    r.tc_url = f"http://{r.host}/{app}"
    r.page_url = http_req.header("Referer") or ""
    r.ip = conn.ip
    return r


def authorize_play(hooks: PlayHooks, vc, req: Request, cid: int, ip: str) -> None:
    """The vhost's play rules for an HTTP client: ``security`` then ``on_play``; AccessDenied refuses."""
    sec = vc.security
    if sec is not None and sec.enabled:
        check_security(sec.rules, "play", ip)
    cfg = vc.http_hooks
    if cfg is not None and cfg.enabled and cfg.on_play:
        hooks.on_play(cfg.on_play, req, cid, ip)


class ChunkedFlvEncoder:
    """FLV tags as one HTTP/1.1 chunk: the framing is part of the group's shared bytes."""

    __slots__ = ()

    @staticmethod
    def encode(batch, base: int) -> bytes:
        return chunk(flv.encode_tags(batch, base))


class AnnouncedTracksFlvEncoder:
    """FLV tags of the tracks the header announced (``drop_if_not_match``); metadata passes."""

    __slots__ = ("keep_audio", "keep_video", "chunked")

    def __init__(self, keep_audio: bool, keep_video: bool, chunked: bool):
        self.keep_audio, self.keep_video, self.chunked = keep_audio, keep_video, chunked

    def encode(self, batch, base: int) -> bytes:
        kept = [m for m in batch if (self.keep_audio or not m.is_audio) and (self.keep_video or not m.is_video)]
        if not kept:
            return b""
        tags = flv.encode_tags(kept, base)
        return chunk(tags) if self.chunked else tags


def flv_av_flags(src: LiveSource, has_audio: bool, has_video: bool, guess: bool) -> Tuple[bool, bool]:
    """The FLV header's (has_audio, has_video), SRS 5's SrsFlvStreamEncoder::write_tags: configured, or
    with ``guess_has_av`` guessed from the player's first messages (sequence headers and the gop cache,
    as SRS counts them): no audio when they hold video but no audio, no video when they hold audio but
    no video. An audio sequence header counts as audio, so a stream whose gop has just restarted on a
    keyframe still announces its audio. Before any media (a player waiting for the publisher) the
    configured flags stay: SRS delays the header until the first messages, but here it is part of the
    player's first bytes."""
    if not guess:
        return has_audio, has_video
    videos = sum(1 for m in src.gop if m.is_video) + (src.video_sh is not None)
    audios = sum(1 for m in src.gop if m.is_audio) + (src.audio_sh is not None)
    if videos > 0 and audios == 0:
        return False, has_video
    if audios > 0 and videos == 0:
        return has_audio, False
    return has_audio, has_video


def attach_player(src: LiveSource, consumer: Consumer, fmt: str, chunked: bool, fast_cache_s: float,
                  remux=None) -> None:
    """The HTTP side's encoder choice: FLV players group by timestamp base like RTMP players (FLV
    header first, its flags from ``remux``: the vhost's http_remux view); TS/AAC/MP3 players share one
    remux per format and framing."""
    if fmt != "flv":
        attach_remux_player(src, consumer, fmt, chunked, float(fast_cache_s or 0))
        return
    has_audio, has_video = (True, True) if remux is None else flv_av_flags(
        src, remux.has_audio, remux.has_video, remux.guess_has_av)
    head = flv.flv_header(has_audio, has_video)
    if remux is not None and remux.drop_if_not_match and not (has_audio and has_video):
        # SRS 5: a track the header did not announce is dropped (flv.js chokes on it); players with the
        # same flags share one filtered group
        src.attach(consumer, ("flv", chunked, has_audio, has_video),
                   lambda: AnnouncedTracksFlvEncoder(has_audio, has_video, chunked), header=chunk(head) if chunked else head)
    elif chunked:
        src.attach(consumer, ("flv", True), ChunkedFlvEncoder, header=chunk(head))
    else:
        src.attach(consumer, ("flv", False), FlvEncoder, header=head)


def _query_of(target: str) -> str:
    """``?query`` of a request target (without the fragment), "" when there is none."""
    query = target.partition("?")[2].partition("#")[0]
    return ("?" + query) if query else ""


def _http10_head(mime: str, server_header: str) -> bytes:
    return (f"HTTP/1.0 200 OK\r\nContent-Type: {mime}\r\nServer: {server_header}\r\n"
            f"Connection: close\r\n\r\n").encode()
