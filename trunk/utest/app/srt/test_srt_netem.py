"""SRT over a real lossy link: the publisher (ffmpeg, libsrt) in its own network namespace, joined
to the server's by a veth pair with ``tc netem loss 5% delay 30ms reorder 5%`` on both ends, the
default latency (120 ms). ARQ must repair it: a PyAV RTMP player decodes >= 99% of the published
frames, and the API shows the SRT figures (retransmissions, losses, drops, RTT ~ 60 ms).

Needs root, ``ip`` and ``tc`` and the kernel's netem qdisc; skipped (with the reason) otherwise.
Only the two ends of the veth pair carry traffic (addresses in 10.77.N.0/30, ours alone).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from fixtures.srs_server import Player, SrsProcess, wait_for
from srt_clients import FFMPEG, SOURCE, free_udp_port, need, source_frames
from test_srt_server import clients_of

NETEM = "loss 5% delay 30ms reorder 5%"
SECONDS = 8


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=20)


@pytest.fixture
def lossy_ns():
    """(namespace, server address as the namespace sees it): a veth pair, netem on both ends."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("ip") or not shutil.which("tc"):
        pytest.skip("ip/tc (iproute2) not installed")
    n = os.getpid() % 200 + 20
    ns, host_if, ns_if = f"srtloss{n}", f"vsrt{n}h", f"vsrt{n}n"
    host_ip, ns_ip = f"10.77.{n}.1", f"10.77.{n}.2"
    _run("ip", "netns", "del", ns)   # a leftover of an interrupted run
    _run("ip", "link", "del", host_if)
    try:
        steps = [("ip", "netns", "add", ns),
                 ("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if),
                 ("ip", "link", "set", ns_if, "netns", ns),
                 ("ip", "addr", "add", f"{host_ip}/30", "dev", host_if),
                 ("ip", "-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if),
                 ("ip", "link", "set", host_if, "up"),
                 ("ip", "-n", ns, "link", "set", ns_if, "up"),
                 ("ip", "-n", ns, "link", "set", "lo", "up")]
        for argv in steps:
            r = _run(*argv)
            if r.returncode != 0:
                pytest.skip(f"cannot build the namespace pair ({' '.join(argv)}): {r.stderr.strip()}")
        for argv in (("tc", "qdisc", "add", "dev", host_if, "root", "netem", *NETEM.split()),
                     ("tc", "-n", ns, "qdisc", "add", "dev", ns_if, "root", "netem", *NETEM.split())):
            r = _run(*argv)
            if r.returncode != 0:
                pytest.skip(f"no netem here ({' '.join(argv)}): {r.stderr.strip()}")
        yield ns, host_ip
    finally:
        _run("ip", "netns", "del", ns)
        _run("ip", "link", "del", host_if)


def test_default_latency_publish_over_netem_decodes_99_percent(lossy_ns, tmp_path):
    ns, server_ip = lossy_ns
    need(FFMPEG, "ffmpeg")
    port = free_udp_port()
    stream = "live/netem"
    with SrsProcess(tmp_path, vhost_body="srt { enabled on; }",
                    global_body=f"srt_server {{ enabled on; listen {port}; }}") as srs:
        assert srs.wait_log("SRT listen at udp://0.0.0.0:"), srs.output()
        rtmp = Player(srs.rtmp_url(stream), max_seconds=60, read_timeout_s=5)
        rtmp.start()
        assert srs.wait_players(stream, 1)
        url = f"srt://{server_ip}:{port}?linger=2&streamid=#!::r={stream},m=publish"   # default latency
        pub = subprocess.Popen(["ip", "netns", "exec", ns, FFMPEG, "-hide_banner", "-loglevel", "error", "-re",
                                "-i", SOURCE, "-t", str(SECONDS), "-c", "copy", "-f", "mpegts", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # the figures while it publishes: the link's losses repaired, its RTT measured (~60 ms)
            def repaired():
                c = clients_of(srs, "srt-publish")
                return c if c and c[0]["srt"]["recv_retransmitted"] > 0 and c[0]["srt"]["rtt_ms"] >= 40 else None
            entry = wait_for(repaired, timeout_s=SECONDS + 10)
            _, err = pub.communicate(timeout=60)
        finally:
            if pub.poll() is None:
                pub.kill()
        assert entry, srs.log_text()[-3000:]
        fig = entry[0]["srt"]
        assert {"recv_retransmitted", "recv_lost", "recv_dropped", "rtt_ms"} <= set(fig)
        assert fig["recv_lost"] > 0 and fig["latency_ms"] == 120 and fig["rtt_ms"] < 1000, fig
        assert pub.returncode == 0, err.decode(errors="replace")
        assert srs.wait_unpublished(stream, timeout_s=20)
        rtmp.join(30)
    want = source_frames(SECONDS)
    assert rtmp.error is None, rtmp.error
    assert rtmp.video_frames >= 0.99 * want["h264"] and rtmp.audio_frames >= 0.99 * want["aac"], (
        rtmp.video_frames, rtmp.audio_frames, want)
