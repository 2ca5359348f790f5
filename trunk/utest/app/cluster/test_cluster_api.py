"""H18: forwarder and edge-pull state in /api/v1/streams, and an edge whose origin sends garbage.

Real server processes on loopback, PyAV publishers/players (fixtures.srs_server)."""
import json
import os
import socket
import threading
import time
import urllib.request

from fixtures.srs_server import Player, SrsProcess, publish_bg, subdir, wait_for


def get_json(url, timeout_s=3.0):
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read().decode())


def find_stream(srs, name):
    for s in get_json(srs.api_url("api/v1/streams"))["streams"]:
        if s["name"] == name:
            return s
    return None


def wait_stream(srs, name, cond, timeout_s=8.0):
    """Poll the API until the stream ``name`` satisfies ``cond``; returns that stream."""
    seen = []

    def matched():
        seen[:] = [find_stream(srs, name)]
        return seen[0] if seen[0] is not None and cond(seen[0]) else None
    found = wait_for(matched, timeout_s, 0.2)
    assert found, f"stream {name} never matched, last={seen[0]}"
    return found


def test_api_shows_forwarder_state(tmp_path, media_flv):
    dest = SrsProcess(subdir(tmp_path, "dest"))
    src = SrsProcess(subdir(tmp_path, "src"),
                     vhost_body=f"forward {{ enabled on; destination 127.0.0.1:{dest.rtmp_port}; }}")
    with dest, src:
        pub = publish_bg(media_flv.path, src.rtmp_url("live/fapi"))
        s = wait_stream(src, "fapi", lambda s: s["forwards"] and s["forwards"][0]["connected"]
                        and s["forwards"][0]["sent_msgs"] > 0)
        fwd = s["forwards"][0]
        assert len(s["forwards"]) == 1
        assert fwd["destination"] == f"127.0.0.1:{dest.rtmp_port}"
        assert fwd["dropped"] == 0 and fwd["retries"] == 0
        assert s["edge"] is None
        one = get_json(src.api_url(f"api/v1/streams/{s['id']}"))["stream"]
        assert one["forwards"][0]["destination"] == fwd["destination"]
        assert one["forwards"][0]["sent_msgs"] >= fwd["sent_msgs"]
        # the destination receives a plain publish: no forwarders, no edge
        d = wait_stream(dest, "fapi", lambda s: s["publish"]["active"])
        assert d["forwards"] == [] and d["edge"] is None
        pub.join(15)
        # unpublished: the forwarders are gone (the stream may be gone from the API too)
        assert wait_for(lambda: (lambda s: s is None or s["forwards"] == [])(find_stream(src, "fapi")), 5, 0.2)


def test_api_shows_edge_pull_state(tmp_path, media_flv):
    origin = SrsProcess(subdir(tmp_path, "origin"))
    edge = SrsProcess(subdir(tmp_path, "edge"),
                      vhost_body=f"cluster {{ mode remote; origin 127.0.0.1:{origin.rtmp_port}; }}")
    with origin, edge:
        pub = publish_bg(media_flv.path, origin.rtmp_url("live/eapi"))
        assert origin.wait_published("live/eapi")
        player = Player(edge.rtmp_url("live/eapi"), read_timeout_s=3, max_seconds=4, decode=False)
        player.start()
        s = wait_stream(edge, "eapi", lambda s: s["edge"] is not None and s["edge"]["connected"])
        assert s["edge"]["origin"] == f"127.0.0.1:{origin.rtmp_port}"
        assert s["edge"]["ingests"] >= 1
        assert s["forwards"] == []
        o = find_stream(origin, "eapi")
        assert o is not None and o["edge"] is None
        player.join(15)
        pub.join(15)
        assert player.error is None, player.error
        assert player.video_frames > 0


class GarbageOrigin(threading.Thread):
    """A TCP server that answers every connection with random bytes, then closes it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            try:
                conn.sendall(os.urandom(8192))
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


def test_edge_with_a_garbage_origin_retries_bounded_and_survives(tmp_path):
    garbage = GarbageOrigin()
    garbage.start()
    edge = SrsProcess(subdir(tmp_path, "edge"),
                      vhost_body=f"cluster {{ mode remote; origin 127.0.0.1:{garbage.port}; }}")
    try:
        with edge:
            player = Player(edge.rtmp_url("live/garbage"), read_timeout_s=2, max_seconds=6, decode=False)
            player.start()
            start = garbage.accepts
            time.sleep(4.0)  # measures the retry rate: attempts over 4 s (one a second, not a busy loop)
            n = garbage.accepts - start
            assert 1 <= n <= 8, n
            text = edge.log_text()
            assert f"edge pull __defaultVhost__/live/garbage from origin 127.0.0.1:{garbage.port} failed" \
                in text, text[-3000:]
            assert "unexpected error" not in text and "Traceback" not in text, text[-3000:]
            # still serving: the API answers and shows the pull as not connected
            assert edge.alive()
            v = get_json(edge.api_url("api/v1/versions"))
            assert v["code"] == 0
            s = find_stream(edge, "garbage")
            if s is not None and s["edge"] is not None:
                assert s["edge"]["connected"] is False
                assert s["edge"]["origin"] == f"127.0.0.1:{garbage.port}"
        player.join(5)
        assert player.video_frames == 0
    finally:
        garbage.stop()
