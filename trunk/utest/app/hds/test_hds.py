"""HDS end to end: publish the fixture to the real server, parse the f4m/abst/fragments back."""
from __future__ import annotations

import io
import os

import av
from fixtures.srs_server import SrsProcess, publish_flv, wait_for

from srs.kernel import f4v, flv


def decode_frames(msgs) -> int:
    """Decode a fragment's tags as an FLV file with PyAV: each fragment must stand alone."""
    data = flv.flv_header() + b"".join(flv.encode_tag(m.kind, m.ts_ms, m.payload) for m in msgs)
    c = av.open(io.BytesIO(data), format="flv")
    try:
        return sum(len(p.decode()) for p in c.demux(video=0) if p.size)
    finally:
        c.close()


def test_hds_fragments_bootstrap_manifest(tmp_path, media_flv):
    html = str(tmp_path / "html")
    body = f"hds {{ enabled on; hds_fragment 1; hds_window 2.5; hds_path {html}; }}"
    with SrsProcess(tmp_path, vhost_body=body, http_api=False, http_server=False) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"))
        d = os.path.join(html, "live")
        frag = lambda n: os.path.join(d, f4v.fragment_name("livestream", n))  # noqa: E731
        # the last, partial fragment is written at unpublish
        assert wait_for(lambda: os.path.exists(frag(4))), sorted(os.listdir(d)) if os.path.isdir(d) else srs.output()
        assert wait_for(lambda: f4v.Bootstrap.parse(open(os.path.join(d, "livestream.abst"), "rb").read()).version == 4)

        m = f4v.parse_manifest(open(os.path.join(d, "livestream.f4m"), "rb").read())
        assert m["streamType"] == "live" and m["bootstrap"]["url"] == "livestream.abst"
        assert m["media"][0]["url"] == "livestream"

        boot = f4v.Bootstrap.parse(open(os.path.join(d, "livestream.abst"), "rb").read())
        assert boot.live and boot.time_scale == 1000 and boot.segment_runs == [(1, 4)]
        # 1 s GOPs cut at keyframes; the 2.5 s window keeps the last two of four fragments
        runs = boot.fragment_runs
        assert [r.first for r in runs] == [3, 4], runs
        # (original timestamps: FFmpeg's publisher starts the video a few ms after 0)
        assert 2000 <= runs[0].timestamp < 2100 and runs[0].duration == 1000, runs
        assert runs[1].timestamp == runs[0].timestamp + 1000 and 900 <= runs[1].duration <= 1000, runs
        assert boot.current_media_time == runs[1].timestamp
        assert not os.path.exists(frag(1)) and not os.path.exists(frag(2))  # out of the window: deleted

        total_video = 0
        for run in runs:
            msgs = f4v.parse_fragment(open(frag(run.first), "rb").read())
            assert msgs[0].seq_header and msgs[0].is_video and msgs[1].seq_header and msgs[1].is_audio
            assert all(m.ts_ms == run.timestamp for m in msgs[:2])
            # AVC NALU packets (FFmpeg ends its stream with an end-of-sequence tag, type 2)
            video = [m for m in msgs if m.is_video and m.payload[1] == 1]
            assert video[0].keyframe and video[0].ts_ms == run.timestamp
            assert all(run.timestamp <= m.ts_ms <= run.timestamp + run.duration for m in msgs)
            assert decode_frames(msgs) == len(video)
            total_video += len(video)
        assert len(video) >= 25  # the tail fragment: the rest of the fixture
        assert total_video == media_flv.video_frames - 50  # fragments 1 and 2 held 25 frames each
        assert "hds: publish __defaultVhost__/live/livestream" in srs.log_text()
