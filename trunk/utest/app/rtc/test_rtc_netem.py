"""WebRTC over a real lossy link (issue 15): the client in its own network namespace, joined to the
server's by a veth pair that loses 5% of the packets each way (``netem loss 5%``; by the kernel's
netfilter queue where the kernel has no netem qdisc, see fixtures/lossy_link.py). STUN, DTLS, SRTP
and SRTCP all cross it; NACK must keep >= 95% of the frames decodable, both ways:

- publish: aiortc (a subprocess in the namespace) publishes a file; our NACKs get the lost RTP
  retransmitted; a PyAV RTMP player decodes the bridged stream;
- play: aiortc (a thread in the namespace) plays over WHEP an RTMP stream; its NACKs are answered from
  the stream's ring.

Needs root and iproute2 (plus tc or iptables); skipped otherwise.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading

from aiortc import RTCPeerConnection, RTCSessionDescription

from fixtures.lossy_link import lossy_link  # noqa: F401 - the fixture
from fixtures.media import make_flv
from fixtures.netns import enter
from fixtures.srs_server import Player, SrsProcess, publish_flv
from play_clients import RTC_VHOST, post
from srs.main.bench.srt_runs import free_udp_port

NETEM = "loss 5%"
SECONDS, FPS = 8, 25
HERE = os.path.dirname(os.path.abspath(__file__))


def _server(tmp_path, link, rtc: str) -> SrsProcess:
    (tmp_path / "srs").mkdir()
    udp = free_udp_port()
    return SrsProcess(tmp_path / "srs", vhost_body=RTC_VHOST.format(rtc),
                      global_body=f"rtc_server {{ enabled on; listen {udp}; candidate {link.server_ip}; }}")


def test_publish_over_a_lossy_link_keeps_95_percent_of_frames(lossy_link, tmp_path):  # noqa: F811
    link = lossy_link(NETEM)
    info = make_flv(tmp_path / "src.flv", seconds=SECONDS, fps=FPS, gop=FPS, audio="aac")
    stream = "live/lossy"
    with _server(tmp_path, link, "rtc_to_rtmp on;") as srs:
        player = Player(srs.rtmp_url(stream), max_seconds=60, read_timeout_s=6)
        player.start()
        assert srs.wait_players(stream), srs.log_text()[-3000:]
        api = f"http://{link.server_ip}:{srs.api_port}/rtc/v1/publish/"
        pub = subprocess.run(link.cmd([sys.executable, os.path.join(HERE, "publish_clients.py"), api, stream,
                                       info.path, str(SECONDS + 3)]), capture_output=True, timeout=90)
        assert pub.returncode == 0, pub.stderr.decode(errors="replace")[-3000:]
        assert srs.wait_unpublished(stream, timeout_s=40), srs.log_text()[-3000:]
        player.join(30)
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
        nacks = re.search(r"RTC publish __defaultVhost__/live/lossy ended: .* nacks=(\d+)", log)
        assert nacks and int(nacks.group(1)) > 10, log[-3000:]
    link.down()
    counts = link.counts()
    ratio = player.video_frames / info.video_frames
    print(f"WebRTC publish over {link.how} ({NETEM}): link {counts}, {nacks.group(1)} NACKs; "
          f"{player.video_frames}/{info.video_frames} frames decoded ({ratio:.1%}), {player.audio_frames} AAC frames")
    if link.how == "nfqueue":
        assert counts["lost_out"] > 20, counts          # ~800 packets from the publisher: ~40 lost
    assert player.error is None, player.error
    assert player.first_video_key and player.monotonic()
    assert ratio >= 0.95, (player.video_frames, info.video_frames)


async def _play(url: str) -> int:
    """Plays ``url`` (WHEP) with aiortc until the stream ends: the distinct frames decoded."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    pc.on("track", lambda t: tracks.put_nowait(t) if t.kind == "video" else None)
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    status, _, answer = await loop.run_in_executor(None, post, url, pc.localDescription.sdp.encode())
    assert status == 201, answer
    await pc.setRemoteDescription(RTCSessionDescription(answer.decode(), "answer"))
    track = await asyncio.wait_for(tracks.get(), 30)
    pts = set()
    try:
        while True:
            frame = await asyncio.wait_for(track.recv(), 4 if pts else 30)
            pts.add(frame.pts)
    except asyncio.TimeoutError:      # the stream ended (or never came: asserted by the caller)
        pass
    finally:
        await pc.close()
    return len(pts)


def test_play_over_a_lossy_link_keeps_95_percent_of_frames(lossy_link, tmp_path):  # noqa: F811
    link = lossy_link(NETEM)
    info = make_flv(tmp_path / "src.flv", seconds=SECONDS, fps=FPS, gop=FPS, audio=None)
    box: dict = {}
    with _server(tmp_path, link, "") as srs:
        url = f"http://{link.server_ip}:{srs.api_port}/rtc/v1/whep/?app=live&stream=lossy"

        def run() -> None:            # aiortc's sockets are made in this thread: in the namespace
            try:
                enter(link.ns)
                box["frames"] = asyncio.run(_play(url))
            except BaseException as e:  # noqa: BLE001 - re-raised below
                box["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        # the stream starts once the player is in (ICE + DTLS over the lossy link): every frame is for
        # it; the RTMP publisher stays on loopback (only WebRTC crosses the lossy link)
        established = srs.wait_log("rtc-play __defaultVhost__/live/lossy established", 1, 30.0)
        if established:
            publish_flv(info.path, srs.rtmp_url("live/lossy"), realtime=True)
        t.join(60)
        assert established, srs.log_text()[-3000:]
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
    if "error" in box:
        raise box["error"]
    link.down()
    counts = link.counts()
    ratio = box["frames"] / info.video_frames
    print(f"WebRTC play over {link.how} ({NETEM}): link {counts}; {box['frames']}/{info.video_frames} "
          f"frames decoded by aiortc ({ratio:.1%})")
    if link.how == "nfqueue":
        assert counts["lost_in"] >= 10, counts          # ~400 packets to the player: ~20 lost
    assert ratio >= 0.95, (box["frames"], info.video_frames)
