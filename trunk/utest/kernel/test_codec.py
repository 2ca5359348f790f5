"""srs.kernel.codec (+ codec_avc, codec_aac): tag headers, avcC/SPS, ASC/ADTS, MP3, Annex-B."""
from __future__ import annotations

import pytest

from fixtures.media import make_flv_bytes
from srs.kernel.codec import (ACODEC_AAC, ACODEC_MP3, AVC_NALU, VCODEC_AVC, AacConfig,
                              AdtsHeader, AudioTag, AvcConfig, Mp3Header, Sps, VideoTag,
                              aac_payload, adts_header, adts_split, annexb_split,
                              annexb_to_avcc, audio_codec_name, avc_payload, avcc_split,
                              avcc_to_annexb, nalu_type, video_codec_name)
from srs.kernel.codec_avc import ebsp_to_rbsp, level_name, profile_name
from srs.kernel.errors import CodecError
from srs.kernel.flv import iter_flv_tags


def _seq_headers(data):
    v = a = None
    for m in iter_flv_tags(data):
        if m.seq_header and m.is_video and v is None:
            v = m
        if m.seq_header and m.is_audio and a is None:
            a = m
    return v, a


# --- FLV tag headers
@pytest.mark.parametrize("payload,frame,codec,ptype,cts,name", [
    (b"\x17\x00\x00\x00\x00", 1, 7, 0, 0, "H264"),
    (b"\x27\x01\x00\x00\x50", 2, 7, 1, 80, "H264"),
    (b"\x27\x01\xff\xff\xd8", 2, 7, 1, -40, "H264"),     # SI24 negative composition time
    (b"\x1c\x00\x00\x00\x00", 1, 12, 0, 0, "HEVC"),
    (b"\x22\xaa", 2, 2, -1, 0, "H263"),
    (b"\x14", 1, 4, -1, 0, "VP6"),
])
def test_video_tag(payload, frame, codec, ptype, cts, name):
    t = VideoTag.parse(payload)
    assert (t.frame_type, t.codec_id, t.avc_packet_type, t.cts, t.codec_name) == \
        (frame, codec, ptype, cts, name)
    if codec == VCODEC_AVC:
        assert t.data_offset == 5
        again = avc_payload(frame == 1, ptype, cts, b"")
        assert again == payload


@pytest.mark.parametrize("payload,fmt,rate,size,stype,ptype,name", [
    (b"\xaf\x00\x12\x10", 10, 3, 1, 1, 0, "AAC"),
    (b"\xae\x01", 10, 3, 1, 0, 1, "AAC"),
    (b"\x2f\xff", 2, 3, 1, 1, -1, "MP3"),
    (b"\xb6", 11, 1, 1, 0, -1, "Speex"),
])
def test_audio_tag(payload, fmt, rate, size, stype, ptype, name):
    t = AudioTag.parse(payload)
    assert (t.sound_format, t.sound_rate, t.sound_size, t.sound_type, t.aac_packet_type,
            t.codec_name) == (fmt, rate, size, stype, ptype, name)
    assert t.sample_rate == (5512, 11025, 22050, 44100)[rate]
    assert t.channels == stype + 1
    if fmt == ACODEC_AAC:
        assert aac_payload(ptype, payload[2:], stereo=bool(stype)) == payload


def test_codec_names():
    assert video_codec_name(7) == "H264" and video_codec_name(1) == "Other"
    assert audio_codec_name(ACODEC_MP3) == "MP3" and audio_codec_name(10) == "AAC"
    assert audio_codec_name(9) == "Other"
    assert profile_name(100) == "High" and profile_name(66) == "Baseline" and profile_name(1) == "Other"
    assert level_name(31) == "3.1" and level_name(30) == "3" and level_name(99) == "Other"


@pytest.mark.parametrize("bad", [b"", b"\x07", b"\x17\x00\x00", b"\x67\x00\x00\x00\x00"])
def test_video_tag_malformed(bad):
    with pytest.raises(CodecError):
        VideoTag.parse(bad)


@pytest.mark.parametrize("bad", [b"", b"\xaf"])
def test_audio_tag_malformed(bad):
    with pytest.raises(CodecError):
        AudioTag.parse(bad)


# --- AVC from real encoder output
def test_avc_config_from_fixture(media_flv):
    v, _ = _seq_headers(media_flv.data)
    cfg = AvcConfig.parse(v.payload[5:])
    assert (cfg.width, cfg.height) == (320, 240)
    assert cfg.profile == "Baseline" and cfg.level in ("1.3", "2", "2.1", "3")
    assert cfg.nal_length_size == 4 and len(cfg.sps) == 1 and len(cfg.pps) == 1
    assert nalu_type(cfg.sps[0]) == 7 and nalu_type(cfg.pps[0]) == 8
    assert cfg.build() == v.payload[5:5 + len(cfg.build())]
    assert AvcConfig.parse(cfg.build()).sps == cfg.sps
    assert AvcConfig.from_parameter_sets(cfg.sps[0], cfg.pps[0]).width == 320


@pytest.mark.parametrize("kw,size,profile,chroma", [
    (dict(preset="veryfast"), (320, 240), "High", 1),
    (dict(preset="veryfast", width=176, height=100), (176, 100), "High", 1),      # 4:2:0 crop
    (dict(preset="veryfast", pix_fmt="yuv422p", x264_params="cqm=jvt"), (320, 240), "High(422)", 2),
    (dict(preset="veryfast", pix_fmt="yuv444p", width=322, height=182, x264_params="cqm=jvt"),
     (322, 182), "High(444+Predictive)", 3),
])
def test_sps_high_profiles(kw, size, profile, chroma):
    data, _ = make_flv_bytes(seconds=0.08, audio=None, **kw)
    v, _ = _seq_headers(data)
    cfg = AvcConfig.parse(v.payload[5:])
    sps = Sps.parse(cfg.sps[0])
    assert (cfg.width, cfg.height) == size == (sps.width, sps.height)
    assert cfg.profile == profile and sps.chroma_format_idc == chroma


def test_sps_handcrafted_emulation_prevention():
    # Baseline 1920x1080 (crop 8 rows), level 4.0; the 00 00 03 in the middle must be removed.
    sps = bytes.fromhex("6742c028d900780227e5c04400000300040000030184f1832a")
    s = Sps.parse(sps)
    assert (s.width, s.height, s.profile_idc, s.level_idc) == (1920, 1080, 66, 40)
    assert ebsp_to_rbsp(b"\x01\x00\x00\x03\x01\x00\x00\x03") == b"\x01\x00\x00\x01\x00\x00"


@pytest.mark.parametrize("bad", [
    b"",                                       # too short
    b"\x02\x42\xc0\x1e\xff\xe1\x00\x04",       # configurationVersion 2
    b"\x01\x42\xc0\x1e\xfe\xe1\x00\x04",       # lengthSizeMinusOne == 2
    b"\x01\x42\xc0\x1e\xff\xe1\x00\x40\x67",   # SPS longer than the record
    b"\x01\x42\xc0\x1e\xff\xe0\x00",           # no SPS
    b"\x01\x42\xc0\x1e\xff\xe1\x00\x04\x67\x42\xc0\x1e",  # truncated before PPS count
    b"\x01\x42\xc0\x1e\xff\xe1\x00\x04\x67\x42\xc0\x1e\x00",  # SPS body truncated
])
def test_avc_config_malformed(bad):
    with pytest.raises(CodecError):
        AvcConfig.parse(bad)


@pytest.mark.parametrize("bad", [b"\x67\x42", b"\x68\x42\x00\x1e\xff", b"\x67\x42\x00\x1e" + b"\x00" * 8])
def test_sps_malformed(bad):
    with pytest.raises(CodecError):
        Sps.parse(bad)


# --- Annex-B / AVCC
def test_avcc_annexb_round_trip():
    nalus = [b"\x09\xf0", b"\x67\x42\x00\x1e\xab", b"\x68\xce\x38\x80", b"\x65" + b"\x11" * 300]
    avcc = annexb_to_avcc(nalus)
    assert [bytes(n) for n in avcc_split(avcc)] == nalus
    annexb = avcc_to_annexb(avcc)
    assert annexb.count(b"\x00\x00\x00\x01") == 4
    assert annexb_split(annexb) == nalus
    # 3-byte start codes and leading garbage
    assert annexb_split(b"\xff\x00\x00\x01\x67\x01\x00\x00\x01\x68\x02") == [b"\x67\x01", b"\x68\x02"]
    two = b"\x00\x05\x65\x01\x02\x03\x04\x00\x02\x41\x09"
    assert [bytes(n) for n in avcc_split(two, 2)] == [b"\x65\x01\x02\x03\x04", b"\x41\x09"]
    assert [bytes(n) for n in avcc_split(b"\x02\x41\x09", 1)] == [b"\x41\x09"]


@pytest.mark.parametrize("bad,size", [(b"\x00\x00\x00\x09\x65", 4), (b"\x00\x00", 4),
                                      (b"\x00\x00\x00\x00", 4), (b"\x00\x01\x65", 3)])
def test_avcc_malformed(bad, size):
    with pytest.raises(CodecError):
        avcc_split(bad, size)


def test_annexb_malformed():
    with pytest.raises(CodecError):
        annexb_split(b"\x65\x01\x02")
    with pytest.raises(CodecError):
        nalu_type(b"")


# --- AAC
def test_aac_config_from_fixture(media_flv):
    _, a = _seq_headers(media_flv.data)
    cfg = AacConfig.parse(a.payload[2:])
    assert (cfg.sample_rate, cfg.channels, cfg.profile, cfg.object_type) == (44100, 2, "LC", 2)


@pytest.mark.parametrize("asc,aot,rate,ch,profile,core", [
    (b"\x12\x10", 2, 44100, 2, "LC", 2),
    (b"\x11\x90", 2, 48000, 2, "LC", 2),
    (b"\x0a\x08", 1, 44100, 1, "Main", 1),
    (b"\x2b\x92\x08\x00", 5, 22050, 2, "HE", 2),           # explicit SBR: core 22050, ext 44100
    (b"\xeb\x92\x08\x00", 29, 22050, 2, "HEv2", 2),
    (b"\x17\x80\x56\x22\x10", 2, 44100, 2, "LC", 2),       # explicit 24-bit rate (0x00ac44)
])
def test_aac_config_table(asc, aot, rate, ch, profile, core):
    cfg = AacConfig.parse(asc)
    assert (cfg.object_type, cfg.sample_rate, cfg.channels, cfg.profile, cfg.core_object_type) == \
        (aot, rate, ch, profile, core)
    if len(asc) == 2:
        assert cfg.build() == asc


@pytest.mark.parametrize("bad", [b"", b"\x12", b"\x00\x00", b"\x16\x90", b"\xf8\x00"])
def test_aac_config_malformed(bad):
    with pytest.raises(CodecError):
        AacConfig.parse(bad)


@pytest.mark.parametrize("cfg,size,expect", [
    (AacConfig(2, 44100, 2), 100, "fff15080 0d7ffc"),
    (AacConfig(2, 48000, 1), 0, "fff14c40 00fffc"),
    (AacConfig(5, 22050, 2, core_object_type=2), 371, "fff15c80 2f5ffc"),
])
def test_adts_header(cfg, size, expect):
    h = adts_header(cfg, size)
    assert h.hex() == expect.replace(" ", "")
    back = AdtsHeader.parse(h)
    assert back.frame_length == size + 7 and back.header_size == 7
    assert back.config.sample_rate == cfg.sample_rate and back.channels == cfg.channels
    frames = adts_split(h + b"\x5a" * size + h + b"\xa5" * size)
    assert [f for _, f in frames] == [b"\x5a" * size, b"\xa5" * size]


def test_adts_malformed():
    with pytest.raises(CodecError):
        adts_header(AacConfig(2, 44100, 2), 8200)           # frame_length overflows 13 bits
    with pytest.raises(CodecError):
        adts_header(AacConfig(2, 44101, 2), 10)             # no ADTS rate index
    with pytest.raises(CodecError):
        AdtsHeader.parse(b"\xff\xf1\x50")
    with pytest.raises(CodecError):
        AdtsHeader.parse(b"\x00\xf1\x50\x80\x0d\x7f\xfc")
    with pytest.raises(CodecError):
        adts_split(adts_header(AacConfig(), 100) + b"\x00" * 10)


# --- MP3
@pytest.mark.parametrize("head,version,layer,bitrate,rate,ch,length,samples", [
    (b"\xff\xfb\x90\x64", "1", 3, 128000, 44100, 2, 417, 1152),
    (b"\xff\xfb\x92\x64", "1", 3, 128000, 44100, 2, 418, 1152),     # padding
    (b"\xff\xf3\x84\xc4", "2", 3, 64000, 24000, 1, 192, 576),
    (b"\xff\xe3\x84\xc4", "2.5", 3, 64000, 12000, 1, 384, 576),
    (b"\xff\xfd\x94\x00", "1", 2, 160000, 48000, 2, 480, 1152),
    (b"\xff\xff\x90\x00", "1", 1, 288000, 44100, 2, 312, 384),
])
def test_mp3_header(head, version, layer, bitrate, rate, ch, length, samples):
    h = Mp3Header.parse(head)
    assert (h.version, h.layer, h.bitrate, h.sample_rate, h.channels, h.frame_length, h.samples) \
        == (version, layer, bitrate, rate, ch, length, samples)


def test_mp3_header_from_fixture(media_flv_mp3):
    frames = [m for m in iter_flv_tags(media_flv_mp3.data) if m.is_audio]
    assert frames and all(m.payload[0] >> 4 == ACODEC_MP3 for m in frames)
    h = Mp3Header.parse(frames[5].payload, 1)
    assert (h.version, h.layer, h.sample_rate, h.channels) == ("1", 3, 44100, 2)
    assert h.frame_length == len(frames[5].payload) - 1


@pytest.mark.parametrize("bad", [b"\xff\xfb\x90", b"\xfe\xfb\x90\x64", b"\xff\xeb\x90\x64",
                                 b"\xff\xf9\x90\x64", b"\xff\xfb\xf0\x64", b"\xff\xfb\x0c\x64",
                                 b"\xff\xfb\x9c\x64"])
def test_mp3_header_malformed(bad):
    with pytest.raises(CodecError):
        Mp3Header.parse(bad)


def test_avc_nalu_payload_from_fixture(media_flv):
    v, _ = _seq_headers(media_flv.data)
    cfg = AvcConfig.parse(v.payload[5:])
    key = next(m for m in iter_flv_tags(media_flv.data) if m.keyframe and not m.seq_header)
    tag = VideoTag.parse(key.payload)
    assert tag.avc_packet_type == AVC_NALU and tag.is_keyframe
    types = [n[0] & 0x1F for n in avcc_split(key.payload[5:], cfg.nal_length_size)]
    assert 5 in types
