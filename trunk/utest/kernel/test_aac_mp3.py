"""srs.kernel.aac (ADTS muxer) and srs.kernel.mp3 (raw MP3 muxer): outputs decode with PyAV."""
from __future__ import annotations

import io

import av
import pytest

from srs.kernel.aac import AdtsMuxer
from srs.kernel.codec import AdtsHeader, Mp3Header, adts_split
from srs.kernel.errors import CodecError
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.mp3 import ID3_HEADER, Mp3Muxer


def _decode_audio(data, fmt):
    with av.open(io.BytesIO(data), format=fmt) as c:
        frames = list(c.decode(audio=0))
        return frames, c.streams.audio[0].codec_context


def test_adts_muxer_decodes(media_flv):
    mux = AdtsMuxer()
    msgs = list(iter_flv_tags(media_flv.data))
    out = mux.on_messages(msgs)
    assert mux.config.sample_rate == 44100 and mux.dropped == 0
    frames = adts_split(out)
    assert len(frames) == media_flv.audio_frames
    raws = [m.payload[2:] for m in msgs if m.is_audio and not m.seq_header]
    assert [f for _, f in frames] == raws
    assert AdtsHeader.parse(out).config.channels == 2
    decoded, ctx = _decode_audio(out, "aac")
    assert len(decoded) >= media_flv.audio_frames - 1
    assert ctx.sample_rate == 44100 and ctx.channels == 2


def test_adts_muxer_edge_cases():
    mux = AdtsMuxer()
    assert mux.on_message(Message.make(MSG_AUDIO, 0, b"\xaf\x01\x21\x00")) == b""   # before config
    assert mux.on_message(Message.make(MSG_AUDIO, 0, b"\x2f\xff\xfb")) == b""       # mp3
    assert mux.on_message(Message.make(MSG_VIDEO, 0, b"\x17\x00")) == b""
    assert mux.dropped == 2
    assert mux.on_message(Message.make(MSG_AUDIO, 0, b"\xaf\x00\x12\x10")) == b""
    assert mux.on_message(Message.make(MSG_AUDIO, 0, b"\xaf\x01\x21\x00")) == \
        bytes.fromhex("fff1508001 3ffc 2100".replace(" ", ""))
    with pytest.raises(CodecError):
        mux.on_message(Message.make(MSG_AUDIO, 0, b"\xaf\x00\x12"))


def test_mp3_muxer_decodes(media_flv_mp3):
    mux = Mp3Muxer()
    msgs = list(iter_flv_tags(media_flv_mp3.data))
    body = mux.on_messages(msgs)
    assert mux.dropped == 0
    # frame by frame: each payload is exactly one MP3 frame
    pos = n = 0
    while pos < len(body):
        pos += Mp3Header.parse(body, pos).frame_length
        n += 1
    assert pos == len(body) and n == media_flv_mp3.audio_frames
    decoded, ctx = _decode_audio(mux.header() + body, "mp3")
    assert len(decoded) >= media_flv_mp3.audio_frames - 1 and ctx.sample_rate == 44100
    assert len(ID3_HEADER) == 20 and ID3_HEADER[:3] == b"ID3"


def test_mp3_muxer_skips_other_audio(media_flv):
    mux = Mp3Muxer()
    assert mux.on_messages(iter_flv_tags(media_flv.data)) == b""
    assert mux.dropped == media_flv.audio_frames + 1
