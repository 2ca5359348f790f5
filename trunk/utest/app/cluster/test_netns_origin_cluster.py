"""An origin cluster of three across hosts (network namespaces, fixtures/netns.py).

origin1..3 list the three HTTP APIs as coworkers (SRS's origin.cluster.serverA/B/C.conf). The stream is
published on origin2 only. A player asking origin1 or origin3 gets SRS's RTMP 302 to origin2's own
address (found through /api/v1/clusters across hosts, not a loopback guess) and plays there; an edge
on a fourth host whose origin list starts with the wrong origin follows the 302 for its players.
"""
import pytest

from fixtures.netns import NetnsServer, NsPlayer, NsPublisher, netns_hosts  # noqa: F401 - a fixture
from fixtures.srs_server import subdir, wait_for
from srs.app.rtmp.client import Redirected, RtmpClient, open_client

ORIGINS = ("origin1", "origin2", "origin3")


def _redirect_of(server, stream: str) -> Redirected:
    """Plays ``stream`` on ``server`` with our RTMP client; the 302 it gets."""
    c = RtmpClient(server.address, server.RTMP, 5)
    try:
        c.connect(f"rtmp://{server.address}:{server.RTMP}/live", "live")
        c.play(stream)
        with pytest.raises(Redirected) as info:
            for _ in range(20):
                list(c.read_messages(3))
    finally:
        c.close()
    return info.value


def _media_kinds(url: str) -> set:
    c, stream = open_client(url, 5)
    kinds: set = set()
    try:
        c.play(stream)
        for _ in range(50):
            kinds.update(m.kind for m in c.read_messages(3))
            if {8, 9} <= kinds:
                break
    finally:
        c.close()
    return kinds


def test_origin_cluster_of_three_redirects_across_hosts(netns_hosts, tmp_path, media_flv):  # noqa: F811
    net = netns_hosts(*ORIGINS, "edge1", "client")
    apis = " ".join(f"{net.ip(h)}:{NetnsServer.API}" for h in ORIGINS)
    cluster = f"cluster {{ mode local; origin_cluster on; coworkers {apis}; }}"
    o1, o2, o3 = (NetnsServer(net, h, subdir(tmp_path, h), vhost_body=cluster) for h in ORIGINS)
    edge = NetnsServer(net, "edge1", subdir(tmp_path, "edge1"),
                       vhost_body=f"cluster {{ mode remote; origin {o3.address}:1935; }}")
    with o1, o2, o3, edge:
        pub = NsPublisher(net, "client", media_flv.path, o2.rtmp_url("live/show"), loops=8)
        pub.start()
        assert o2.wait_published("live/show")

        target = f"rtmp://{o2.address}:1935/live/show"
        for wrong in (o1, o3):
            got = net.call("client", _redirect_of, wrong, "show")
            assert got.url == target, (wrong.host, got.url)
            assert (got.host, got.port, got.code) == (o2.address, 1935, 2997)
            assert wrong.wait_log(f"redirected to {target}")
        assert {8, 9} <= net.call("client", _media_kinds, target)

        # FFmpeg's RTMP does not follow a 302 (it reports the onStatus error): a PyAV player plays the URL
        # the 302 named, as a client that follows it (Flash, SRS's librtmp) does; SRS pairs an origin
        # cluster with edges, which follow it themselves: a PyAV player on the edge
        players = [NsPlayer(net, "client", got.url, read_timeout_s=5, stop_after_video=50),
                   NsPlayer(net, "client", edge.rtmp_url("live/show"), read_timeout_s=5, stop_after_video=50)]
        for p in players:
            p.start()
        for p in players:
            p.join(30)
        assert wait_for(lambda: f"redirects to {target}" in edge.log_text(), 5)
        for p in players:
            assert p.error is None, (p.url, p.error)
            assert p.first_video_key is True and p.video_frames >= 50, (p.url, p.video_frames)
            assert (p.width, p.height) == (320, 240)
