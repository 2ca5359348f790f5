"""AAC <-> Opus transcoders (src/app/rtc/audio.py), checked by decoding what they make with PyAV:
sample counts match the input's duration, timestamps advance by exactly one frame (no gaps),
lost Opus packets are filled with silence, a new AudioSpecificConfig (other rate, mono) is
followed, and garbage costs one frame, not the stream."""
from __future__ import annotations

import io

import av
import pytest

from fixtures.media import make_flv_bytes
from fixtures.media_ex import _opus_frame
from srs.app.rtc.audio import AAC_FRAME, OPUS_FRAME, AacToOpus, OpusToAac
from srs.kernel.codec_aac import AacConfig
from srs.kernel.errors import CodecError


def aac_track(seconds: float, rate: int = 44100, layout: str = "stereo"):
    """(asc, [(raw, dts_ms)]) of an AAC track encoded by FFmpeg (through an FLV, as RTMP has it)."""
    if rate == 44100 and layout == "stereo":
        data, _ = make_flv_bytes(seconds=seconds, audio="aac", video=False)
    else:
        buf = io.BytesIO()
        out = av.open(buf, "w", format="flv")
        stream = out.add_stream("aac", rate=rate, layout=layout)
        samples = 0
        while samples < seconds * rate:
            frame = av.AudioFrame(format="fltp", layout=layout, samples=AAC_FRAME)
            frame.sample_rate, frame.pts = rate, samples
            for i, plane in enumerate(frame.planes):   # a square-ish wave: not silence
                plane.update(bytes([0, 0, 0x80 + i, 0x3e] * (plane.buffer_size // 4)))
            samples += AAC_FRAME
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        out.close()
        data = buf.getvalue()
    with av.open(io.BytesIO(data), format="flv") as c:
        stream = c.streams.audio[0]
        asc = bytes(stream.codec_context.extradata)
        frames = [(bytes(p), int(p.dts * p.time_base * 1000)) for p in c.demux(stream) if p.size]
    return asc, frames


def opus_packets(seconds: float):
    """[(payload, rtp_ts)] 20 ms Opus packets from libopus, RTP timestamps from a random-ish base."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48000, "stereo", "flt", 64000
    enc.open()
    out = []
    for i in range(int(seconds * 50)):
        out += [bytes(p) for p in enc.encode(_opus_frame("flt", OPUS_FRAME, i * OPUS_FRAME))]
    base = 0xFFFFFFFF - 10 * OPUS_FRAME   # the caller unwraps: timestamps may pass 2^32
    return [(p, base + i * OPUS_FRAME) for i, p in enumerate(out)]


def decode(codec: str, payloads, extradata: bytes = b"", rate: int = 48000):
    ctx = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    else:
        ctx.sample_rate, ctx.layout = rate, "stereo"
    samples = 0
    frames = []
    for payload in payloads:
        for f in ctx.decode(av.Packet(payload)):
            samples += f.samples
            frames.append(f)
    return samples, frames


@pytest.mark.parametrize("rate,layout", [(44100, "stereo"), (22050, "mono")])
def test_aac_to_opus_gapless_20ms_packets(rate, layout):
    asc, frames = aac_track(2.0, rate, layout)
    t = AacToOpus(bitrate=48000)
    t.on_sequence_header(asc)
    out = [p for raw, dts in frames for p in t.transcode(raw, dts)]
    input_ms = len(frames) * AAC_FRAME * 1000 / rate
    # Opus at 48 kHz, 960 samples a packet; the resampler and encoder hold back < 2 packets.
    assert abs(len(out) * 20 - input_ms) <= 60, (len(out), input_ms)
    assert out[0][1] == frames[0][1] * 48
    assert all(b[1] - a[1] == OPUS_FRAME for a, b in zip(out, out[1:]))
    samples, decoded = decode("libopus", [p for p, _ in out])
    assert samples == len(out) * OPUS_FRAME
    assert decoded[0].sample_rate == 48000 and decoded[0].layout.nb_channels == 2
    assert t.errors == 0 and t.dropped == 0


def test_aac_to_opus_follows_a_new_sequence_header_and_resyncs():
    asc1, frames1 = aac_track(1.0)
    asc2, frames2 = aac_track(1.0, 48000, "mono")
    t = AacToOpus()
    assert t.transcode(frames1[0][0], 0) == []      # before the sequence header: dropped
    assert t.dropped == 1
    t.on_sequence_header(asc1)
    first = [p for raw, dts in frames1 for p in t.transcode(raw, dts)]
    t.on_sequence_header(asc2)
    assert t.config.sample_rate == 48000 and t.config.channels == 1
    later = 60_000                                   # a republish a minute later
    second = [p for raw, dts in frames2 for p in t.transcode(raw, later + dts)]
    assert len(first) >= 45 and len(second) >= 45
    assert any(ts == later * 48 for _, ts in second)  # re-anchored at the jump
    samples, _ = decode("libopus", [p for p, _ in first + second])
    assert samples == (len(first) + len(second)) * OPUS_FRAME
    with pytest.raises(CodecError):
        t.on_sequence_header(b"\xff")


def test_opus_to_aac_asc_and_no_gaps_across_loss():
    packets = opus_packets(2.0)
    lost = set(range(30, 35))                        # 100 ms lost in the middle
    t = OpusToAac(bitrate=48000)
    config = AacConfig.parse(t.sequence_header)
    assert (config.sample_rate, config.channels, config.profile) == (48000, 2, "LC")
    out = [f for i, (p, ts) in enumerate(packets) if i not in lost for f in t.transcode(p, ts)]
    assert t.silence_samples == len(lost) * OPUS_FRAME
    assert out[0][1] == packets[0][1]
    assert all(b[1] - a[1] == AAC_FRAME for a, b in zip(out, out[1:]))
    total_ms = len(packets) * 20
    assert abs(len(out) * AAC_FRAME / 48 - total_ms) <= 50, (len(out), total_ms)
    samples, decoded = decode("aac", [raw for raw, _ in out], extradata=t.sequence_header)
    assert samples == len(out) * AAC_FRAME
    assert decoded[0].sample_rate == 48000 and decoded[0].layout.nb_channels == 2


def test_opus_to_aac_drops_garbage_duplicates_and_oversize():
    packets = opus_packets(0.5)
    t = OpusToAac()
    assert t.transcode(b"", 0) == [] and t.transcode(bytes(5000), 0) == []
    assert t.dropped == 2
    out = []
    for i, (p, ts) in enumerate(packets):
        out += t.transcode(p, ts)
        if i == 5:
            out += t.transcode(p, ts)                # a duplicate: already played
        if i == 10:
            t.transcode(b"\xff\xff\xff\xff", ts + OPUS_FRAME)   # undecodable: counted, skipped
    assert t.dropped == 3 and t.errors == 1
    assert all(b[1] - a[1] == AAC_FRAME for a, b in zip(out, out[1:]))
    assert len(out) >= 18


def test_bitrate_is_bounded_like_srs():
    with pytest.raises(ValueError):
        AacToOpus(bitrate=1000)
    with pytest.raises(ValueError):
        OpusToAac(bitrate=500_000)


def test_opus_to_aac_absorbs_a_step_back_of_the_input_clock():
    """A Sender Report re-anchoring audio 100 ms earlier: ~100 ms of input is dropped to realign,
    the AAC timestamps stay gapless and increasing."""
    packets = opus_packets(1.0)
    t = OpusToAac()
    out = []
    for i, (p, ts) in enumerate(packets):
        out += t.transcode(p, ts - (4800 if i >= 20 else 0))
    assert t.dropped == 5                             # 5 x 20 ms
    assert all(b[1] - a[1] == AAC_FRAME for a, b in zip(out, out[1:]))
