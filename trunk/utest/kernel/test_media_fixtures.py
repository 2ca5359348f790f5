"""The shared test media is what it claims: checked by decoding it with PyAV."""
from __future__ import annotations

import io

import av


def _demux(data):
    with av.open(io.BytesIO(data), format="flv") as c:
        kinds = {s.index: s.type for s in c.streams}
        pkts = [(kinds[p.stream.index], p.pts, p.is_keyframe) for p in c.demux() if p.size]
        params = {}
        for s in c.streams:
            ctx = s.codec_context
            params[s.type] = (ctx.name, getattr(ctx, "width", None), getattr(ctx, "height", None),
                              getattr(ctx, "sample_rate", None))
    return pkts, params


def test_media_flv(media_flv):
    pkts, params = _demux(media_flv.data)
    video = [p for p in pkts if p[0] == "video"]
    assert len(video) == media_flv.video_frames == 100
    assert media_flv.keyframes == 4
    assert video[0][2] and [i for i, p in enumerate(video) if p[2]] == [0, 25, 50, 75]
    pts = [p[1] for p in video]
    assert pts == sorted(pts) and pts[1] - pts[0] == 40
    assert params["video"][:3] == ("h264", 320, 240)
    assert params["audio"][0] == "aac" and params["audio"][3] == 44100
    assert 3900 <= media_flv.duration_ms <= 4100
    assert open(media_flv.path, "rb").read() == media_flv.data


def test_media_variants(media_flv_mp3, media_flv_audio_only, media_flv_video_only):
    _, params = _demux(media_flv_mp3.data)
    assert params["audio"][0].startswith("mp3")
    pkts, params = _demux(media_flv_audio_only.data)
    assert set(params) == {"audio"} and len(pkts) == media_flv_audio_only.audio_frames > 100
    pkts, params = _demux(media_flv_video_only.data)
    assert set(params) == {"video"} and len(pkts) == 100
