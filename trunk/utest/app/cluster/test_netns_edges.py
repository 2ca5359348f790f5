"""One origin, two edges on their own hosts (network namespaces, fixtures/netns.py): SRS's CDN both ways.

The encoder publishes to edge1, which pushes the stream up to the origin (SrsPublishEdge); players on
edge2 and edge1 and on the origin itself, all on the client host, decode it: edge2 pulls it once from
the origin for its RTMP and HTTP-FLV players.
"""
from fixtures.netns import NetnsServer, NsPlayer, NsPublisher, netns_hosts  # noqa: F401 - a fixture
from fixtures.srs_server import subdir

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def test_publish_on_one_edge_plays_on_the_other(netns_hosts, tmp_path, media_flv):  # noqa: F811
    net = netns_hosts("origin1", "edge1", "edge2", "client")
    origin = NetnsServer(net, "origin1", subdir(tmp_path, "origin1"))
    edge_body = f"cluster {{ mode remote; origin {origin.address}:1935; }}\n{REMUX}"
    e1 = NetnsServer(net, "edge1", subdir(tmp_path, "edge1"), vhost_body=edge_body)
    e2 = NetnsServer(net, "edge2", subdir(tmp_path, "edge2"), vhost_body=edge_body)
    with origin, e1, e2:
        pub = NsPublisher(net, "client", media_flv.path, e1.rtmp_url("live/show"), loops=8)
        pub.start()
        assert origin.wait_published("live/show", timeout_s=20), e1.log_text()[-2000:]
        assert f"edge publish __defaultVhost__/live/show forwarded to origins {origin.address}:1935" in e1.log_text()

        players = [NsPlayer(net, "client", e2.rtmp_url("live/show"), read_timeout_s=5, stop_after_video=50),
                   NsPlayer(net, "client", e2.http_url("live/show.flv"), read_timeout_s=5, stop_after_video=50),
                   NsPlayer(net, "client", e1.rtmp_url("live/show"), read_timeout_s=5, stop_after_video=50),
                   NsPlayer(net, "client", origin.rtmp_url("live/show"), read_timeout_s=5, stop_after_video=50)]
        for p in players:
            p.start()
        for p in players:
            p.join(30)
        for p in players:
            assert p.error is None, (p.url, p.error)
            assert p.first_video_key is True and p.video_frames >= 50, (p.url, p.video_frames)
            assert (p.width, p.height) == (320, 240) and p.acodec == "aac"
        # edge2 pulled once for its two players, from the origin's address
        log2 = e2.log_text()
        assert log2.count(f"edge pull __defaultVhost__/live/show from origin {origin.address}:1935") == 1, log2
        assert pub.error is None
