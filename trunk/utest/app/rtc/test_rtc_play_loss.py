"""RTMP -> WebRTC play over a lossy link: aiortc plays over WHEP through a UDP relay that loses 5% of
the datagrams each way (STUN, DTLS, SRTP and SRTCP alike, as ``tc netem loss 5%``); its NACKs are
answered from the stream's ring, so it decodes at least 95% of the frames published while it plays."""
from __future__ import annotations

import asyncio

from fixtures.media import make_flv
from fixtures.srs_server import SrsProcess, publish_flv
from srs.main.bench.srt_runs import free_udp_port
from fixtures.udp_relay import RandomLossRelay
from play_clients import RTC_VHOST, post
from aiortc import RTCPeerConnection, RTCSessionDescription

SECONDS, FPS = 8, 25


async def play(srs: SrsProcess, relay_port: int, info, seconds: float) -> dict:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    tracks = asyncio.Queue()
    pc.on("track", lambda t: tracks.put_nowait(t) if t.kind == "video" else None)
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    url = srs.api_url(f"rtc/v1/whep/?app=live&stream=lossy&eip=127.0.0.1:{relay_port}")
    status, _, answer = await loop.run_in_executor(None, post, url, pc.localDescription.sdp.encode())
    assert status == 201, answer
    await pc.setRemoteDescription(RTCSessionDescription(answer.decode(), "answer"))
    # the stream starts once the player is in (ICE + DTLS through the relay): every frame is for it
    ok = await loop.run_in_executor(None, srs.wait_log, "rtc-play __defaultVhost__/live/lossy established", 1, 20.0)
    assert ok, srs.log_text()[-3000:]
    published = loop.run_in_executor(None, lambda: publish_flv(info.path, srs.rtmp_url("live/lossy"), realtime=True))
    track = await asyncio.wait_for(tracks.get(), 20)
    pts = set()
    try:
        while True:
            frame = await asyncio.wait_for(track.recv(), 4 if pts else 20)
            pts.add(frame.pts)
    except asyncio.TimeoutError:      # the stream ended (or never came: asserted below)
        pass
    finally:
        await published
        await pc.close()
    return {"frames": len(pts)}


def test_nack_keeps_95_percent_of_frames_through_5_percent_loss(tmp_path):
    info = make_flv(tmp_path / "src.flv", seconds=SECONDS, fps=FPS, gop=FPS, audio=None)
    (tmp_path / "srs").mkdir()
    udp = free_udp_port()
    # the configured candidate (127.0.0.3, where nothing listens) fails its ICE check: media goes
    # through the relay, the answer's first candidate (?eip=)
    srs = SrsProcess(tmp_path / "srs", vhost_body=RTC_VHOST.format(""),
                     global_body=f"rtc_server {{ enabled on; listen 127.0.0.1:{udp}; candidate 127.0.0.3; }}")
    with srs:
        relay = RandomLossRelay(udp, loss=0.05)
        relay.start()
        try:
            got = asyncio.run(play(srs, relay.port, info, SECONDS))
        finally:
            relay.close()
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
    ratio = got["frames"] / info.video_frames
    print(f"5% loss ({relay.lost} of {relay.counts} datagrams): {got['frames']}/{info.video_frames} frames "
          f"decoded by aiortc ({ratio:.1%})")
    assert relay.lost["down"] >= 10, relay.lost   # ~400 datagrams to the player: about 20 lost
    assert ratio >= 0.95, (got, info.video_frames)
