"""DVR MP4 of HEVC and AV1 (issue 17; SRS 6 records HEVC in MP4): the FLV messages FFmpeg 8 writes as
Enhanced RTMP tags go into a regular mp4 (hvc1/hev1 + hvcC, av01 + av1C) that PyAV decodes frame for
frame at the published size; through the real server too (PyAV publishing HEVC over RTMP)."""
from __future__ import annotations

import glob
import os

import av
import pytest

from fixtures.hub_host import VHOST, dvr_host
from fixtures.media_ex import make_flv_ex, publish_ex
from fixtures.srs_server import SrsProcess, wait_for
from srs.app.dvr.plan import Dvr
from srs.app.live.source import LiveSource, SourceOptions
from srs.kernel.flv import iter_flv_tags

DECODERS = {"hevc": ("hevc",), "av1": ("libdav1d", "av1", "libaom-av1")}


@pytest.fixture(scope="module")
def media_ex(tmp_path_factory):
    d = tmp_path_factory.mktemp("dvr_ex")
    return {c: make_flv_ex(d / f"{c}.flv", vcodec=c, seconds=2, width=352, height=288) for c in ("hevc", "av1")}


def decode(path):
    video = audio = 0
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "NONE"  # libdav1d holds frames back with frame threads
        name, size = vs.codec_context.name, (vs.codec_context.width, vs.codec_context.height)
        for frame in c.decode(vs, *c.streams.audio[:1]):
            if isinstance(frame, av.VideoFrame):
                video += 1
            else:
                audio += 1
    return name, size, video, audio


@pytest.mark.parametrize("vcodec", ["hevc", "av1"])
def test_hub_output_records_a_decodable_mp4(tmp_path, media_ex, vcodec):
    media = media_ex[vcodec]
    host = dvr_host(f"enabled on; dvr_plan session; dvr_path ./rec/[stream].mp4;", str(tmp_path))
    src = LiveSource("__defaultVhost__/live/" + vcodec, SourceOptions())
    src.on_publish(7)
    out = host.dvr_output(src, VHOST)
    assert isinstance(out, Dvr)
    out.on_publish(src)
    for m in iter_flv_tags(open(media.path, "rb").read()):
        out.on_message(m)
    out.on_unpublish(src)
    [rel] = out.files
    name, size, video, audio = decode(os.path.join(str(tmp_path), rel))
    assert name in DECODERS[vcodec] and size == (352, 288)
    assert video == media.video_frames
    assert abs(audio - media.audio_frames) <= 1


def test_server_records_published_hevc(tmp_path, media_ex):
    media = media_ex["hevc"]
    rec = tmp_path / "rec"
    with SrsProcess(tmp_path, vhost_body=f"dvr {{ enabled on; dvr_path {rec}/[app]/[stream].mp4; }}") as srs:
        publish_ex(media.path, srs.rtmp_url("live/hevc"), realtime=False)
        assert wait_for(lambda: glob.glob(str(rec / "live/hevc.mp4")), 10)
    name, size, video, _ = decode(str(rec / "live/hevc.mp4"))
    assert (name, size, video) == ("hevc", (352, 288), media.video_frames)
