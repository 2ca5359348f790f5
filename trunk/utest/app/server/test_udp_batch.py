"""UDP GSO sends (app/server/udp_batch.py) on real loopback sockets: the receiver sees exactly the
datagrams sent, in order, with GSO, without it, and when the kernel refuses GSO mid-run."""
from __future__ import annotations

import logging
import socket

import pytest

from srs.app.server.udp_batch import GSO_MAX_SEGMENTS, UdpBatchSender, gso_runs

SO_NO_CHECK = 11     # asm-generic/socket.h: a UDP socket without checksums, which GSO refuses (EINVAL)


@pytest.fixture
def pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.settimeout(2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    yield tx, rx
    tx.close()
    rx.close()


def received(rx, n: int) -> list:
    return [rx.recv(65536) for _ in range(n)]


def frames() -> list:
    """What one tick gives a WebRTC player: a video frame cut into 1210-byte packets and a shorter
    last one, audio packets of their own sizes, a frame of one packet, a long frame past the limits."""
    out = []
    for i in range(3):
        out.append(bytes([i]) * 1210)
    out.append(b"\x03" * 411)                       # the frame's last packet
    out += [b"\x04" * 130, b"\x05" * 127, b"\x06" * 130]   # audio: sizes differ
    out.append(b"\x07" * 900)                       # a frame of one packet
    out += [bytes([8 + i % 100]) * 1210 for i in range(GSO_MAX_SEGMENTS + 10)]   # past 64 segments
    return out


def test_runs_split_where_sizes_change():
    sizes = [len(d) for d in frames()]
    runs, i = [], 0
    while i < len(sizes):
        end = gso_runs(sizes, i)
        runs.append(end - i)
        i = end
    # 3 x 1210 + the shorter last; 130 + the shorter 127; 130; 900; then 65000 // 1210 = 53 a send
    assert runs == [4, 2, 1, 1, 53, 21]
    assert sum(runs) == len(sizes) and max(runs) <= GSO_MAX_SEGMENTS
    assert gso_runs([1200, 1300, 1300], 0) == 1     # a longer datagram never joins a run


@pytest.mark.parametrize("gso", [True, False])
def test_datagrams_arrive_as_sent(pair, gso):
    tx, rx = pair
    udp = UdpBatchSender(tx, "test", gso=gso)
    data = frames()
    sent, nbytes = udp.send(data, rx.getsockname())
    assert (sent, nbytes) == (len(data), sum(map(len, data)))
    assert received(rx, len(data)) == data
    assert udp.gso is gso


def test_kernel_refusing_gso_falls_back_for_good(pair, caplog):
    caplog.set_level(logging.INFO)
    tx, rx = pair
    tx.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)    # the kernel answers a GSO send with EINVAL
    udp = UdpBatchSender(tx, "test")
    data = frames()
    assert udp.send(data, rx.getsockname())[0] == len(data)
    assert received(rx, len(data)) == data
    assert udp.gso is False
    assert sum("no UDP GSO here" in r.getMessage() for r in caplog.records) == 1


def test_a_refused_datagram_is_dropped_alone(pair):
    tx, rx = pair
    udp = UdpBatchSender(tx, "test")
    data = [b"a" * 1000, b"b" * 1000, b"c" * 70000, b"d" * 500, b"e" * 500]   # 70 KB: EMSGSIZE
    assert udp.send(data, rx.getsockname()) == (4, 3000)
    assert received(rx, 4) == [data[0], data[1], data[3], data[4]]
    assert udp.gso is True
