"""Enhanced RTMP and legacy HEVC tags (kernel/codec.py, message.py), hvcC/av1C/vpcC
(codec_hevc.py, codec_av1.py), the API's description (media_info.py) and HEVC in TS
(flv_to_ts.py, ts.py): byte tables both ways, then files FFmpeg 8 (PyAV) wrote, decoded back."""
from __future__ import annotations

import io
import logging

import av
import pytest

from fixtures.media_ex import make_flv_ex
from srs.kernel.codec import (VCODEC_AV1, VCODEC_AVC, VCODEC_HEVC, VCODEC_VP9, VideoTag,
                              is_video_frame, video_codec_of)
from srs.kernel.codec_av1 import Av1Config, Vp9Config, av1_level_name
from srs.kernel.codec_hevc import HevcConfig, is_irap, level_name, nalu_type
from srs.kernel.errors import CodecError
from srs.kernel.flv import iter_flv_tags
from srs.kernel.flv_to_ts import FlvToTs
from srs.kernel.media_info import describe_sequence_header
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.ts import STREAM_TYPE_HEVC

CTS40 = b"\x00\x00\x28"
# payload -> (frame_type, codec_id, avc_packet_type, ex_packet_type, cts, data_offset, keyframe, seq_header)
VIDEO_TAGS = [
    (b"\x17\x00" + CTS40, (1, VCODEC_AVC, 0, -1, 40, 5, True, True)),
    (b"\x1c\x00\x00\x00\x00", (1, VCODEC_HEVC, 0, -1, 0, 5, True, True)),  # legacy HEVC header
    (b"\x2c\x01" + CTS40, (2, VCODEC_HEVC, 1, -1, 40, 5, False, False)),
    (b"\x2c\x02\x00\x00\x00", (2, VCODEC_HEVC, 2, -1, 0, 5, False, False)),
    (b"\x90hvc1", (1, VCODEC_HEVC, 0, 0, 0, 5, True, True)),  # SequenceStart
    (b"\xa1hvc1" + CTS40, (2, VCODEC_HEVC, 1, 1, 40, 8, False, False)),  # CodedFrames: SI24 cts
    (b"\x93hvc1", (1, VCODEC_HEVC, 1, 3, 0, 5, True, False)),  # CodedFramesX: no cts
    (b"\x92hvc1", (1, VCODEC_HEVC, 2, 2, 0, 5, True, False)),  # SequenceEnd
    (b"\xd4hvc1", (5, VCODEC_HEVC, -1, 4, 0, 5, False, False)),  # Metadata (colorInfo)
    (b"\xa1avc1\xff\xff\xd8", (2, VCODEC_AVC, 1, 1, -40, 8, False, False)),
    (b"\x91av01", (1, VCODEC_AV1, 1, 1, 0, 5, True, False)),  # AV1 frames carry no cts
    (b"\x95av01", (1, VCODEC_AV1, 0, 5, 0, 5, True, True)),  # MPEG2TSSequenceStart
    (b"\x90vp09", (1, VCODEC_VP9, 0, 0, 0, 5, True, True)),
    (b"\xa1vp09", (2, VCODEC_VP9, 1, 1, 0, 5, False, False)),
    (b"\x90xyz9", (1, 0, 0, 0, 0, 5, True, True)),  # unknown FourCC: flags still right
    # ModEx: [size-1 = 0][1 byte of data][modExType 0 | CodedFrames], then the FourCC
    (b"\x97\x00\x55\x01hvc1" + CTS40, (1, VCODEC_HEVC, 1, 1, 40, 11, True, False)),
    (b"\x97\x00\x55\x00hvc1", (1, VCODEC_HEVC, 0, 0, 0, 8, True, True)),
]


@pytest.mark.parametrize("payload,want", VIDEO_TAGS)
def test_video_tag_table(payload, want):
    tag = VideoTag.parse(payload)
    got = (tag.frame_type, tag.codec_id, tag.avc_packet_type, tag.ex_packet_type, tag.cts,
           tag.data_offset)
    assert got == want[:6]
    msg = Message.make(MSG_VIDEO, 0, payload)
    assert (msg.keyframe, msg.seq_header) == want[6:]
    assert video_codec_of(payload) == want[1]
    assert tag.is_sequence_header == (want[7] and want[1] != 0)
    assert is_video_frame(payload) == (want[2] == 1)


@pytest.mark.parametrize("payload", [b"\x90hv", b"\xa1hvc1\x00", b"\x97\x00", b"\x87hvc1", b"\x1c\x01"])
def test_truncated_or_bad_video_tags_raise(payload):
    with pytest.raises(CodecError):
        VideoTag.parse(payload)


@pytest.mark.parametrize("payload,seq", [(b"\x90Opus", True), (b"\x91Opus", False), (b"\xaf\x00\x12", True),
                                         (b"\xaf\x01\x21", False), (b"\x2f\x00", False)])
def test_audio_sequence_header_flag(payload, seq):
    assert Message.make(MSG_AUDIO, 0, payload).seq_header is seq


def test_level_names_and_nalu_types():
    assert [level_name(x) for x in (30, 60, 93, 120, 123, 153, 0, 91)] == \
        ["1", "2", "3.1", "4", "4.1", "5.1", "Other", "Other"]
    assert [av1_level_name(x) for x in (0, 5, 8, 31)] == ["2.0", "3.1", "4.0", "Other"]
    assert nalu_type(b"\x40\x01") == 32 and nalu_type(b"\x26\x01") == 19
    assert is_irap(19) and is_irap(21) and not is_irap(1) and not is_irap(32)
    with pytest.raises(CodecError):
        HevcConfig.parse(b"\x01" + bytes(21))
    with pytest.raises(CodecError):
        Av1Config.parse(b"\x01\x00\x00\x00")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ex")
    return {c: make_flv_ex(d / f"{c}.flv", vcodec=c, seconds=2, width=352, height=288)
            for c in ("hevc", "av1")}


def _sequence_header(data: bytes) -> Message:
    return next(m for m in iter_flv_tags(data) if m.is_video and m.seq_header)


def test_hvcc_and_av1c_of_ffmpeg_files(files):
    hevc = _sequence_header(files["hevc"].data)
    cfg = HevcConfig.parse(hevc.payload[5:])
    assert (cfg.width, cfg.height, cfg.profile, cfg.nal_length_size) == (352, 288, "Main", 4)
    assert len(cfg.vps) == len(cfg.sps) == len(cfg.pps) == 1
    assert cfg.annexb_parameter_sets().count(b"\x00\x00\x00\x01") == 3
    av1 = _sequence_header(files["av1"].data)
    acfg = Av1Config.parse(av1.payload[5:])
    assert (acfg.width, acfg.height, acfg.profile) == (352, 288, "Main")
    assert describe_sequence_header(hevc) == {"codec": "HEVC", "profile": "Main", "level": cfg.level,
                                              "width": 352, "height": 288}
    assert describe_sequence_header(av1)["codec"] == "AV1"
    assert describe_sequence_header(Message.make(MSG_VIDEO, 0, b"\x90vp09\x01\x00\x00\x00\x00\x14\x82\x02"))[
        "codec"] == "VP9"
    assert Vp9Config.parse(b"\x01\x00\x00\x00\x01\x1f\x80\x02").level == "3.1"


def _to_legacy(msg: Message) -> Message:
    """The same HEVC message as a legacy codec-id-12 tag (as SRS 6 and older encoders send)."""
    tag = VideoTag.parse(msg.payload)
    if tag.avc_packet_type < 0:
        return None
    head = bytes(((tag.frame_type << 4) | 12, tag.avc_packet_type)) + (tag.cts & 0xFFFFFF).to_bytes(3, "big")
    return Message.make(MSG_VIDEO, msg.ts_ms, head + msg.payload[tag.data_offset:])


@pytest.mark.parametrize("legacy", [False, True])
def test_hevc_to_ts_decodes_every_frame(files, legacy):
    media = files["hevc"]
    msgs = list(iter_flv_tags(media.data))
    if legacy:
        msgs = [m for m in (_to_legacy(m) if m.is_video else m for m in msgs) if m is not None]
        assert sum(1 for m in msgs if m.is_video and m.payload[0] & 0x0F == 12) == media.video_frames + 1
    fts = FlvToTs()  # "h264" until the HEVC sequence header switches it
    ts = fts.on_messages(msgs)
    assert fts.vcodec == "hevc" and fts.dropped == 0
    assert bytes((STREAM_TYPE_HEVC, 0xE1, 0x00)) in ts[188:376]  # PMT: 0x24 on PID 0x100
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        st = c.streams.video[0]
        frames = [f for p in c.demux(st) for f in p.decode()]
        assert st.codec_context.name == "hevc"
    assert len(frames) == media.video_frames
    assert (frames[0].width, frames[0].height) == (352, 288) and frames[0].key_frame


def test_av1_to_ts_is_dropped_with_one_warning(files, caplog):
    msgs = list(iter_flv_tags(files["av1"].data))
    fts = FlvToTs()
    with caplog.at_level(logging.WARNING):
        ts = fts.on_messages(msgs)
    warnings = [r for r in caplog.records if "AV1 video cannot go into MPEG-TS" in r.getMessage()]
    assert len(warnings) == 1
    assert fts.dropped == sum(1 for m in msgs if m.is_video)
    with av.open(io.BytesIO(ts), format="mpegts") as c:  # the audio still goes, alone in the PMT
        assert [s.type for s in c.streams] == ["audio"]
        assert sum(len(p.decode()) for p in c.demux(audio=0) if p.size) >= files["av1"].audio_frames - 2
