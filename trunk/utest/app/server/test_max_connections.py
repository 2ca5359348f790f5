"""max_connections bounds every TCP listener together (RTMP, HTTP server, HTTP API, TCP casters).

The real server process with ``max_connections`` set low; real sockets hold the slots. A client past
the limit is closed at once: HTTP and the API answer a canned 503 first, never reading the request.
The refusals are counted in /api/v1/summaries (``system.conn_srs_refused``) and the server's fds
stay bounded under a flood, while an honest publisher and player keep going.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

import psutil

from fixtures.srs_server import Player, SrsProcess, publish_flv, wait_for

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"
CASTER = "stream_caster {{ enabled on; caster flv; output rtmp://127.0.0.1/[app]/[stream]; listen {port}; }}"
REFUSED_HTTP = b"HTTP/1.1 503 Service Unavailable\r\n"


def _server(tmp_path, limit: int, **kw) -> SrsProcess:
    srs = SrsProcess(tmp_path, **kw)
    text = open(srs.conf_path).read().replace("max_connections 2000;", f"max_connections {limit};")
    open(srs.conf_path, "w").write(text)
    return srs


def _read_all(s: socket.socket, timeout_s: float = 5.0) -> bytes:
    """What the peer sends until it closes (a reset after the bytes counts as a close)."""
    s.settimeout(timeout_s)
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return out
            out += data
    except ConnectionResetError:
        return out


def _read_response(s: socket.socket) -> bytes:
    """One HTTP response with a Content-Length body; the connection stays open (keep-alive)."""
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head


def _held_http(port: int, path: str) -> socket.socket:
    """A keep-alive connection that got one answer (so the server admitted it), then idles."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = _read_response(s)
    assert not head.startswith(REFUSED_HTTP), head
    return s


def _held_rtmp(port: int) -> socket.socket:
    """An RTMP connection past its handshake (the server admitted it), then idle."""
    from srs.protocol.rtmp_handshake import ClientHandshake

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    hs = ClientHandshake(os.urandom, 0, complex=False)
    s.sendall(hs.start())
    while not hs.done:
        data = s.recv(65536)
        assert data, "closed in handshake"
        out = hs.receive_data(data)
        if out:
            s.sendall(out)
    return s


def _refused_http(port: int, send_request: bool = False) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if send_request:
        s.sendall(b"GET /api/v1/versions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        return _read_all(s)
    finally:
        s.close()


def _refused_rtmp(port: int) -> bool:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return _read_all(s) == b""
    finally:
        s.close()


def _api(srs, path: str) -> dict:
    s = socket.create_connection(("127.0.0.1", srs.api_port), timeout=5)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = _read_all(s)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), data[:200]
    return json.loads(body)


def _conns(srs) -> dict:
    """SRS's conn_srs and our max / refused counters from /api/v1/summaries."""
    system = _api(srs, "/api/v1/summaries")["data"]["system"]
    return {k: system[k] for k in ("conn_srs", "conn_srs_max", "conn_srs_refused")}


def test_every_listener_counts_and_refuses_past_the_limit(tmp_path):
    from fixtures.srs_server import free_port

    caster_port = free_port()
    srs = _server(tmp_path, 10, global_body=CASTER.format(port=caster_port))
    with srs:
        assert wait_for(lambda: f"listen at http://0.0.0.0:{caster_port}" in srs.log_text(), 10)
        # nothing refused yet; the API's own connection is one of the server's connections
        assert wait_for(lambda: _conns(srs) == {"conn_srs": 1, "conn_srs_max": 10, "conn_srs_refused": 0}, 5)
        held = [_held_rtmp(srs.rtmp_port) for _ in range(4)]
        held += [_held_http(srs.http_port, "/nothing-here") for _ in range(3)]
        held += [_held_http(srs.api_port, "/api/v1/versions") for _ in range(3)]

        # the 11th of each kind: HTTP server, API (also one that sent its request), FLV POST caster
        for port in (srs.http_port, srs.api_port, caster_port):
            answer = _refused_http(port)
            assert answer.startswith(REFUSED_HTTP) and b"Connection: close\r\n" in answer, (port, answer)
        assert _refused_http(srs.api_port, send_request=True).startswith(REFUSED_HTTP)
        assert _refused_rtmp(srs.rtmp_port)
        refused = 5
        assert wait_for(lambda: "max_connections=10 reached" in srs.log_text(), 5)

        # a flood of 200 more: each is closed at once, the server's fds do not grow with it
        proc = psutil.Process(srs.proc.pid)
        fds_before = proc.num_fds()
        flood = []
        ports = (srs.rtmp_port, srs.http_port, srs.api_port, caster_port)
        for i in range(200):
            flood.append(socket.create_connection(("127.0.0.1", ports[i % 4]), timeout=5))
        peak = fds_before
        for s in flood:  # every flood socket is closed by the server while we still hold all of ours
            answer = _read_all(s)
            assert answer == b"" or answer.startswith(REFUSED_HTTP), answer
            peak = max(peak, proc.num_fds())
        refused += 200
        assert proc.num_fds() <= fds_before + 2 and peak <= fds_before + 8, (fds_before, peak)
        for s in flood:
            s.close()

        # one slot freed: once the server has seen the close, the API answers again, with the counts
        held.pop().close()
        deadline = time.monotonic() + 5
        while (conns := _try_conns(srs)) is None:
            refused += 1  # asked before the server saw the close: refused too, and counted
            assert time.monotonic() < deadline
        assert conns == {"conn_srs": 10, "conn_srs_max": 10, "conn_srs_refused": refused}
        # all freed: every kind of client is served again
        for s in held:
            s.close()
        assert wait_for(lambda: (_try_conns(srs) or {}).get("conn_srs") == 1, 5)
        _held_http(srs.http_port, "/nothing-here").close()
        _held_rtmp(srs.rtmp_port).close()
        assert _conns(srs)["conn_srs_refused"] == refused
        metrics = _read_all(_sent(srs.api_port, "/metrics")).decode()
        assert f"srs_connections_refused_total {refused}" in metrics
    assert "Traceback" not in srs.output()


def _sent(port: int, path: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    return s


def _try_conns(srs):
    """_conns, or None while the server still refuses the API's connection."""
    try:
        return _conns(srs)
    except AssertionError:
        return None


def test_honest_publish_and_play_decode_fully_while_a_flood_is_refused(tmp_path, media_flv):
    srs = _server(tmp_path, 6, vhost_body=REMUX)
    with srs:
        # the start-up port probes are gone before the slots are counted and filled
        assert wait_for(lambda: (_try_conns(srs) or {}).get("conn_srs") == 1, 5)
        player = Player(srs.http_url("live/livestream.flv"), read_timeout_s=3)
        player.start()  # waits for the stream (it asks before the publisher comes)
        assert wait_for(lambda: "HTTP GET /live/livestream.flv" in srs.log_text(), 10)
        publish_at = time.monotonic()
        publisher = threading.Thread(target=publish_flv, args=(media_flv.path, srs.rtmp_url("live/livestream")),
                                     kwargs={"realtime": True}, daemon=True)
        publisher.start()
        assert wait_for(lambda: "RTMP publish" in srs.log_text(), 10)
        # fill the slots left with idle keep-alive clients, until one is refused
        held = []
        while True:
            s = socket.create_connection(("127.0.0.1", srs.http_port), timeout=5)
            s.sendall(b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = _read_response(s)
            if head.startswith(REFUSED_HTTP):
                s.close()
                break
            held.append(s)
            assert len(held) <= 6
        # flood every port while the stream plays; each flood client is refused. The flood ends
        # well before the 4 s publish does (its connection's end frees a slot).
        refused = 0
        ports = (srs.rtmp_port, srs.http_port, srs.api_port)
        flood_until = publish_at + 2.5
        while time.monotonic() < flood_until and refused < 1200:
            batch = [socket.create_connection(("127.0.0.1", ports[i % 3]), timeout=5) for i in range(30)]
            for s in batch:
                answer = _read_all(s)
                assert answer == b"" or answer.startswith(REFUSED_HTTP), answer
                s.close()
            refused += len(batch)
        publisher.join(30)
        player.join(30)
        assert refused >= 30, refused
        assert player.error is None, player.error
        assert player.video_frames == media_flv.video_frames
        assert abs(player.audio_frames - media_flv.audio_frames) <= 2
        assert player.first_video_key and player.monotonic()
        for s in held:
            s.close()
    assert "Traceback" not in srs.output()


def test_reload_changes_the_limit_for_the_next_client(tmp_path):
    import signal

    srs = _server(tmp_path, 3)
    with srs:
        # the start-up port probes are gone (only the API's own connection left) before we count
        assert wait_for(lambda: (_try_conns(srs) or {}).get("conn_srs") == 1, 5)
        base = _conns(srs)["conn_srs_refused"]  # a poll above may have come while probes were counted
        held = [_held_rtmp(srs.rtmp_port) for _ in range(2)]
        assert _conns(srs)["conn_srs_max"] == 3  # the 3rd slot: the API's own connection

        def reload_to(old: int, new: int, nth: int) -> None:
            text = open(srs.conf_path).read().replace(f"max_connections {old};", f"max_connections {new};")
            open(srs.conf_path, "w").write(text)
            srs.signal(signal.SIGHUP)
            assert wait_for(lambda: srs.log_text().count("reload ok") >= nth, 10)

        reload_to(3, 2, 1)  # now full: the next client of any kind is refused
        assert _refused_http(srs.api_port).startswith(REFUSED_HTTP)
        assert _refused_rtmp(srs.rtmp_port)
        reload_to(2, 4, 2)  # room again
        assert _conns(srs) == {"conn_srs": 3, "conn_srs_max": 4, "conn_srs_refused": base + 2}
        for s in held:
            s.close()
