"""The registry the HTTP API reads: vhosts, streams and clients with byte counters and kbps.

SRS keeps this as a global singleton (srs_app_statistic.cpp); here the Server owns one ``Statistic``
and hands it to the RTMP/HTTP connections (which report) and to the API (which dumps).
Everything is driven by the caller: the clock comes in as ``now_ms`` so tests are deterministic,
and kbps are sampled only when the server calls ``sample()`` every few seconds.

Ids: vhosts, streams and the server get string ids ``vid-<n>-<r>``; a stream keeps its id for as
long as its name is remembered (also across an unpublish/republish), clients are keyed by the numeric
connection id (the log cid) so API ids, hook ``client_id`` and log lines agree. The dumps have SRS 5's
shapes (srs_app_statistic.cpp @5): every id is a JSON string (SRS 3 sent client ids as numbers), a
stream has tcUrl and url, a client name and kbps; SRS 3's fields all stay.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import secrets
import string
from typing import Callable

from srs.kernel import log as srslog
from srs.protocol.kbps import Kbps, RecentKbps
from srs.protocol.request import Request

log = logging.getLogger(__name__)

DEFAULT_VHOST = "__defaultVhost__"
# Stream ids are remembered by name this long after the stream disappears (bounded memory).
MAX_REMEMBERED_IDS = 10000
# Client types that publish (SRS's srs_client_type_is_publish).
PUBLISH_TYPES = ("fmle-publish", "flash-publish", "haivision-publish", "srt-publish", "rtc-publish")
SERVICE_ID_CHARS = string.ascii_lowercase + string.digits


def server_id_for(configured: str, pid_path: str, new_id: Callable[[], str]) -> str:
    """SRS 5's server id: ``server_id`` when configured, else the one kept in the pid file's ``.id``
    sibling (``./objs/srs.id``), else ``new_id()`` written there, so a restart keeps its identity."""
    if configured:
        return configured
    if not pid_path:
        return new_id()
    root, ext = os.path.splitext(pid_path)
    path = root + ".id" if ext == ".pid" else pid_path + ".id"
    try:
        with open(path, encoding="utf-8") as f:
            kept = f.read().strip()
        if kept and len(kept) <= 64 and kept.isprintable():
            return kept
    except OSError:
        pass  # first start: no id yet
    sid = new_id()
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(sid)
    except OSError as e:
        log.warning("server id %s not kept in %s: %s", sid, path, e)
    return sid


def new_server_id() -> str:
    """SRS 4/5's generated server id: ``vid-`` and 7 random characters."""
    return "vid-" + "".join(secrets.choice(SERVICE_ID_CHARS) for _ in range(7))


def new_service_id() -> str:
    """SRS 5's service id: 8 random characters, new at every start (a restart is a new service)."""
    return "".join(secrets.choice(SERVICE_ID_CHARS) for _ in range(8))


class VhostStat:
    __slots__ = ("id", "name", "nb_clients", "nb_streams", "kbps")

    def __init__(self, vid: str, name: str):
        self.id = vid
        self.name = name
        self.nb_clients = 0
        self.nb_streams = 0  # published streams
        self.kbps = Kbps()


class StreamStat:
    __slots__ = ("id", "vhost", "app", "name", "key", "url", "nb_clients", "nb_frames", "kbps",
                 "active", "publisher_cid", "video", "audio", "tc_url")

    def __init__(self, sid: str, vhost: VhostStat, app: str, name: str, key: str, url: str):
        self.id = sid
        self.vhost = vhost
        self.app = app
        self.name = name
        self.key = key    # "vhost/app/stream": our registry key
        self.url = url    # SRS's stream url: the default vhost is omitted ("/live/livestream")
        self.nb_clients = 0
        self.nb_frames = 0
        self.kbps = Kbps()
        self.active = False
        self.publisher_cid: int | None = None
        self.video: dict | None = None
        self.audio: dict | None = None
        self.tc_url = ""  # the publisher's (SRS 5 reports the tcUrl of the stream's request)

    def dumps(self, now_ms: int) -> dict:
        return {
            "id": self.id, "name": self.name, "vhost": self.vhost.id, "app": self.app,
            "tcUrl": self.tc_url, "url": self.url, "live_ms": now_ms, "clients": self.nb_clients, "frames": self.nb_frames,
            "send_bytes": self.kbps.send_bytes, "recv_bytes": self.kbps.recv_bytes,
            "kbps": self.kbps.dumps(),
            "publish": {"active": self.active,
                        "cid": str(self.publisher_cid) if self.active and self.publisher_cid is not None else None},
            "video": dict(self.video) if self.video else None,
            "audio": dict(self.audio) if self.audio else None,
            # issue 14: the HTTP server's path of its latest keyframe (app/snapshot), while it has video
            "snapshot": f"/{self.app}/{self.name}.jpg" if self.active and self.video else None,
        }


class ClientStat:
    __slots__ = ("id", "stream", "type", "ip", "page_url", "swf_url", "tc_url", "kick_fn",
                 "create_ms", "recv_bytes", "send_bytes", "extra", "_kbps")

    def __init__(self, cid: int, stream: StreamStat, conn_type: str, ip: str, req: Request,
                 kick: Callable[[], None] | None, now_ms: int):
        self.id = cid
        self.stream = stream
        self.type = conn_type
        self.ip = ip
        # copy what we dump: the connection's request keeps changing (republish, redirects)
        self.page_url = req.page_url or ""
        self.swf_url = req.swf_url or ""
        self.tc_url = req.tc_url or ""
        self.kick_fn = kick
        self.create_ms = now_ms
        self.recv_bytes = 0
        self.send_bytes = 0
        self.extra: Callable[[], dict] | None = None   # protocol figures (SRT: rtt, retransmits)
        self._kbps = RecentKbps(now_ms)

    @property
    def publish(self) -> bool:
        return self.type in PUBLISH_TYPES

    def dumps(self, now_ms: int) -> dict:
        alive_ms = max(0, now_ms - self.create_ms)
        d = {
            "id": str(self.id), "vhost": self.stream.vhost.id, "stream": self.stream.id, "ip": self.ip,
            "pageUrl": self.page_url, "swfUrl": self.swf_url, "tcUrl": self.tc_url,
            "url": self.stream.url, "name": self.stream.name, "type": self.type, "publish": self.publish,
            # SRS 3 reports seconds as a float
            "alive": alive_ms / 1000.0,
            "send_bytes": self.send_bytes, "recv_bytes": self.recv_bytes,
            "kbps": self._kbps.read(now_ms, self.recv_bytes, self.send_bytes),
        }
        if self.extra is not None:
            d.update(self.extra())
        return d


def stream_url(vhost: str, app: str, stream: str) -> str:
    """SRS's srs_generate_stream_url: the default vhost is left out."""
    prefix = "" if vhost == DEFAULT_VHOST else vhost
    return f"{prefix}/{app}/{stream}"


def _default_vhost_info(name: str) -> dict:
    return {"enabled": True, "hls": {"enabled": False}}


class Statistic:
    """Counts what the server is doing, for /api/v1/{vhosts,streams,clients} and /metrics.

    ``vhost_info(name) -> {"enabled": bool, "hls": {"enabled": bool[, "fragment": float]}}`` lets
    the owner add config facts to the vhost dump without this module reading the config.
    ``stream_extra(vhost, app, stream) -> dict`` (H18) lets the owner merge live app state (forwarders,
    edge pull) into each stream dump, so this module imports no app objects.
    """

    def __init__(self, server_id: str | None = None,
                 vhost_info: Callable[[str], dict] | None = None, service_id: str | None = None):
        self._ids = itertools.count(os.getpid())
        self._suffix = itertools.count(os.getpid() * 7919 % 1000)
        self.server_id = server_id or self._new_id()
        self.service_id = service_id or new_service_id()
        self.vhost_info = vhost_info or _default_vhost_info
        self.stream_extra: Callable[[str, str, str], dict] | None = None
        self.kbps = Kbps()                                   # the whole server
        self._vhosts: dict[str, VhostStat] = {}              # by name
        self._vhosts_by_id: dict[str, VhostStat] = {}
        self._streams: dict[str, StreamStat] = {}            # by key vhost/app/stream
        self._streams_by_id: dict[str, StreamStat] = {}
        self._remembered: collections.OrderedDict = collections.OrderedDict()  # key -> stream id
        self._clients: dict[int, ClientStat] = {}            # by cid, in arrival order
        self.nb_clients_total = 0  # clients ever seen (SRS 5's srs_clients_total)

    # --- ids
    def _new_id(self) -> str:
        return f"vid-{next(self._ids)}-{next(self._suffix) % 1000}"

    def _vhost(self, name: str) -> VhostStat:
        vhost = self._vhosts.get(name)
        if vhost is None:
            vhost = VhostStat(self._new_id(), name)
            self._vhosts[name] = vhost
            self._vhosts_by_id[vhost.id] = vhost
        return vhost

    def _stream(self, req) -> StreamStat:
        vname, app, name = req.vhost, req.app, req.stream
        key = f"{vname}/{app}/{name}"
        stream = self._streams.get(key)
        if stream is None:
            sid = self._remembered.pop(key, None) or self._new_id()
            stream = StreamStat(sid, self._vhost(vname), app, name, key, stream_url(vname, app, name))
            self._streams[key] = stream
            self._streams_by_id[sid] = stream
        return stream

    def _maybe_remove(self, stream: StreamStat) -> None:
        if stream.active or stream.nb_clients > 0:
            return
        self._streams.pop(stream.key, None)
        self._streams_by_id.pop(stream.id, None)
        self._remembered[stream.key] = stream.id
        while len(self._remembered) > MAX_REMEMBERED_IDS:
            self._remembered.popitem(last=False)

    def stream_id(self, req: Request) -> str | None:
        """The id of the stream of ``req`` if it is known (hooks put it in their body)."""
        key = f"{req.vhost}/{req.app}/{req.stream}"
        stream = self._streams.get(key)
        if stream is not None:
            return stream.id
        return self._remembered.get(key)

    # --- events from connections and sources
    def on_client(self, cid: int, req: Request, conn_type: str, ip: str, kick: Callable[[], None] | None,
                  now_ms: int) -> None:
        old = self._clients.pop(cid, None)
        if old is None:
            self.nb_clients_total += 1
        else:
            # the same connection identifies again (republish, replay): move it, do not double count
            self._detach(old)
        stream = self._stream(req)
        client = ClientStat(cid, stream, conn_type, ip, req, kick, now_ms)
        if old is not None:
            client.create_ms = old.create_ms
            client.recv_bytes, client.send_bytes = old.recv_bytes, old.send_bytes
        self._clients[cid] = client
        stream.nb_clients += 1
        stream.vhost.nb_clients += 1

    def _detach(self, client: ClientStat) -> None:
        stream = client.stream
        stream.nb_clients -= 1
        stream.vhost.nb_clients -= 1
        self._maybe_remove(stream)

    def set_client_extra(self, cid: int, extra: Callable[[], dict]) -> None:
        """Fields the client's protocol adds to its API entry (read at each dump)."""
        client = self._clients.get(cid)
        if client is not None:
            client.extra = extra

    def on_disconnect(self, cid: int) -> None:
        client = self._clients.pop(cid, None)
        if client is not None:
            self._detach(client)

    def on_stream_publish(self, req, cid: int) -> None:
        stream = self._stream(req)
        if not stream.active:
            stream.vhost.nb_streams += 1
        stream.active = True
        stream.publisher_cid = cid
        stream.tc_url = req.tc_url or ""

    def on_stream_unpublish(self, req) -> None:
        key = f"{req.vhost}/{req.app}/{req.stream}"
        stream = self._streams.get(key)
        if stream is None:
            return
        if stream.active:
            stream.vhost.nb_streams -= 1
        stream.active = False
        stream.publisher_cid = None
        stream.video = None
        stream.audio = None
        self._maybe_remove(stream)

    def on_video_info(self, req, codec: str, profile: str, level: str, width: int, height: int) -> None:
        stream = self._stream(req)
        stream.video = {"codec": codec, "profile": profile, "level": level,
                        "width": int(width), "height": int(height)}
        self._maybe_remove(stream)  # a late report for a stream nobody uses any more

    def on_audio_info(self, req, codec: str, sample_rate: int, channels: int, profile: str) -> None:
        stream = self._stream(req)
        stream.audio = {"codec": codec, "sample_rate": int(sample_rate),
                        "channel": int(channels), "profile": profile}
        self._maybe_remove(stream)

    def on_frames(self, req, nb: int) -> None:
        stream = self._stream(req)
        stream.nb_frames += nb
        self._maybe_remove(stream)

    def add_bytes(self, cid: int, recv: int, send: int) -> None:
        """Deltas since the connection's last report; rolled up to its stream, vhost and server."""
        self.kbps.add(recv, send)
        client = self._clients.get(cid)
        if client is None:
            return
        client.recv_bytes += recv
        client.send_bytes += send
        client.stream.kbps.add(recv, send)
        client.stream.vhost.kbps.add(recv, send)

    def sample(self, now_ms: int) -> None:
        self.kbps.sample(now_ms)
        for vhost in self._vhosts.values():
            vhost.kbps.sample(now_ms)
        for stream in self._streams.values():
            stream.kbps.sample(now_ms)

    def kick(self, cid) -> bool:
        """Ask a client's connection to stop (DELETE /api/v1/clients/{id}); False if unknown."""
        client = self.find_client(cid)
        if client is None:
            return False
        srslog.trace(log, "kickoff client id=%s, type=%s, url=%s", client.id, client.type, client.stream.url)
        if client.kick_fn is not None:
            client.kick_fn()
        return True

    # --- lookups
    def find_client(self, cid) -> ClientStat | None:
        try:
            return self._clients.get(int(cid))
        except (TypeError, ValueError):
            return None

    def find_stream(self, sid: str) -> StreamStat | None:
        return self._streams_by_id.get(sid)

    def find_vhost(self, vid: str) -> VhostStat | None:
        return self._vhosts_by_id.get(vid)

    @property
    def nb_clients(self) -> int:
        return len(self._clients)

    @property
    def nb_streams(self) -> int:
        return len(self._streams)

    def streams(self) -> list[StreamStat]:
        return list(self._streams.values())

    def vhosts(self) -> list[VhostStat]:
        return list(self._vhosts.values())

    # --- JSON-able dumps (SRS 3.0 shapes)
    def dump_vhost(self, vhost: VhostStat) -> dict:
        info = self.vhost_info(vhost.name) or {}
        return {
            "id": vhost.id, "name": vhost.name, "enabled": bool(info.get("enabled", True)),
            "clients": vhost.nb_clients, "streams": vhost.nb_streams,
            "send_bytes": vhost.kbps.send_bytes, "recv_bytes": vhost.kbps.recv_bytes,
            "kbps": vhost.kbps.dumps(), "hls": dict(info.get("hls") or {"enabled": False}),
        }

    def dumps_vhosts(self) -> list[dict]:
        return [self.dump_vhost(v) for v in self._vhosts.values()]

    def dump_stream(self, stream: StreamStat, now_ms: int) -> dict:
        obj = stream.dumps(now_ms)
        extra = self.stream_extra
        if extra is not None:
            try:
                obj.update(extra(stream.vhost.name, stream.app, stream.name) or {})
            except Exception:  # noqa: BLE001 - a broken extra must not break the API
                log.exception("stream_extra failed for %s", stream.key)
        return obj

    def dumps_streams(self, now_ms: int) -> list[dict]:
        return [self.dump_stream(s, now_ms) for s in self._streams.values()]

    def dumps_clients(self, now_ms: int, start: int = 0, count: int = 10) -> list[dict]:
        clients = list(self._clients.values())[max(0, start):max(0, start) + max(0, count)]
        return [c.dumps(now_ms) for c in clients]
