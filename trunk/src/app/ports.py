"""What app components need from the server, as small ``typing.Protocol``s (issue 12 §2).

A component declares the ports it uses in its constructor and gets exactly those; the ``Server``
(app/server/server.py) builds it and passes its own parts. Test fakes implement these protocols
instead of imitating a whole server, and no production code probes them with getattr/hasattr.

The config is a *source* (a callable), never a value: a reload swaps the Server's ``Config``, so a
component that kept the object would keep reading the old one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing them here would tie this module to their imports
    from srs.app.api.statistic import ClientStat
    from srs.app.config.conf import Config
    from srs.app.live.output import Output
    from srs.app.live.source import LiveSource
    from srs.protocol.request import Request


class Clock(Protocol):
    """Wall-clock milliseconds (the Server's ``now_ms``; tests pass a clock they move)."""

    def __call__(self) -> int: ...


class ConfigSource(Protocol):
    """The running config, read at each use (a reload replaces it)."""

    def __call__(self) -> "Config": ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class HookCaller(Protocol):
    """The http_hooks a hub output fires (``HttpHooks``); all are asynchronous for the caller."""

    def on_hls(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str, duration: float,
               file: str, url: str, m3u8: str, m3u8_url: str, seq_no: int, cwd: str | None = None) -> None: ...

    def on_hls_notify(self, urls: Sequence[str] | None, req: "Request", ts_url: str, nb_notify: int,
                      cid: int = 0) -> None: ...

    def on_dvr(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str, file: str,
               cwd: str | None = None) -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class ClientDirectory(Protocol):
    """Who a connection id is (``Statistic``): its ip and tcUrl for hooks fired off its greenlet."""

    def find_client(self, cid: int) -> Optional["ClientStat"]: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class PublisherConnection(Protocol):
    """A client connection as the server's connection table holds it (``RtmpConn``)."""

    ip: str
    req: Optional["Request"]

    def kick(self) -> None: ...


# The server's connection table: cid -> connection (``Server.connections``).
Connections = Mapping[int, PublisherConnection]


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class ConnectionCounts(Protocol):
    """The max_connections gate every listener shares (``ConnectionGate``), as the API reports it."""

    @property
    def active(self) -> int: ...

    @property
    def refused(self) -> int: ...

    @property
    def limit(self) -> int: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class SourceDirectory(Protocol):
    """The live sources by URL (``SourceRegistry``), for reloads that re-wire their hub outputs."""

    @property
    def sources(self) -> Mapping[str, "LiveSource"]: ...


# ---------------------------------------------------------------------------- issue 12 §2, the rest:
# what an RTMP connection, the cluster, the ffmpeg children and the casters need.

class CidSource(Protocol):
    """A fresh connection id (the Server's ``next_cid``): each greenlet logs under its own."""

    def __call__(self) -> int: ...


class PortSource(Protocol):
    """The server's first RTMP port, read at each use (a reload of ``listen`` moves it), for the
    URLs by which ffmpeg children and casters publish back into this server."""

    def __call__(self) -> int: ...


class ListenPorts(Protocol):
    """The ports the server's RTMP listeners hold now (``listen 0`` gets one from the kernel), so
    that a forward to one of them is seen as a loop."""

    def __call__(self) -> Sequence[int]: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class ConnectionHooks(Protocol):
    """The http_hooks a client connection fires (``HttpHooks``); on_connect/on_publish/on_play
    wait for the answer (a refusal raises AccessDenied), the others are asynchronous."""

    def on_connect(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...

    def on_close(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str, send_bytes: int,
                 recv_bytes: int) -> None: ...

    def on_publish(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...

    def on_unpublish(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...

    def on_play(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...

    def on_stop(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class PlayHooks(Protocol):
    """The http_hooks of an HTTP player (``HttpHooks``): ``on_play`` may refuse (AccessDenied)."""

    def on_play(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...

    def on_stop(self, urls: Sequence[str] | None, req: "Request", cid: int, ip: str) -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class PlayerStatistic(Protocol):
    """Where a client is counted while it lives (``Statistic``)."""

    def on_client(self, cid: int, req: "Request", conn_type: str, ip: str,
                  kick: Optional[Callable[[], None]], now_ms: int) -> None: ...

    def on_disconnect(self, cid: int) -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class LiveSources(Protocol):
    """The live sources by URL (``SourceRegistry``) as a client reaches them: its own, created at
    the first use, or an existing one (a coworker's question, a redirect)."""

    def get(self, url: str) -> Optional["LiveSource"]: ...

    def fetch_or_create(self, url: str, vhost: str) -> "LiveSource": ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class EdgePuller(Protocol):
    """A player on an edge vhost makes the edge pull its stream from the origin (``EdgeManager``)."""

    def on_play(self, source: "LiveSource", req: "Request") -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class ClientStats(Protocol):
    """The stats sink a client connection reports to (``Statistic``, read by the HTTP API)."""

    def on_client(self, cid: int, req: "Request", conn_type: str, ip: str, kick: Optional[Callable[[], None]],
                  now_ms: int) -> None: ...

    def on_disconnect(self, cid: int) -> None: ...

    def on_stream_publish(self, req: "Request", cid: int) -> None: ...

    def on_stream_unpublish(self, req: "Request") -> None: ...

    def on_video_info(self, req: "Request", codec: str, profile: str, level: str, width: int, height: int) -> None: ...

    def on_audio_info(self, req: "Request", codec: str, sample_rate: int, channels: int, profile: str) -> None: ...

    def on_frames(self, req: "Request", nb: int) -> None: ...

    def add_bytes(self, cid: int, recv: int, send: int) -> None: ...


class SentBytes(Protocol):
    """What a ``SendMeter`` samples: an output's running count of sent bytes (``live.output.Output``)."""

    sent_bytes: int


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class SendMeter(Protocol):
    """Counts what a player's output sends into the statistic while it plays (sampled by the
    Server's pithy greenlet, not per send)."""

    def meter(self, cid: int, output: SentBytes) -> None: ...

    def unmeter(self, cid: int) -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class EdgeCluster(Protocol):
    """The edge of an edge vhost (``cluster.edge.EdgeManager``): pull played streams from the
    origin, push published ones to it, and let the origin check a client's token first."""

    def on_play(self, source: "LiveSource", req: "Request") -> None: ...

    def on_publish(self, source: "LiveSource", req: "Request") -> Optional[object]: ...

    def check_token(self, req: "Request") -> None: ...

