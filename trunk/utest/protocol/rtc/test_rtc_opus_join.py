"""protocol/rtc/opus.py: single-frame Opus packets joined into one (code 1 / code 3 VBR) and split
back, both directions, with libopus (PyAV) decoding the joined packets to the same sample count."""
from __future__ import annotations

import array
import math

import av
import pytest

from srs.protocol.rtc import opus


def test_join_and_split_tables():
    a, b, c = bytes([0xFC]) + b"x" * 10, bytes([0xFC]) + b"y" * 10, bytes([0xFC]) + b"z" * 300
    assert opus.join([a]) == a
    assert opus.join([a, b]) == bytes([0xFD]) + b"x" * 10 + b"y" * 10          # code 1: two equal frames
    joined = opus.join([a, c, b])
    assert joined[0] == 0xFF and joined[1] == 0x80 | 3                            # code 3, VBR, 3 frames
    assert joined[2:5] == bytes([10, 252, (300 - 252) >> 2])                      # 10; 300 as 2 bytes
    assert opus.split(joined) == [b"x" * 10, b"z" * 300, b"y" * 10]
    assert opus.split(opus.join([a, b])) == [b"x" * 10, b"y" * 10]
    with pytest.raises(opus.OpusError):
        opus.join([a, bytes([0x7C]) + b"q"])                                      # another configuration
    with pytest.raises(opus.OpusError):
        opus.join([a, bytes([0xFD]) + b"qq"])                                     # not a single frame
    for bad in (b"", b"\x03", b"\x03\x40", b"\x02\xff"):
        with pytest.raises(opus.OpusError):
            opus.split(bad)


def test_libopus_decodes_joined_packets():
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48000, "stereo", "s16", 48000
    enc.open()
    packets = []
    for i in range(12):
        tone = array.array("h")
        for n in range(960):
            v = int(8000 * math.sin(2 * math.pi * 440 * (i * 960 + n) / 48000.0))
            tone += array.array("h", (v, v))          # interleaved stereo
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(tone.tobytes())
        frame.sample_rate, frame.pts = 48000, i * 960
        packets += [bytes(p) for p in enc.encode(frame)]
    assert all(p[0] & 0x03 == 0 for p in packets)        # libopus gives one 20 ms frame per packet
    dec = av.CodecContext.create("opus", "r")
    dec.sample_rate, dec.layout = 48000, "stereo"
    samples = 0
    for k in range(0, len(packets) - 2, 3):
        joined = opus.join(packets[k:k + 3])
        for frame in dec.decode(av.Packet(joined)):
            samples += frame.samples
    assert samples == 960 * 3 * ((len(packets) - 2 + 2) // 3)
