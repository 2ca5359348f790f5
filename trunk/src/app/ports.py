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


# ---------------------------------------------------------------- what a live player needs (app/http/stream.py)
@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class PlayHooks(Protocol):
    """The http_hooks of a player (``HttpHooks``): ``on_play`` may refuse (AccessDenied)."""

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
    """The live sources a player finds or creates (``SourceRegistry``)."""

    def get(self, url: str) -> Optional["LiveSource"]: ...

    def fetch_or_create(self, url: str, vhost: str) -> "LiveSource": ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class EdgePuller(Protocol):
    """A player on an edge vhost makes the edge pull its stream from the origin (``EdgeManager``)."""

    def on_play(self, source: "LiveSource", req: "Request") -> None: ...


@runtime_checkable  # the wiring test checks the Server's parts with isinstance
class TrafficMeter(Protocol):
    """Counts what a player's output sends into the statistic while it plays (the ``Server``)."""

    def meter(self, cid: int, output: "Output") -> None: ...

    def unmeter(self, cid: int) -> None: ...
