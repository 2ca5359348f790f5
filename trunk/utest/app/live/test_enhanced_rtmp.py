"""HEVC, AV1 and VP9 over (Enhanced) RTMP end to end (issue 17): PyAV (FFmpeg 8) publishes libx265 /
SVT-AV1 / libvpx-vp9 over RTMP, written as Enhanced RTMP tags (FourCC hvc1/av01/vp09); PyAV plays them
back over RTMP and HTTP-FLV and decodes every frame; a late player starts at a keyframe after the
sequence header; HEVC reaches HLS and HTTP-TS (stream type 0x24) that Debian's ffprobe 5.1 decodes;
AV1 is refused by TS outputs with one warning; DVR FLV keeps the tags; legacy HEVC (FLV codec
id 12, sent with our librtmp since FFmpeg only writes Enhanced tags) passes through byte for byte."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import urllib.request

import av
import pytest

from fixtures.media_ex import FlushingPlayer as Player
from fixtures.media_ex import make_flv_ex, publish_ex, publish_ex_bg
from fixtures.srs_server import SrsProcess, wait_for
from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.codec import VideoTag
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"
DECODERS = {"hevc": ("hevc",), "av1": ("libdav1d", "av1"), "vp9": ("vp9", "libvpx-vp9")}
API_CODEC = {"hevc": ("HEVC", "Main"), "av1": ("AV1", "Main"), "vp9": ("VP9", "Profile0")}


@pytest.fixture(scope="module")
def ex_media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media_ex")
    media = {c: make_flv_ex(d / f"{c}.flv", vcodec=c) for c in ("hevc", "av1", "vp9")}
    media["hevc+opus"] = make_flv_ex(d / "hevc_opus.flv", vcodec="hevc", audio="opus")
    return media


def _check_player(p: Player, media, vcodec: str, every_frame: bool = True) -> None:
    assert p.error is None, p.error
    assert p.vcodec in DECODERS[vcodec], p.vcodec
    assert (p.width, p.height) == (media.width, media.height)
    assert p.first_video_key is True
    assert p.monotonic()
    if every_frame:
        assert p.video_frames == media.video_frames
        assert abs(p.audio_frames - media.audio_frames) <= 2


def _api_stream(srs, name: str) -> dict:
    with urllib.request.urlopen(srs.api_url("api/v1/streams/"), timeout=5) as r:
        streams = json.load(r)["streams"]
    return next((s for s in streams if s["name"] == name), {})


@pytest.mark.parametrize("vcodec,acodec", [("hevc", "aac"), ("av1", "aac"), ("vp9", "aac"), ("hevc", "opus")])
def test_rtmp_and_http_flv_players_decode_every_frame(tmp_path, ex_media, vcodec, acodec):
    media = ex_media[vcodec if acodec == "aac" else f"{vcodec}+{acodec}"]
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        url = srs.rtmp_url(f"live/{vcodec}")
        rtmp = Player(url, read_timeout_s=3)
        flv = Player(srs.http_url(f"live/{vcodec}.flv"), read_timeout_s=3)
        rtmp.start()
        flv.start()
        assert srs.wait_players(f"live/{vcodec}", 2)  # both wait for the stream
        pub = publish_ex_bg(media.path, url)
        # the API names the real codec, from the sequence header, while the stream is live
        video = wait_for(lambda: _api_stream(srs, vcodec).get("video"))
        assert (video["codec"], video["profile"]) == API_CODEC[vcodec], video
        if vcodec != "vp9":  # VP9 keeps its size in the keyframes, not in the vpcC
            assert (video["width"], video["height"]) == (media.width, media.height)
        audio = wait_for(lambda: _api_stream(srs, vcodec).get("audio"))
        assert audio["codec"] == {"aac": "AAC", "opus": "Opus"}[acodec], audio
        pub.join(30)
        rtmp.join(30)
        flv.join(30)
        assert pub.error is None, pub.error
        for p in (rtmp, flv):
            _check_player(p, media, vcodec)
            assert p.acodec.startswith(acodec), p.acodec
        assert "Traceback" not in srs.log_text()


@pytest.mark.parametrize("vcodec", ["hevc", "av1"])
def test_late_player_starts_with_sequence_header_and_keyframe(tmp_path, ex_media, vcodec):
    media = ex_media[vcodec]
    with SrsProcess(tmp_path, vhost_body="gop_cache on;") as srs:
        url = srs.rtmp_url("live/late")
        pub = publish_ex_bg(media.path, url, loops=3)
        assert pub.wait_sent(1500)  # join in the middle of a GOP (GOP 1 s)
        player = Player(url, read_timeout_s=3, max_seconds=4)
        player.start()
        player.join(30)
        pub.join(30)
        # decoding at all proves the sequence header came first; the GOP cache gave a keyframe
        _check_player(player, media, vcodec, every_frame=False)
        assert player.video_frames >= media.gop


def _ffprobe_frames(url: str) -> dict:
    """Debian ffprobe's view of the video: codec, size, frames decoded."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                          "-of", "json", url], capture_output=True, text=True, timeout=60)
    streams = json.loads(out.stdout or "{}").get("streams", [])
    return streams[0] if streams else {"stderr": out.stderr}


def _playlist_complete(m3u8, media) -> bool:
    """The playlist lists the whole stream, and no segment is still being written. (No .tmp alone is not
    enough: the server renames the last segment, then rewrites the playlist; between the two the playlist
    still lists one segment fewer.)"""
    if not m3u8.exists() or glob.glob(str(m3u8.parent / "*.tmp")):
        return False
    listed = sum(float(line[8:].split(",")[0]) for line in m3u8.read_text().splitlines()
                 if line.startswith("#EXTINF:"))
    return listed >= media.duration_ms / 1000 - 0.1


def _joined_segments(m3u8, path):
    """A live m3u8 has no ENDLIST (ffprobe would wait for more): its segments joined in order."""
    with open(path, "wb") as out:
        for line in m3u8.read_text().splitlines():
            if line and not line.startswith("#"):
                out.write((m3u8.parent / line).read_bytes())
    return path


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="Debian ffprobe not installed")
def test_hevc_hls_and_http_ts_decoded_by_debian_ffprobe(tmp_path, ex_media):
    media = ex_media["hevc"]
    hls = tmp_path / "hls"
    body = f"{REMUX}\nhls {{ enabled on; hls_fragment 1; hls_window 60; hls_path {hls}; }}"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        ts_file = tmp_path / "live.ts"
        ts = Player(srs.http_url("live/h.ts"), read_timeout_s=3)
        ts.start()
        assert srs.wait_log("HTTP ts play __defaultVhost__/live/h")
        capture = subprocess.Popen(["ffmpeg", "-v", "error", "-rw_timeout", "3000000", "-i",
                                    srs.http_url("live/h.ts"), "-c", "copy", "-f", "mpegts", str(ts_file)])
        assert srs.wait_log("HTTP ts play __defaultVhost__/live/h", 2)
        publish_ex(media.path, srs.rtmp_url("live/h"), speed=2.0)
        ts.join(30)
        capture.wait(30)
        m3u8 = hls / "live" / "h.m3u8"
        assert srs.wait_log("hls: ") and wait_for(lambda: _playlist_complete(m3u8, media))
        _check_player(ts, media, "hevc")
        joined = _joined_segments(m3u8, tmp_path / "hls.ts")
        for probed in (_ffprobe_frames(str(joined)), _ffprobe_frames(str(ts_file))):
            assert probed.get("codec_name") == "hevc", probed
            assert (probed["width"], probed["height"]) == (media.width, media.height)
            assert int(probed["nb_read_frames"]) == media.video_frames, probed
        with open(hls / "live" / sorted(os.listdir(hls / "live"))[0], "rb") as f:
            assert b"\x24\xe1\x00" in f.read(376)  # PMT: stream type 0x24 on PID 0x100
        assert "Traceback" not in srs.log_text()


def test_av1_is_refused_by_hls_and_http_ts_with_one_warning(tmp_path, ex_media):
    media = ex_media["av1"]
    hls = tmp_path / "hls"
    body = f"{REMUX}\nhls {{ enabled on; hls_fragment 1; hls_window 60; hls_path {hls}; }}"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        ts = Player(srs.http_url("live/a.ts"), read_timeout_s=3)
        ts.start()
        assert srs.wait_log("HTTP ts play __defaultVhost__/live/a")
        publish_ex(media.path, srs.rtmp_url("live/a"), speed=4.0)
        ts.join(30)
        hls_warning = "hls: __defaultVhost__/live/a AV1 video cannot go into MPEG-TS"
        ts_warning = "ts: AV1 video cannot go into MPEG-TS"
        assert srs.wait_log(hls_warning) and srs.wait_log(ts_warning)
        log = srs.log_text()
        assert log.count(hls_warning) == 1 and log.count(ts_warning) == 1
        # what remains is the audio (AAC), alone in the PMT
        assert ts.error is None and ts.vcodec is None and ts.acodec == "aac", (ts.error, ts.vcodec)
        assert abs(ts.audio_frames - media.audio_frames) <= 2
        m3u8 = hls / "live" / "a.m3u8"
        assert wait_for(lambda: m3u8.exists())
        with av.open(str(m3u8)) as c:
            assert [s.type for s in c.streams] == ["audio"]


def test_hevc_dvr_flv_keeps_every_frame(tmp_path, ex_media):
    media = ex_media["hevc"]
    dvr = tmp_path / "dvr"
    body = f"dvr {{ enabled on; dvr_plan session; dvr_path {dvr}/[app]/[stream].flv; }}"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_ex(media.path, srs.rtmp_url("live/d"), speed=4.0)
        path = dvr / "live" / "d.flv"
        assert wait_for(lambda: path.exists() and srs.wait_log("dvr", 1, 0.1), 10)
        frames = []
        assert wait_for(lambda: _count_video(str(path), frames) == media.video_frames, 10), frames
        assert frames[-1][1] == "hevc"


def _count_video(path: str, out: list) -> int:
    try:
        with av.open(path) as c:
            n = sum(len(p.decode()) for p in c.demux(video=0) if p.size)
            out.append((n, c.streams.video[0].codec_context.name))
            return n
    except Exception:  # noqa: BLE001 - a file still being closed
        return 0


def _legacy_hevc(data: bytes) -> list:
    """The HEVC file's messages with its Enhanced video tags rewritten as legacy codec-id-12 ones
    (header: FrameType|12, AVCPacketType, SI24 cts), as SRS 6 and older HEVC encoders send them."""
    out = []
    for msg in iter_flv_tags(data):
        if msg.is_video:
            tag = VideoTag.parse(msg.payload)
            if tag.avc_packet_type < 0:
                continue  # Metadata has no legacy form
            head = (bytes(((tag.frame_type << 4) | 12, tag.avc_packet_type))
                    + (tag.cts & 0xFFFFFF).to_bytes(3, "big"))
            msg = Message.make(MSG_VIDEO, msg.ts_ms, head + msg.payload[tag.data_offset:])
        out.append(msg)
    return out


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="Debian ffprobe not installed")
def test_legacy_hevc_passes_through_rtmp_and_reaches_hls(tmp_path, ex_media):
    media = ex_media["hevc"]
    msgs = _legacy_hevc(media.data)
    hls = tmp_path / "hls"
    with SrsProcess(tmp_path, vhost_body=f"hls {{ enabled on; hls_fragment 1; hls_path {hls}; }}") as srs:
        url = srs.rtmp_url("live/legacy")
        player = RtmpSession(url, timeout_s=5)
        player.connect()
        player.play()
        assert srs.wait_players("live/legacy")
        with RtmpSession(url) as pub:
            pub.connect()
            pub.publish()
            pub.write_messages(msgs)
            sent = [(m.kind, m.payload) for m in msgs if m.is_av]
            got = []
            while len(got) < len(sent):
                kind, _ts, payload = player.read_flv_tag(5)
                if kind in (MSG_AUDIO, MSG_VIDEO):
                    got.append((kind, payload))
        player.close()
        assert got == sent  # byte for byte, in order
        assert srs.wait_log("video HEVC profile=Main")
        m3u8 = hls / "live" / "legacy.m3u8"
        assert wait_for(lambda: _playlist_complete(m3u8, media))
        probed = _ffprobe_frames(str(_joined_segments(m3u8, tmp_path / "legacy.ts")))
        assert probed.get("codec_name") == "hevc", probed
        assert int(probed["nb_read_frames"]) == media.video_frames, probed
