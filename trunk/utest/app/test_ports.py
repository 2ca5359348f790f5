"""The Server hands its components its own parts, typed by app.ports, and a config *source*: after a
reload swaps ``server.config``, every component reads the new one (none kept the old object)."""
from __future__ import annotations

from srs.app.config.conf import Config
from srs.app.dvr.plan import Dvr
from srs.app.hds.muxer import HdsStream
from srs.app.hls.muxer import HlsStream
from srs.app.live.source import LiveSource, SourceOptions
from srs.app.ports import (ClientDirectory, ClientStats, ConnectionCounts, ConnectionHooks, EdgeCluster, HookCaller,
                           SendMeter, SourceDirectory, LiveSources)
from srs.app.server.server import Server
from srs.app.snapshot.cache import SnapshotOutput

VHOST = "__defaultVhost__"
URL = VHOST + "/live/livestream"


def conf(vhost_body: str) -> Config:
    return Config.parse_text(f"listen 1935; http_api {{ enabled on; }} vhost {VHOST} {{ {vhost_body} }}")


def hub_outputs(server: Server) -> list:
    src = LiveSource(URL, SourceOptions())
    return [out for out in (factory(src, VHOST) for factory in server.sources.hub_factories) if out is not None]


def test_server_parts_implement_the_ports():
    server = Server(conf(""))
    assert isinstance(server.hooks, HookCaller) and isinstance(server.statistic, ClientDirectory)
    assert isinstance(server.gate, ConnectionCounts) and isinstance(server.sources, SourceDirectory)
    hls = server.hls
    assert hls.hooks is server.hooks and hls.connections is server.connections and hls.sources is server.sources
    assert hls.cwd == server.cwd and server.api_app.gate is server.gate


def test_rtmp_connections_get_the_server_parts_as_their_ports():
    """What an RTMP connection depends on, in one place: the keywords the Server binds."""
    server = Server(conf(""))
    ports = server.make_rtmp_conn.keywords
    assert set(ports) == {"config", "clock", "hooks", "sources", "stats", "meter", "edge", "bandcheck_gate"}
    assert isinstance(ports["hooks"], ConnectionHooks) and isinstance(ports["sources"], LiveSources)
    assert isinstance(ports["stats"], ClientStats) and isinstance(ports["meter"], SendMeter)
    assert isinstance(ports["edge"], EdgeCluster) and ports["edge"] is server.edge
    assert ports["config"]() is server.config and ports["bandcheck_gate"] is server.bandcheck
    ffmpeg = server.ffmpeg
    assert ffmpeg.children is server.children and ffmpeg.cwd == server.cwd and ffmpeg.config() is server.config
    assert ffmpeg.rtmp_port() == 1935 and server.ingesters.ports is ffmpeg


def test_a_reload_reaches_every_component_through_the_config_source(tmp_path):
    server = Server(conf(""))
    # snapshots (http on by default) keep each source's latest keyframe; nothing else runs unconfigured
    assert [type(o) for o in hub_outputs(server)] == [SnapshotOutput] and server.hls.config() is server.config
    new = conf(f"hls {{ enabled on; hls_path {tmp_path}; }} dvr {{ enabled on; dvr_path {tmp_path}/x.flv; }} "
               f"hds {{ enabled on; hds_path {tmp_path}; }}")
    server.config = new  # what Server.reload does before apply_reload
    kinds = {type(out) for out in hub_outputs(server)}
    assert {HlsStream, Dvr, HdsStream} <= kinds
    assert server.hls.config() is new and server.api_app.current_config() is new
