"""srs.kernel.raw_muxer: raw H.264 (Annex-B or NALU lists) and raw AAC (ADTS or raw + ASC) -> messages.

Byte tables for each rule, then a round trip through x264/AAC output: an FLV's frames taken apart
to what the librtmp tools and the casters receive, and muxed back to the same payloads."""
from __future__ import annotations

import struct

import pytest

from fixtures.media import make_flv_bytes
from fixtures.raw_frames import AUD, PPS, SC, SEI, SPS, adts, annexb, idr, non_idr
from srs.kernel.codec import AacConfig, AvcConfig, annexb_split, avcc_split, avcc_to_annexb
from srs.kernel.errors import CodecError
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO
from srs.kernel.raw_muxer import MAX_PENDING_BYTES, AacRawMuxer, AvcRawMuxer, split_access_units

def shape(msgs):
    return [(m.kind, m.ts_ms, m.seq_header, m.keyframe) for m in msgs]


# ------------------------------------------------------------------------------ H.264
@pytest.mark.parametrize("feed", ["annexb", "nalus"])
def test_avc_sequence_header_then_keyframe(feed):
    """Both inputs (librtmp's Annex-B bytes, RTSP's NALU lists) give the same messages."""
    m = AvcRawMuxer()
    nalus = [AUD, SPS, PPS, SEI, idr()]
    msgs = m.on_annexb(annexb(*nalus), 40, 80) if feed == "annexb" else m.on_nalus(nalus, 40, 80)
    assert shape(msgs) == [(MSG_VIDEO, 40, True, True), (MSG_VIDEO, 40, False, True)]
    sh, key = msgs
    assert sh.payload[:5] == b"\x17\x00\x00\x00\x00"
    cfg = AvcConfig.parse(sh.payload[5:])
    assert cfg.sps == [SPS] and cfg.pps == [PPS] and (cfg.width, cfg.height) == (320, 240)
    assert m.config.build() == sh.payload[5:]
    assert key.payload[:5] == b"\x17\x01\x00\x00\x28"       # cts = pts - dts = 40
    assert key.payload[5:] == struct.pack(">I", len(SEI)) + SEI + struct.pack(">I", len(idr())) + idr()


@pytest.mark.parametrize("dts,pts,cts", [(40, None, b"\x00\x00\x00"), (100, 90, b"\xff\xff\xf6"),
                                         (0, 0x7FFFFF, b"\x7f\xff\xff")])
def test_avc_composition_time(dts, pts, cts):
    m = AvcRawMuxer()
    key = m.on_nalus([SPS, PPS, idr()], dts, pts)[1]
    assert key.payload[2:5] == cts and key.ts_ms == dts


def test_avc_repeated_parameter_sets_send_no_header_and_changes_do():
    m = AvcRawMuxer()
    m.on_annexb(annexb(SPS, PPS, idr()), 0, 0)
    assert shape(m.on_annexb(annexb(SPS, PPS, idr(2)), 1000, 1000)) == [(MSG_VIDEO, 1000, False, True)]
    pps2 = PPS[:-1] + b"\x21"
    changed = m.on_annexb(annexb(pps2, idr(3)), 2000, 2000)
    assert [x.seq_header for x in changed] == [True, False]
    assert AvcConfig.parse(changed[0].payload[5:]).pps == [pps2]


def test_avc_new_header_waits_for_a_keyframe():
    m = AvcRawMuxer()
    assert m.on_nalus([non_idr()], 0) == [] and m.dropped == 1          # no header yet
    m.on_nalus([SPS, PPS, idr()], 40)
    inter = m.on_nalus([non_idr()], 80)
    assert shape(inter) == [(MSG_VIDEO, 80, False, False)] and inter[0].payload[:2] == b"\x27\x01"
    out = m.on_nalus([SPS, PPS[:-1] + b"\x21", non_idr()], 120)         # changed, but no keyframe
    assert shape(out) == [(MSG_VIDEO, 120, True, True)] and m.dropped == 2
    assert m.on_nalus([non_idr(2)], 160) == [] and m.dropped == 3
    assert shape(m.on_nalus([idr(2)], 200)) == [(MSG_VIDEO, 200, False, True)]
    assert len(m.on_nalus([non_idr(3)], 240)) == 1


def test_avc_aud_dropped_sei_waits_for_its_picture_and_slices_merge():
    m = AvcRawMuxer()
    assert m.on_annexb(annexb(SPS, PPS), 0, 0) == []        # parameter sets alone: nothing yet
    assert m.on_annexb(annexb(AUD, SEI), 0, 0) == []
    msgs = m.on_annexb(b"\x00\x00\x01" + idr(1) + SC + idr(2), 0, 0)
    assert [x.seq_header for x in msgs] == [True, False]
    assert [bytes(n) for n in avcc_split(msgs[1].payload[5:])] == [SEI, idr(1), idr(2)]
    p = m.on_annexb(annexb(non_idr()), 40, 40)
    assert len(p) == 1 and not p[0].keyframe and p[0].payload[:2] == b"\x27\x01"


def test_avc_pending_non_vcl_is_bounded():
    """An input of SEI only (untrusted) must not grow the muxer without bound."""
    m = AvcRawMuxer()
    m.on_nalus([SPS, PPS, idr()], 0)
    big = b"\x06" + b"\x55" * (MAX_PENDING_BYTES // 4)
    for _ in range(8):
        assert m.on_nalus([big], 0) == []
    assert sum(len(n) for n in m._pending) <= MAX_PENDING_BYTES
    m.on_nalus([SEI], 0)
    out = m.on_nalus([non_idr()], 40)
    assert len(out[0].payload) < MAX_PENDING_BYTES + 100


def test_avc_pictures_before_sps_pps_are_dropped_and_empty_nalus_skipped():
    m = AvcRawMuxer()
    assert m.on_annexb(annexb(idr()), 0, 0) == [] and m.dropped == 1
    assert m.on_nalus([SPS, b"", PPS], 0) == []
    assert len(m.on_nalus([memoryview(idr())], 40)) == 2    # memoryview slices (RTP) work too


@pytest.mark.parametrize("bad", [b"", b"\x12\x34\x56", b"\x00\x00\x00"])
def test_avc_garbage_raises_codec_error(bad):
    with pytest.raises(CodecError):
        AvcRawMuxer().on_annexb(bad, 0, 0)


def test_avc_bad_parameter_sets_raise_once_and_the_config_in_effect_stays():
    m = AvcRawMuxer()
    with pytest.raises(CodecError):
        m.on_annexb(annexb(b"\x67\x42", PPS, idr()), 0, 0)
    assert m.config is None and m.on_nalus([b"\x67\x42", PPS, idr()], 40) == []   # repeated: dropped
    assert len(m.on_nalus([SPS, PPS, idr()], 80)) == 2
    with pytest.raises(CodecError):
        m.on_nalus([b"\x67\x42", idr()], 120)                  # a broken change mid-stream
    # the same broken pair again: quiet, the pictures still go out with the old header
    assert shape(m.on_nalus([b"\x67\x42", PPS, non_idr()], 160)) == [(MSG_VIDEO, 160, False, False)]
    assert AvcConfig.parse(m.config.build()).sps == [SPS]


def test_split_access_units():
    stream = annexb(SEI, SPS, PPS, idr(1), non_idr(1), AUD, non_idr(2), b"\x41\x1a\x00")  # last: first_mb != 0
    units = split_access_units(stream)
    assert len(units) == 3
    assert units[0].startswith(SC + b"\x06") and units[0].endswith(idr(1))
    assert units[1] == SC + non_idr(1)
    assert units[2] == annexb(AUD, non_idr(2), b"\x41\x1a\x00")


# ------------------------------------------------------------------------------ AAC
@pytest.mark.parametrize("rate,times", [(44100, [1000, 1000, 1023, 1046]), (48000, [1000, 1000, 1021, 1043]),
                                        (8000, [1000, 1000, 1128, 1256])])
def test_aac_adts_sequence_header_and_frame_spacing(rate, times):
    """Frame i of one call is i * 1024 samples later, rounded to the nearest ms."""
    cfg = AacConfig(2, rate, 2)
    frames = [b"\x01" * 10, b"\x02" * 12, b"\x03" * 5]
    m = AacRawMuxer()
    msgs = m.on_adts(b"".join(adts(cfg, f) for f in frames), 1000)
    assert [(x.kind, x.ts_ms, x.seq_header) for x in msgs] == [(MSG_AUDIO, t, i == 0) for i, t in enumerate(times)]
    assert msgs[0].payload == b"\xaf\x00" + cfg.build()
    assert [x.payload for x in msgs[1:]] == [b"\xaf\x01" + f for f in frames]


def test_aac_header_only_on_config_change():
    cfg = AacConfig(2, 44100, 2)
    m = AacRawMuxer()
    assert m.on_adts(adts(cfg, b"\x01"), 0)[0].payload == b"\xaf\x00\x12\x10"
    assert [x.seq_header for x in m.on_adts(adts(cfg, b"\x04"), 2000)] == [False]
    assert [x.seq_header for x in m.on_raw(b"\x04", 2023, cfg.build())] == [False]   # ADTS or raw: one state
    mono = AacConfig(2, 48000, 1)
    msgs = m.on_adts(adts(mono, b"\x05"), 3000)
    assert msgs[0].seq_header and msgs[0].payload == b"\xae\x00" + mono.build()   # mono flag in the FLV byte
    assert msgs[1].payload == b"\xae\x01\x05"


def test_aac_raw_frames_with_a_config():
    m = AacRawMuxer()
    mono = AacConfig(2, 48000, 1).build()
    out = m.on_raw(b"xy", 3000, mono)
    assert [(x.ts_ms, x.seq_header, x.payload) for x in out] == [(3000, True, b"\xae\x00" + mono),
                                                                 (3000, False, b"\xae\x01xy")]
    assert m.on_raw(b"", 3021, mono) == []                   # an empty frame, no change: nothing
    assert shape(m.on_raw(b"", 3042, b"\x12\x10")) == [(MSG_AUDIO, 3042, True, False)]   # header only
    # an SDP config that does not parse is passed on as it is (the player may know it), as stereo
    out = m.on_raw(b"z", 4000, b"\xff")
    assert [x.payload for x in out] == [b"\xaf\x00\xff", b"\xaf\x01z"]


@pytest.mark.parametrize("bad", [b"\xff\xf1\x50", b"\x00" * 20, b"\xff\xf1garbage",
                                 adts(AacConfig(), b"\x01" * 10)[:-3]])
def test_aac_garbage_raises_codec_error(bad):
    with pytest.raises(CodecError):
        AacRawMuxer().on_adts(bad, 0)


# ------------------------------------------------------------------------------ round trip
@pytest.fixture(scope="module")
def flv_messages():
    data, info = make_flv_bytes(seconds=1.2, bframes=2)
    return list(iter_flv_tags(data)), info


def test_round_trip_of_encoder_output(flv_messages):
    """x264 access units as Annex-B (SPS/PPS before every IDR, as a TS carries them) and AAC
    frames as ADTS come out as the FLV's own payloads: the same frames, flags, cts and config."""
    msgs, info = flv_messages
    video = [m for m in msgs if m.kind == MSG_VIDEO and m.payload[1] in (0, 1)]   # no end of sequence
    audio = [m for m in msgs if m.kind == MSG_AUDIO]
    avcc = AvcConfig.parse(video[0].payload[5:])
    asc = audio[0].payload[2:]
    vmux, amux = AvcRawMuxer(), AacRawMuxer()
    got_video, got_audio = [], []
    for m in video[1:]:
        cts = int.from_bytes(m.payload[2:5], "big", signed=True)
        params = avcc.annexb_parameter_sets() if m.keyframe else b""
        got_video += vmux.on_annexb(params + avcc_to_annexb(m.payload[5:]), m.ts_ms, m.ts_ms + cts)
    for m in audio[1:]:
        got_audio += amux.on_adts(adts(AacConfig.parse(asc), m.payload[2:]), m.ts_ms)
    assert [(x.ts_ms, x.keyframe, x.seq_header) for x in got_video] == \
        [(x.ts_ms, x.keyframe, x.seq_header) for x in video]
    assert AvcConfig.parse(got_video[0].payload[5:]).sps == avcc.sps
    assert [x.payload for x in got_video[1:]] == [x.payload for x in video[1:]]
    assert len(got_video) - 1 == info.video_frames and vmux.dropped == 0
    assert any(x.payload[2:5] != b"\x00\x00\x00" for x in got_video)     # B-frames: cts carried
    assert [(x.ts_ms, x.payload) for x in got_audio[1:]] == [(x.ts_ms, x.payload) for x in audio[1:]]
    # ADTS has no room for the FLV's explicit SBR signalling: the config is the core one
    sh, want = AacConfig.parse(got_audio[0].payload[2:]), AacConfig.parse(asc)
    assert got_audio[0].seq_header and got_audio[0].ts_ms == audio[1].ts_ms
    assert (sh.object_type, sh.sample_rate, sh.channels) == (want.object_type, want.sample_rate, want.channels)
    # the same access units as NALU lists (RTSP's depacketizer output): the same messages
    vmux = AvcRawMuxer()
    again = []
    for m in video[1:]:
        cts = int.from_bytes(m.payload[2:5], "big", signed=True)
        params = avcc.annexb_parameter_sets() if m.keyframe else b""
        again += vmux.on_nalus(annexb_split(params + avcc_to_annexb(m.payload[5:])), m.ts_ms, m.ts_ms + cts)
    assert [x.payload for x in again] == [x.payload for x in got_video]
