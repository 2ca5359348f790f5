"""WebRTC publishers for the tests: aiortc sending a media file (H.264 + Opus) over SRS 4's JSON
``/rtc/v1/publish/``, in-process or as a script (``python publish_clients.py API_URL app/stream FILE
SECONDS``, e.g. behind a lossy relay); and PyAV's (FFmpeg 8) ``whip`` muxer, as a script only
(``python publish_clients.py --pyav-whip WHIP_URL SECONDS``): its network calls hold the GIL."""
from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 3)[0])    # utest/: the fixtures package
from play_clients import post  # noqa: E402 - after the path set up for the script form


def json_publish(api_url: str, stream: str, offer: str) -> str:
    """SRS 4's publish API: JSON in, the answer out (asserting code 0)."""
    host = api_url.split("//", 1)[1].split(":", 1)[0]
    body = json.dumps({"api": api_url, "streamurl": f"webrtc://{host}/{stream}", "clientip": None,
                       "sdp": offer}).encode()
    status, _, data = post(api_url, body, "application/json")
    reply = json.loads(data)
    assert status == 200 and reply["code"] == 0, (status, reply)
    return reply["sdp"]


def whip_publish(api_url: str, stream: str, offer: str) -> str:
    """WHIP: ``api_url`` is the server's ``/rtc/v1/whip/``; the SDP offer in, 201 and the answer out."""
    app, _, name = stream.rpartition("/")
    status, headers, data = post(f"{api_url}?app={app}&stream={name}", offer.encode())
    assert status == 201 and headers.get("Location"), (status, data)
    return data.decode()


async def aiortc_publish(api_url: str, stream: str, path: str, seconds: float, loop: bool = False,
                         signalling=json_publish) -> None:
    """Publish ``path`` (played in real time by aiortc's MediaPlayer, ``loop``ed or not) for ``seconds``,
    H.264 preferred; ``signalling`` is ``json_publish`` (SRS 4's API) or ``whip_publish``."""
    pc = RTCPeerConnection()
    media = MediaPlayer(path, loop=loop)
    for track in (media.video, media.audio):
        pc.addTransceiver(track, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    next(t for t in pc.getTransceivers() if t.kind == "video").setCodecPreferences(h264)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await asyncio.get_running_loop().run_in_executor(None, signalling, api_url, stream,
                                                              pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await asyncio.sleep(seconds)
    await pc.close()


def pyav_whip(url: str, seconds: float) -> None:
    """FFmpeg's WHIP muxer: a 320x240 H.264 (baseline, no B-frames) + Opus test signal in real time."""
    import time

    import av
    from fixtures.media_ex import _opus_frame
    out = av.open(url, "w", format="whip")
    video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "tune": "zerolatency", "g": "25",
                                                        "bf": "0", "profile": "baseline"})
    video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
    audio = out.add_stream("libopus", rate=48000, layout="stereo")
    try:
        for i in range(int(seconds * 25)):
            frame = av.VideoFrame(320, 240, "yuv420p")
            frame.pts = i
            for p in video.encode(frame):
                out.mux(p)
            for k in range(2):
                for p in audio.encode(_opus_frame("flt", 960, (2 * i + k) * 960)):
                    out.mux(p)
            time.sleep(0.04)
    finally:
        out.close()


if __name__ == "__main__":
    if sys.argv[1] == "--pyav-whip":
        pyav_whip(sys.argv[2], float(sys.argv[3]))
    else:
        asyncio.run(aiortc_publish(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
