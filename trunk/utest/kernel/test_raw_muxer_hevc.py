"""HEVC access units -> Enhanced RTMP hvc1 messages: the hvcC reads back, keyframes gate the start,
parameter set changes send a new SequenceStart. Bytes only: an HEVC stream encoded once by ffmpeg."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from srs.kernel.codec import EX_CODED_FRAMES, EX_SEQUENCE_START, VIDEO_EX_HEADER
from srs.kernel.codec_avc import annexb_split
from srs.kernel.codec_hevc import NALU_PPS, NALU_SPS, NALU_VPS, HevcConfig, nalu_type
from srs.kernel.raw_muxer_hevc import HevcRawMuxer, build_hvcc
from srs.kernel.ts_demux import TsDemuxer


@pytest.fixture(scope="module")
def access_units(tmp_path_factory):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("hevc") / "v.ts"
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=320x240:rate=25", "-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx265",
                        "-x265-params", "log-level=error:keyint=25:bframes=0", "-f", "mpegts", str(path)],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("no libx265")
    d = TsDemuxer(strict=True)
    frames = d.receive_data(path.read_bytes()) + d.flush()
    return [(f.payload, f.dts // 90, f.pts // 90) for f in frames if f.stream_type == 0x24]


def test_hvcc_reads_back(access_units):
    nalus = {nalu_type(n): n for n in annexb_split(access_units[0][0])}
    record = build_hvcc(nalus[NALU_VPS], nalus[NALU_SPS], nalus[NALU_PPS])
    cfg = HevcConfig.parse(record)
    assert (cfg.width, cfg.height, cfg.profile, cfg.nal_length_size) == (320, 240, "Main", 4)
    assert (cfg.vps, cfg.sps, cfg.pps) == ([nalus[NALU_VPS]], [nalus[NALU_SPS]], [nalus[NALU_PPS]])


def test_muxer_starts_at_a_keyframe_with_its_sequence_start(access_units):
    m = HevcRawMuxer()
    assert m.on_annexb(access_units[1][0], 40) == []     # a P picture before any parameter set: dropped
    assert m.dropped == 1
    msgs = []
    for data, dts, pts in access_units:
        msgs += m.on_annexb(data, dts, pts)
    head = msgs[0].payload
    assert head[0] == VIDEO_EX_HEADER | 0x10 | EX_SEQUENCE_START and head[1:5] == b"hvc1"
    assert msgs[0].seq_header and len(msgs) == len(access_units) + 1
    first = msgs[1].payload
    assert first[0] == VIDEO_EX_HEADER | 0x10 | EX_CODED_FRAMES and msgs[1].keyframe
    assert sum(msg.keyframe and not msg.seq_header for msg in msgs) == 2     # keyint 25, 50 frames
    # the same parameter sets again (a keyframe repeats them): no new sequence header
    again = m.on_annexb(access_units[0][0], 3000, 3000)
    assert len(again) == 1 and not again[0].seq_header
