"""The sans-IO SRT listener against real libsrt clients over UDP on 127.0.0.1 (no server yet):
ffmpeg publishes and plays MPEG-TS (frame-complete), srt-live-transmit moves bytes both ways with
its default 1456-byte payloads (byte-exact), and encryption works with 16- and 32-byte keys while a
wrong or missing passphrase is refused with libsrt's reason codes."""
from __future__ import annotations

import io
import os
import pathlib
import socket
import subprocess
import time

import av
import pytest

from srs.protocol.srt.crypto import REJ_BADSECRET, REJ_UNSECURE
from srs.protocol.srt.handshake import (URQ_CONCLUSION, URQ_INDUCTION, Handshake, ListenerConfig,
                                        rejection_reason)
from srs.protocol.srt.packet import HANDSHAKE, SHUTDOWN, ControlPacket, DataPacket, parse_packet

from udp_harness import SrtHarness

TRUNK = pathlib.Path(__file__).resolve().parents[3]
SOURCE_FLV = TRUNK / "doc" / "source.200kbps.768x320.flv"
SECONDS = 3
PASSPHRASE = "srs-srt-passphrase"
# A long receive latency keeps TSBPD from dropping anything when the machine is loaded; the client's
# own 120 ms is negotiated up to it.
CONFIG = dict(recv_latency_ms=1000)


@pytest.fixture(scope="module")
def source_ts(tmp_path_factory):
    path = tmp_path_factory.mktemp("srt") / "source.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-t", str(SECONDS), "-i", str(SOURCE_FLV), "-c", "copy",
                    "-f", "mpegts", "-y", str(path)], check=True, timeout=30)
    data = path.read_bytes()
    return data, video_frames(data)


def video_frames(ts: bytes) -> list:
    """Decoded video frames' key flags, in order."""
    with av.open(io.BytesIO(bytes(ts)), format="mpegts") as c:
        return [f.key_frame for f in c.decode(video=0)]


def ffmpeg(*args, check=True):
    return subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *args], capture_output=True, text=True,
                          timeout=30, check=check)


def srt_url(h, sid, **params):
    query = "".join(f"&{k}={v}" for k, v in params.items())
    return f"srt://127.0.0.1:{h.port}?streamid={sid}{query}"


def chunks(data, size=1316):
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_ffmpeg_publish_is_frame_complete(source_ts):
    _, frames = source_ts
    sid = "#!::r=live/livestream,m=publish"
    with SrtHarness(ListenerConfig(**CONFIG)) as h:
        ffmpeg("-re", "-t", str(SECONDS), "-i", str(SOURCE_FLV), "-c", "copy", "-f", "mpegts", srt_url(h, sid))
        h.wait(lambda: h.closed, 10)
        got = video_frames(h.received[sid])
        assert h.accepted == [sid]
        assert h.payload_sizes <= {188 * n for n in range(1, 8)}   # ffmpeg sends up to 7 TS packets
    assert len(got) == len(frames) == 25 * SECONDS
    assert got[0]


def hostile_datagrams(h) -> list:
    """Garbage, absurd lengths, wrong cookies, inductions, data for unknown or stolen socket ids."""
    conn = next(iter(h.by_id.values()))
    wrong_cookie = Handshake(5, 0, 5, 1, 1500, 8192, URQ_CONCLUSION, 77, 0xDEADBEEF,
                             extensions=[(1, bytes(12))]).build()
    induction = Handshake(4, 0, 2, 1, 1500, 8192, URQ_INDUCTION, 78, 0).build()
    return [os.urandom(n) for n in (0, 1, 15, 16, 17, 100, 1400, 1500)] + [
        ControlPacket(HANDSHAKE, 0, 0, wrong_cookie).build(),
        ControlPacket(HANDSHAKE, 0, 0, induction).build(),
        ControlPacket(HANDSHAKE, 0, 0, induction[:40]).build(),
        DataPacket(1, 1, 0, 0x12345, b"\x47" * 188).build(),            # unknown socket id
        DataPacket(conn.receiver.head, 1, 0, conn.socket_id, b"x").build(),  # right id, wrong address
        ControlPacket(SHUTDOWN, 0, conn.socket_id, bytes(4)).build(),      # a spoofed shutdown
    ]


def test_hostile_datagrams_leave_a_publisher_untouched(source_ts):
    _, frames = source_ts
    sid = "#!::r=live/livestream,m=publish"
    with SrtHarness(ListenerConfig(**CONFIG)) as h:
        proc = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-re", "-t", str(SECONDS), "-i",
                                 str(SOURCE_FLV), "-c", "copy", "-f", "mpegts",
                                 # 3 s of TSBPD (µs): the flood may crowd out some of ffmpeg's packets,
                                 # whose retransmissions must not count as late on a loaded host
                                 srt_url(h, sid, latency=3_000_000)])
        try:
            h.wait(lambda: h.accepted, 10)
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]  # many ports
            try:
                for _ in range(10):
                    for s in socks:
                        for d in hostile_datagrams(h):
                            s.sendto(d, ("127.0.0.1", h.port))
            finally:
                for s in socks:
                    s.close()
            assert proc.wait(30) == 0
        finally:
            proc.kill()
        h.wait(lambda: h.closed, 10)
        assert h.accepted == [sid] and h.dropped >= 10 * 20 * 12
        assert h.closed[0][1].value == "peer-shutdown"
        got = video_frames(h.received[sid])
    assert len(got) == len(frames) and got[0]


def test_ffmpeg_play_is_frame_complete(source_ts, tmp_path):
    data, frames = source_ts
    out = tmp_path / "play.ts"
    with SrtHarness(ListenerConfig(**CONFIG), play_payloads=chunks(data), linger_us=300_000) as h:
        ffmpeg("-i", srt_url(h, "#!::r=live/x,m=request"), "-c", "copy", "-f", "mpegts", "-y", str(out))
        h.wait(lambda: h.closed, 10)
        assert h.closed[0][2]["send_pkts"] == len(chunks(data))
    got = video_frames(out.read_bytes())
    assert len(got) == len(frames) and got[0]


def test_arq_recovers_every_tenth_packet_lost_both_ways(source_ts, tmp_path):
    """Our NAKs make libsrt retransmit; libsrt's NAKs make us retransmit: still frame-complete."""
    data, frames = source_ts
    sid = "#!::r=live/lossy,m=publish"
    with SrtHarness(ListenerConfig(**CONFIG), lose_every=10) as h:
        # linger: the last packets (the muxer's final burst) may be among the lost ones; libsrt then
        # waits for their retransmission before it closes, instead of dropping its queue
        ffmpeg("-re", "-t", str(SECONDS), "-i", str(SOURCE_FLV), "-c", "copy", "-f", "mpegts",
               srt_url(h, sid, linger=2))
        h.wait(lambda: h.closed, 10)
        stats = h.closed[0][2]
        assert h.lost_in >= 10 and stats["recv_lost"] >= h.lost_in - 1   # the last may go unnoticed
        assert stats["recv_retransmitted"] >= stats["recv_lost"] - 1 and stats["rtt_us"] < 100_000
        assert len(video_frames(h.received[sid])) == len(frames)
    out = tmp_path / "play.ts"
    # libsrt must get our retransmissions before its TSBPD time: 500 ms (negotiated up from 120) leaves
    # room for a loaded machine; closing waits longer than that, or libsrt drops what it still holds
    lossy = ListenerConfig(peer_latency_ms=500, **CONFIG)
    with SrtHarness(lossy, play_payloads=chunks(data), linger_us=800_000, lose_every=10) as h:
        ffmpeg("-i", srt_url(h, "#!::r=live/lossy,m=request"), "-c", "copy", "-f", "mpegts", "-y", str(out))
        h.wait(lambda: h.closed, 10)
        assert h.lost_out >= 8 and h.closed[0][2]["send_retransmitted"] >= h.lost_out
    assert len(video_frames(out.read_bytes())) == len(frames)


from srs.main.bench.srt_runs import free_udp_port  # noqa: E402 - the suite's per-worker port ranges


def test_srt_live_transmit_publish_1456_byte_payloads(source_ts):
    """srt-live-transmit reads UDP datagrams (a regular file on stdin cannot be polled) and sends
    each as one SRT payload: 1456 bytes, libsrt's live maximum, which SRS 5 refuses."""
    data, _ = source_ts
    sid = "#!::r=live/slt,m=publish"
    port = free_udp_port()
    with SrtHarness(ListenerConfig(**CONFIG)) as h:
        proc = subprocess.Popen(["srt-live-transmit", "-a:no", "-q", f"udp://127.0.0.1:{port}",
                                 srt_url(h, sid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            h.wait(lambda: h.accepted, 10)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                # srt-live-transmit opens its UDP source once the SRT side is connected: resend the
                # first datagram until something arrives, then the rest (paced, loopback)
                for _ in range(200):
                    udp.sendto(data[:1456], ("127.0.0.1", port))
                    if h.wait_for(lambda: h.received[sid], 0.05):
                        break
                first = bytes(h.received[sid][:1456])
                for part in chunks(data, 1456)[1:]:
                    udp.sendto(part, ("127.0.0.1", port))
                    time.sleep(0.001)  # pacing, not synchronisation: a UDP source has no flow control
                total = len(h.received[sid]) - len(first) + len(data)
                h.wait(lambda: len(h.received[sid]) >= total, 10)
        finally:
            proc.terminate()
            proc.wait(10)
        h.wait(lambda: h.closed, 10)
        got = bytes(h.received[sid])
    assert 1456 in h.payload_sizes and max(h.payload_sizes) == 1456
    assert got.endswith(data[1456:]) and set(chunks(got[:len(got) - len(data) + 1456], 1456)) == {data[:1456]}


def test_srt_live_transmit_play_byte_exact(source_ts):
    data, _ = source_ts
    with SrtHarness(ListenerConfig(**CONFIG), play_payloads=chunks(data, 1456), linger_us=300_000) as h:
        out = subprocess.run(["srt-live-transmit", "-a:no", "-q", srt_url(h, "#!::r=live/slt,m=request"),
                              "file://con"], capture_output=True, timeout=30)
        h.wait(lambda: h.closed, 10)
    assert out.stdout == data


@pytest.mark.parametrize("pbkeylen", [16, 32])
def test_encrypted_publish_and_play(source_ts, tmp_path, pbkeylen):
    data, frames = source_ts
    config = ListenerConfig(passphrase=PASSPHRASE, **CONFIG)
    crypt = dict(passphrase=PASSPHRASE, pbkeylen=pbkeylen)
    sid = "#!::r=live/enc,m=publish"
    with SrtHarness(config) as h:
        # -re: libsrt paces a live sender at its input rate and drops its queue on close (no linger)
        ffmpeg("-re", "-t", str(SECONDS), "-i", str(SOURCE_FLV), "-c", "copy", "-f", "mpegts",
               srt_url(h, sid, **crypt))
        h.wait(lambda: h.closed, 10)
        assert len(video_frames(h.received[sid])) == len(frames)
    out = tmp_path / "play.ts"
    with SrtHarness(config, play_payloads=chunks(data), linger_us=300_000) as h:
        ffmpeg("-i", srt_url(h, "#!::r=live/enc,m=request", **crypt), "-c", "copy", "-f", "mpegts", "-y", str(out))
        h.wait(lambda: h.closed, 10)
    assert len(video_frames(out.read_bytes())) == len(frames)


@pytest.mark.parametrize("params,reason", [
    (dict(passphrase="not-the-passphrase", pbkeylen=16), REJ_BADSECRET),
    ({}, REJ_UNSECURE),
])
def test_wrong_or_missing_passphrase_refused(source_ts, params, reason):
    with SrtHarness(ListenerConfig(passphrase=PASSPHRASE)) as h:
        r = ffmpeg("-i", str(SOURCE_FLV), "-t", "1", "-c", "copy", "-f", "mpegts",
                   srt_url(h, "#!::r=live/enc,m=publish", **params), check=False)
        assert r.returncode != 0
        h.wait(lambda: h.rejections, 5)
        reasons = {rejection_reason(Handshake.parse(parse_packet(d).cif)) for d in h.rejections}
        assert reasons == {reason} and h.accepted == []
