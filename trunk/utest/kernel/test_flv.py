"""srs.kernel.flv: header/tag encoding, sans-IO decoder, whole-file iteration, VOD seek prefix."""
from __future__ import annotations

import io

import av
import pytest

from srs.kernel.errors import CodecError
from srs.kernel.flv import (FLV_HEADER, FlvDecoder, FlvHeader, FlvSeekIndex, encode_tag,
                            encode_tags, flv_header, iter_flv_tags, scan_tags)
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message


@pytest.mark.parametrize("audio,video,flags", [(True, True, 5), (True, False, 4),
                                               (False, True, 1), (False, False, 0)])
def test_header(audio, video, flags):
    h = flv_header(audio, video)
    assert h == b"FLV\x01" + bytes((flags,)) + b"\x00\x00\x00\x09" + b"\x00" * 4
    parsed = FlvHeader.parse(h)
    assert (parsed.has_audio, parsed.has_video, parsed.data_offset, parsed.version) == \
        (audio, video, 9, 1)
    assert parsed.encode() == h
    assert FLV_HEADER == flv_header()


@pytest.mark.parametrize("kind,ts,payload,expect", [
    (MSG_VIDEO, 0, b"\x17\x00", "09000002 000000 00 000000 1700 0000000d"),
    (MSG_AUDIO, 0x123456, b"\xaf", "08000001 123456 00 000000 af 0000000c"),
    (MSG_AMF0_DATA, 0x89ABCDEF, b"", "12000000 abcdef 89 000000 0000000b"),  # extended ts byte
])
def test_encode_tag_table(kind, ts, payload, expect):
    raw = encode_tag(kind, ts, payload)
    assert raw.hex() == expect.replace(" ", "")
    assert encode_tags([Message.make(kind, ts, payload)]) == raw
    msgs = FlvDecoder().receive_data(flv_header() + raw)
    assert len(msgs) == 1
    assert (msgs[0].kind, msgs[0].ts_ms, msgs[0].payload) == (kind, ts, payload)


def test_encode_tags_base_and_batch():
    msgs = [Message.make(MSG_VIDEO, 1000 + 40 * i, bytes([0x27, 1, 0, 0, 0, i])) for i in range(5)]
    batch = encode_tags(msgs, ts_base=1000)
    assert batch == b"".join(encode_tag(m.kind, m.ts_ms - 1000, m.payload) for m in msgs)
    back = FlvDecoder().receive_data(flv_header() + batch)
    assert [m.ts_ms for m in back] == [0, 40, 80, 120, 160]
    assert encode_tags([]) == b""
    with pytest.raises(CodecError):
        encode_tag(MSG_VIDEO, 0, b"\x00" * 0x1000000)


def test_round_trip_fixture_is_byte_identical(media_flv):
    msgs = list(iter_flv_tags(media_flv.data))
    kinds = [m.kind for m in msgs]
    assert kinds[0] == MSG_AMF0_DATA
    # + sequence header + the AVC end-of-sequence tag ffmpeg writes at the end
    assert kinds.count(MSG_VIDEO) == media_flv.video_frames + 2
    assert sum(1 for m in msgs if m.is_video and m.payload[1] == 1) == media_flv.video_frames
    assert kinds.count(MSG_AUDIO) == media_flv.audio_frames + 1
    assert sum(1 for m in msgs if m.keyframe and m.payload[1] == 1) == media_flv.keyframes
    assert flv_header() + encode_tags(msgs) == media_flv.data


@pytest.mark.parametrize("chunk", [1, 7, 188, 4096])
def test_decoder_incremental(media_flv, chunk):
    data = media_flv.data
    dec = FlvDecoder()
    got = []
    for i in range(0, len(data), chunk):
        got += dec.receive_data(data[i:i + chunk])
    whole = list(iter_flv_tags(data))
    assert [(m.kind, m.ts_ms, m.payload) for m in got] == [(m.kind, m.ts_ms, m.payload) for m in whole]
    assert dec.pending == 0 and dec.offset == len(data)
    assert dec.header.has_audio and dec.header.has_video


def test_encoded_stream_plays_in_pyav(media_flv_video_only):
    msgs = list(iter_flv_tags(media_flv_video_only.data))
    # Re-encode with a base (as a late-joining player sees it) and decode with PyAV.
    data = flv_header(False, True) + encode_tags([m for m in msgs if m.is_video], ts_base=0)
    with av.open(io.BytesIO(data), format="flv") as c:
        frames = list(c.decode(video=0))
    assert len(frames) == media_flv_video_only.video_frames
    assert (frames[0].width, frames[0].height) == (320, 240)


@pytest.mark.parametrize("bad", [
    b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",             # signature
    b"FLV\x01\x05\x00\x00\x00\x05\x00\x00\x00\x00",             # header size < 9
    b"FLV\x01\x05\xff\x00\x00\x09\x00\x00\x00\x00",             # absurd header size
    FLV_HEADER + b"\x07\x00\x00\x01" + b"\x00" * 7,              # unknown tag type
])
def test_decoder_malformed(bad):
    with pytest.raises(CodecError):
        FlvDecoder().receive_data(bad)


def test_decoder_max_tag_size():
    dec = FlvDecoder(max_tag_size=1024)
    with pytest.raises(CodecError):
        dec.receive_data(FLV_HEADER + b"\x09\x01\x00\x00" + b"\x00" * 7)


def test_truncated_file(media_flv):
    cut = media_flv.data[:-5]
    with pytest.raises(CodecError):
        list(iter_flv_tags(cut))
    assert len(list(iter_flv_tags(cut, strict=False))) == len(list(iter_flv_tags(media_flv.data))) - 1
    with pytest.raises(CodecError):
        iter_flv_tags(b"FLV\x01")
    dec = FlvDecoder()
    assert dec.receive_data(b"FLV\x01\x05") == [] and dec.header is None


def test_seek_index(media_flv):
    data = media_flv.data
    tags = scan_tags(data)
    idx = FlvSeekIndex(data[:64 * 1024])
    # metadata + AVC + AAC sequence headers are the leading tags
    first_frame = next(pos for pos, kind, _ts, size in tags
                       if kind != MSG_AMF0_DATA and not Message.make(
                           kind, 0, data[pos + 11:pos + 13]).seq_header)
    assert idx.sh_end == first_frame and idx.sh_start == 13
    prefix_msgs = list(iter_flv_tags(idx.prefix))
    assert [m.kind for m in prefix_msgs][0] == MSG_AMF0_DATA
    assert sum(1 for m in prefix_msgs if m.seq_header) == 2
    # answer for a keyframe offset is a playable FLV
    key_offsets = [pos for pos, kind, _ts, size in tags if kind == MSG_VIDEO
                   and data[pos + 11] >> 4 == 1 and data[pos + 12] == 1]
    offset = key_offsets[2]
    answer = idx.prefix + data[offset:]
    assert len(answer) == idx.response_size(len(data), offset)
    msgs = list(iter_flv_tags(answer))
    assert msgs[len(prefix_msgs)].keyframe and msgs[len(prefix_msgs)].ts_ms >= 1900
    with av.open(io.BytesIO(answer), format="flv") as c:
        assert sum(1 for _ in c.decode(video=0)) == media_flv.video_frames - 50
    with pytest.raises(CodecError):
        idx.response_size(len(data), 5)
    with pytest.raises(CodecError):
        FlvSeekIndex(data[:idx.sh_end])   # no frame after the sequence headers yet
