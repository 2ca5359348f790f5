"""srs.kernel.ts (muxer), flv_to_ts (remuxer) and ts_demux, checked by PyAV and by each other."""
from __future__ import annotations

import hashlib
import io

import av
import pytest

from fixtures.media import make_flv_bytes
from srs.kernel.errors import CodecError
from srs.kernel.flv import iter_flv_tags
from srs.kernel.flv_to_ts import FlvToTs
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.ts import (PID_AUDIO, PID_PMT, PID_VIDEO, STREAM_ID_AUDIO, STREAM_ID_VIDEO, TsMuxer,
                           crc32_mpeg2, decode_timestamp, encode_pcr, encode_timestamp)
from srs.kernel.ts_demux import TsDemuxer


def _packets(ts):
    assert len(ts) % 188 == 0
    return [ts[i:i + 188] for i in range(0, len(ts), 188)]


def _pid(pkt):
    return ((pkt[1] & 0x1F) << 8) | pkt[2]


def _demux(ts, strict=True):
    d = TsDemuxer(strict=strict)
    frames = d.receive_data(ts) + d.flush()
    return d, frames


def test_crc32_mpeg2():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7   # the catalogue check value
    assert crc32_mpeg2(b"") == 0xFFFFFFFF


@pytest.mark.parametrize("ts", [0, 1, 90000, 2 ** 32 + 5, 2 ** 33 - 1])
def test_timestamp_round_trip(ts):
    for flag in (1, 2, 3):
        raw = encode_timestamp(flag, ts)
        assert len(raw) == 5 and raw[0] >> 4 == flag and raw[0] & 1 and raw[2] & 1 and raw[4] & 1
        assert decode_timestamp(raw) == ts
    assert decode_timestamp(encode_timestamp(2, ts + 2 ** 33)) == ts      # 33-bit wrap
    pcr = encode_pcr(ts)
    assert ((int.from_bytes(pcr[:4], "big") << 1) | (pcr[4] >> 7)) == ts


@pytest.mark.parametrize("has_video,acodec,types,pcr", [
    (True, "aac", {PID_VIDEO: 0x1B, PID_AUDIO: 0x0F}, PID_VIDEO),
    (True, "mp3", {PID_VIDEO: 0x1B, PID_AUDIO: 0x04}, PID_VIDEO),
    (False, "aac", {PID_AUDIO: 0x0F}, PID_AUDIO),
    (True, None, {PID_VIDEO: 0x1B}, PID_VIDEO),
])
def test_pat_pmt(has_video, acodec, types, pcr):
    mux = TsMuxer(has_video, acodec)
    psi = mux.pat_pmt()
    pat, pmt = _packets(psi)
    assert _pid(pat) == 0 and _pid(pmt) == PID_PMT and pat[1] & 0x40 and pmt[1] & 0x40
    for pkt in (pat, pmt):
        length = ((pkt[6] & 0x0F) << 8) | pkt[7]
        assert crc32_mpeg2(pkt[5:8 + length]) == 0
    d, frames = _demux(psi)
    assert frames == [] and d.streams == types and d.pcr_pid == pcr and d.pmt_pids == {PID_PMT}
    again = mux.pat_pmt()
    assert again[3] & 0x0F == 1 and again[188 + 3] & 0x0F == 1    # CC advanced


def test_muxer_rejects_nonsense():
    with pytest.raises(CodecError):
        TsMuxer(True, "opus")
    with pytest.raises(CodecError):
        TsMuxer(False, None)


@pytest.mark.parametrize("size", [0, 1, 150, 160, 161, 162, 170, 176, 177, 178, 183, 184, 185,
                                  350, 366, 367, 368, 1000, 70000])
def test_pes_sizes_round_trip(size):
    mux = TsMuxer(True, "aac")
    data = bytes(i & 0xFF for i in range(size))
    ts = mux.pat_pmt() + mux.write_video(9000 + 3600, 9000, data, True) \
        + mux.write_audio(9000, data[:2000] or b"\x01")
    pkts = _packets(ts)
    first_video = pkts[2]
    assert first_video[3] & 0x20 and first_video[5] & 0x40 and first_video[5] & 0x10  # RAI + PCR
    _, frames = _demux(ts)
    # an unbounded (length 0, > 64 KB) video PES only ends at the next start or at flush()
    frames.sort(key=lambda f: f.pid)
    assert [(f.pid, f.stream_id, f.pts, f.dts) for f in frames] == [
        (PID_VIDEO, STREAM_ID_VIDEO, 12600, 9000), (PID_AUDIO, STREAM_ID_AUDIO, 9000, 9000)]
    assert frames[0].payload == data and frames[0].random_access
    assert frames[1].payload == (data[:2000] or b"\x01") and not frames[1].random_access


def test_continuity_counters_persist():
    mux = TsMuxer(True, None)
    ccs = []
    for i in range(40):
        ts = mux.write_video(i * 3600, i * 3600, b"\x00" * 300, i % 10 == 0)
        ccs += [p[3] & 0x0F for p in _packets(ts)]
    assert ccs == [i & 0x0F for i in range(len(ccs))]


def _remux(data, vcodec="h264", acodec="aac"):
    fts = FlvToTs(vcodec, acodec)
    return fts, b"".join(fts.on_message(m) for m in iter_flv_tags(data))


def _decode(ts):
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        kinds = {s.type for s in c.streams}
        video = list(c.decode(video=0)) if "video" in kinds else []
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        audio = list(c.decode(audio=0)) if "audio" in kinds else []
    return video, audio


def test_flv_to_ts_decodes_in_pyav(media_flv):
    fts, ts = _remux(media_flv.data)
    assert fts.avc.width == 320 and fts.aac.sample_rate == 44100
    video, audio = _decode(ts)
    assert len(video) == media_flv.video_frames
    assert {(f.width, f.height) for f in video} == {(320, 240)}
    pts = [f.pts for f in video]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert video[0].key_frame and sum(f.key_frame for f in video) == media_flv.keyframes
    assert len(audio) >= media_flv.audio_frames - 1 and audio[0].sample_rate == 44100


def test_flv_to_ts_demuxed_by_us(media_flv):
    msgs = list(iter_flv_tags(media_flv.data))
    _, ts = _remux(media_flv.data)
    d, frames = _demux(ts)
    assert d.errors == 0
    video = [f for f in frames if f.pid == PID_VIDEO]
    audio = [f for f in frames if f.pid == PID_AUDIO]
    frames_v = [m for m in msgs if m.is_video and m.payload[1] == 1]
    frames_a = [m for m in msgs if m.is_audio and not m.seq_header]
    assert len(video) == len(frames_v) and len(audio) == len(frames_a)
    assert [f.dts for f in video] == [m.ts_ms * 90 for m in frames_v]
    assert [f.dts for f in audio] == [m.ts_ms * 90 for m in frames_a]
    # Annex-B access units: AUD first; SPS+PPS before each IDR; ADTS on audio.
    assert all(f.payload.startswith(b"\x00\x00\x00\x01\x09\xf0") for f in video)
    keys = [f for f in video if f.random_access]
    assert len(keys) == media_flv.keyframes
    assert all(b"\x00\x00\x00\x01\x67" in f.payload[:64] for f in keys)
    assert all(f.payload[:2] == b"\xff\xf1" for f in audio)


def test_flv_to_ts_bframes_pts():
    data, info = make_flv_bytes(seconds=1, audio=None, bframes=2, preset="veryfast")
    _, ts = _remux(data, acodec=None)
    _, frames = _demux(ts)
    assert any(f.pts != f.dts for f in frames)
    assert all(f.pts >= f.dts for f in frames)
    video, _ = _decode(ts)
    assert len(video) == info.video_frames
    assert [f.pts for f in video] == sorted(f.pts for f in video)


def test_flv_to_ts_mp3(media_flv_mp3):
    fts, ts = _remux(media_flv_mp3.data, acodec="mp3")
    d, frames = _demux(ts)
    assert d.streams[PID_AUDIO] == 0x04
    assert sum(1 for f in frames if f.pid == PID_AUDIO) == media_flv_mp3.audio_frames
    video, audio = _decode(ts)
    assert len(video) == media_flv_mp3.video_frames and len(audio) >= media_flv_mp3.audio_frames - 1
    # an AAC remuxer drops MP3 audio instead of mislabelling it
    fts, ts = _remux(media_flv_mp3.data, acodec="aac")
    assert fts.dropped == media_flv_mp3.audio_frames


def test_flv_to_ts_audio_only(media_flv_audio_only):
    fts, ts = _remux(media_flv_audio_only.data, vcodec=None)
    d, frames = _demux(ts)
    assert set(d.streams) == {PID_AUDIO} and d.pcr_pid == PID_AUDIO
    assert len(frames) == media_flv_audio_only.audio_frames
    # PCR rides on the audio pid
    first_audio = next(p for p in _packets(ts) if _pid(p) == PID_AUDIO)
    assert first_audio[3] & 0x20 and first_audio[5] & 0x10
    _, audio = _decode(ts)
    assert len(audio) >= media_flv_audio_only.audio_frames - 1


def test_flv_to_ts_video_only(media_flv_video_only):
    _, ts = _remux(media_flv_video_only.data, acodec=None)
    video, audio = _decode(ts)
    assert len(video) == media_flv_video_only.video_frames and audio == []


def test_segments_cut_at_keyframes(media_flv):
    """What HLS does: a new segment (starting with PAT/PMT) before each keyframe."""
    fts = FlvToTs("h264", "aac")
    segments = []
    for m in iter_flv_tags(media_flv.data):
        if m.keyframe and not m.seq_header and m.payload[1] == 1:
            segments.append([fts.pat_pmt()])
        out = fts.on_message(m)
        if out and segments:
            segments[-1].append(out)
            assert fts.last_keyframe == (m.is_video and m.keyframe)
    segments = [b"".join(s) for s in segments]
    assert len(segments) == media_flv.keyframes
    total = 0
    for seg in segments:
        assert seg[:1] == b"\x47" and _pid(seg) == 0
        video, _ = _decode(seg)          # each segment plays on its own
        assert video[0].key_frame and video[0].width == 320
        total += len(video)
    assert total == media_flv.video_frames
    d, _ = _demux(b"".join(segments))    # and CCs run on across segment boundaries
    assert d.errors == 0


def test_flv_to_ts_ignores_before_sequence_header():
    fts = FlvToTs()
    assert fts.on_message(Message.make(MSG_VIDEO, 0, b"\x17\x01\x00\x00\x00\x00\x00\x00\x01\x65")) == b""
    assert fts.on_message(Message.make(MSG_AUDIO, 0, b"\xaf\x01\x21")) == b""
    assert fts.on_message(Message.make(18, 0, b"\x02")) == b""
    assert fts.dropped == 2
    with pytest.raises(CodecError):
        FlvToTs("hevc")


def test_flv_to_ts_malformed_avc(media_flv):
    fts = FlvToTs()
    seq = next(m for m in iter_flv_tags(media_flv.data) if m.is_video and m.seq_header)
    fts.on_message(seq)
    with pytest.raises(CodecError):
        fts.on_message(Message.make(MSG_VIDEO, 0, b"\x17\x01\x00\x00\x00\x00\x00\x01\x00\x65"))
    with pytest.raises(CodecError):
        fts.on_message(Message.make(MSG_VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x42"))


# --- demuxer robustness
def _sample_ts(n=30):
    mux = TsMuxer(True, "aac")
    out = [mux.pat_pmt()]
    for i in range(n):
        out.append(mux.write_video(i * 3600, i * 3600, bytes([i]) * 500, i % 10 == 0))
        out.append(mux.write_audio(i * 3600, bytes([i]) * 100))
    return b"".join(out)


@pytest.mark.parametrize("chunk", [1, 100, 188, 1000])
def test_demux_incremental(chunk):
    ts = _sample_ts()
    d = TsDemuxer(strict=True)
    frames = []
    for i in range(0, len(ts), chunk):
        frames += d.receive_data(ts[i:i + chunk])
    frames += d.flush()
    assert len(frames) == 60
    assert [f.payload for f in frames if f.pid == PID_VIDEO] == [bytes([i]) * 500 for i in range(30)]


def test_demux_resyncs_after_garbage():
    ts = _sample_ts()
    d = TsDemuxer()
    frames = d.receive_data(b"\x00\x47garbage" + ts) + d.flush()
    assert len(frames) == 60 and d.errors == 1
    with pytest.raises(CodecError):
        TsDemuxer(strict=True).receive_data(b"\x12" + ts)


def test_demux_drops_partial_pes_on_loss():
    ts = _sample_ts()
    pkts = _packets(ts)
    # lose the 2nd packet of the 4th video PES (each 500-byte PES is 3 packets)
    video_idx = [i for i, p in enumerate(pkts) if _pid(p) == PID_VIDEO]
    lost = video_idx[3 * 3 + 1]
    d = TsDemuxer()
    frames = d.receive_data(b"".join(p for i, p in enumerate(pkts) if i != lost)) + d.flush()
    video = [f for f in frames if f.pid == PID_VIDEO]
    assert len(video) == 29 and d.errors == 1
    assert bytes([3]) * 500 not in [f.payload for f in video]
    with pytest.raises(CodecError):
        TsDemuxer(strict=True).receive_data(b"".join(p for i, p in enumerate(pkts) if i != lost))
    # a duplicated packet is ignored silently
    dup = b"".join(pkts[:5] + [pkts[4]] + pkts[5:])
    d = TsDemuxer(strict=True)
    assert len(d.receive_data(dup) + d.flush()) == 60


def test_demux_bad_crc_psi():
    ts = bytearray(_sample_ts())
    ts[188 + 20] ^= 0xFF  # corrupt the PMT section
    d = TsDemuxer()
    frames = d.receive_data(bytes(ts)) + d.flush()
    assert frames == [] and d.errors == 1 and d.streams == {}
    with pytest.raises(CodecError):
        TsDemuxer(strict=True).receive_data(bytes(ts))


def test_demux_garbage_never_crashes():
    blob = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(200))
    for data in (blob, b"\x47" + blob, bytes(188 * 3), b"\x47" * 1000,
                 b"".join(b"\x47\x40\x00\x10" + blob[i:i + 184] for i in range(0, 184 * 5, 184))):
        d = TsDemuxer()
        d.receive_data(data)
        d.flush()
