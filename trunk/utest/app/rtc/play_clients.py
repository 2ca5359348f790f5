"""WebRTC players for the server's tests: an aiortc WHEP client (decodes frames in the test's own
asyncio loop) and the helpers that start a server with WebRTC on and a stream published into it."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

from aiortc import RTCPeerConnection, RTCSessionDescription

from fixtures.chromium_cdp import browser_port
from fixtures.srs_server import SrsProcess
from srs.main.bench.srt_runs import free_udp_port

RTC_VHOST = "rtc {{ enabled on; rtmp_to_rtc on; {} }}\nplay {{ mw_latency 100; }}"


def rtc_server(tmp_path, vhost_body: str = "", global_body: str = "", rtc: str = "", **kw) -> SrsProcess:
    """A server with rtc_server on a free UDP port of 127.0.0.1, its candidate: bound to 0.0.0.0 the
    kernel would answer a peer on another local address from that address, and ICE checks the source."""
    udp = browser_port(free_udp_port)   # the answer's candidate: Chromium never checks one on a restricted port
    srs = SrsProcess(tmp_path, vhost_body=RTC_VHOST.format(rtc) + "\n" + vhost_body, **kw,
                     global_body=f"rtc_server {{ enabled on; listen 127.0.0.1:{udp}; candidate 127.0.0.1; }}\n" + global_body)
    srs.rtc_port = udp
    return srs


def post(url: str, body: bytes, content_type: str = "application/sdp", method: str = "POST", timeout_s: float = 10):
    """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


async def aiortc_play(offer_to_answer, frames_wanted: int, timeout_s: float, audio: bool = True,
                      stamp=None) -> dict:
    """aiortc offers to receive video (and audio); ``offer_to_answer(sdp) -> answer sdp`` is the
    signalling; returns the decoded video frames [(width, height, key_frame, pts)] and audio frames;
    ``stamp()``, if given, is read as each video frame is decoded (``result["stamps"]``)."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    if audio:
        pc.addTransceiver("audio", direction="recvonly")
    tracks = {}
    got = asyncio.Event()

    def on_track(track):
        tracks[track.kind] = track
        if "video" in tracks:
            got.set()
    pc.on("track", on_track)
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, offer_to_answer, pc.localDescription.sdp)
    answered = time.monotonic()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    result = {"video": [], "audio": 0, "audio_pts": [], "first_frame_s": None, "stamps": []}

    async def read_audio(track):
        while True:
            frame = await track.recv()
            result["audio"] += 1
            result["audio_pts"].append(frame.pts)
    audio_task = None
    try:
        await asyncio.wait_for(got.wait(), timeout_s)
        if "audio" in tracks:
            audio_task = asyncio.ensure_future(read_audio(tracks["audio"]))
        track = tracks["video"]
        while len(result["video"]) < frames_wanted:
            frame = await asyncio.wait_for(track.recv(), timeout_s)
            if result["first_frame_s"] is None:     # ICE + DTLS + the GOP burst + the first decode
                result["first_frame_s"] = time.monotonic() - answered
            result["video"].append((frame.width, frame.height, frame.key_frame, frame.pts))
            if stamp is not None:
                result["stamps"].append(stamp())
    finally:
        if audio_task is not None:
            audio_task.cancel()
        await pc.close()
    return result


def whep_answer(srs: SrsProcess, stream: str = "livestream", app: str = "live"):
    """The signalling of a WHEP player: POST the offer, check 201 + Location, return the answer."""
    def exchange(offer: str) -> str:
        status, headers, body = post(srs.api_url(f"rtc/v1/whep/?app={app}&stream={stream}"), offer.encode())
        assert status == 201, (status, body)
        assert headers.get("Content-Type", "").startswith("application/sdp")
        exchange.location = headers["Location"]
        return body.decode()
    exchange.location = ""
    return exchange


def json_play_answer(srs: SrsProcess, stream: str = "livestream"):
    """SRS 4's /rtc/v1/play/: JSON in, JSON with the answer out."""
    def exchange(offer: str) -> str:
        body = json.dumps({"api": srs.api_url("rtc/v1/play/"), "streamurl": f"webrtc://127.0.0.1/live/{stream}",
                           "clientip": None, "sdp": offer}).encode()
        status, _, data = post(srs.api_url("rtc/v1/play/"), body, "application/json")
        assert status == 200, (status, data)
        reply = json.loads(data)
        assert reply["code"] == 0 and reply["sessionid"], reply
        exchange.sessionid = reply["sessionid"]
        return reply["sdp"]
    return exchange
