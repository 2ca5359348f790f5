"""kernel/fmp4: init + media segments built from FLV messages decode in PyAV (FFmpeg 8's mov demuxer),
frame for frame, for H.264+AAC, HEVC and AV1, muxed (HLS) and one track per file (DASH)."""
from __future__ import annotations

import io

import av
import pytest

from fixtures.media_ex import make_flv_ex
from srs.kernel import fmp4
from srs.kernel.codec import VCODEC_AV1, VCODEC_AVC, VCODEC_HEVC
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import Message


@pytest.fixture(scope="module")
def media_ex(tmp_path_factory):
    d = tmp_path_factory.mktemp("fmp4")
    return {c: make_flv_ex(d / f"{c}.flv", vcodec=c, seconds=2, width=352, height=288) for c in ("hevc", "av1")}


def segments(msgs, kinds=("video", "audio"), gop_cut=True, muxed=True):
    """Cut the messages at each video keyframe; return (init, [segment bytes]) or per-track dicts."""
    tracks, frags, out = {}, {}, []
    seq = 0

    def flush(end):
        nonlocal seq
        if not any(len(f) for f in frags.values()):
            return
        seq += 1
        parts = [frags[k].take(end) for k in sorted(frags)]
        if muxed:
            out.append(fmp4.media_segment(seq, parts))
        else:
            out.append({tracks[k].track_id: fmp4.media_segment(seq, [p]) for k, p in zip(sorted(frags), parts)})

    for m in msgs:
        kind = "video" if m.is_video else "audio" if m.is_audio else None
        if kind not in kinds:
            continue
        if m.seq_header:
            t = fmp4.track_of(m, 1 if kind == "video" else 2)
            if t is not None:
                tracks[kind] = t
                frags[kind] = fmp4.Fragment(t)
            continue
        if kind not in frags:
            continue
        if kind == "video" and m.keyframe and gop_cut and len(frags["video"]):
            flush(m.ts_ms)
        frags[kind].add_message(m)
    flush(None)
    order = [tracks[k] for k in sorted(tracks)]
    if muxed:
        return fmp4.init_segment(order), out
    return {t.track_id: fmp4.init_segment([t]) for t in order}, out


def decode(data: bytes):
    counts, info = {}, {}
    with av.open(io.BytesIO(data), format="mp4") as c:
        for s in c.streams:
            info[s.type] = (s.codec_context.name, getattr(s.codec_context, "width", 0),
                            getattr(s.codec_context, "height", 0))
        for frame in c.decode(*c.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            counts[kind] = counts.get(kind, 0) + 1
    return counts, info


def test_h264_aac_muxed_decodes_every_frame(media_flv):
    init, segs = segments(iter_flv_tags(media_flv.data))
    assert len(segs) == media_flv.keyframes
    counts, info = decode(init + b"".join(segs))
    assert counts["video"] == media_flv.video_frames
    assert counts["audio"] >= media_flv.audio_frames - 1  # the AAC decoder may hold the priming frame
    assert info["video"] == ("h264", 320, 240)
    assert info["audio"][0] == "aac"


def test_per_track_files_decode_alone(media_flv):
    inits, segs = segments(iter_flv_tags(media_flv.data), muxed=False)
    video = inits[1] + b"".join(s[1] for s in segs)
    audio = inits[2] + b"".join(s[2] for s in segs)
    assert decode(video)[0] == {"video": media_flv.video_frames}
    assert decode(audio)[0]["audio"] >= media_flv.audio_frames - 1


@pytest.mark.parametrize("codec,name", [("hevc", "hevc"), ("av1", "av1")])
def test_hevc_av1_segments_decode(media_ex, codec, name):
    media = media_ex[codec]
    init, segs = segments(iter_flv_tags(open(media.path, "rb").read()), kinds=("video",))
    assert len(segs) == media.keyframes
    counts, info = decode(init + b"".join(segs))
    assert counts == {"video": media.video_frames}
    assert info["video"][1:] == (352, 288)
    assert info["video"][0] in (name, "libdav1d", "libaom-av1")


def test_codec_strings(media_flv, media_ex):
    found = {}
    for m in list(iter_flv_tags(media_flv.data)) + [
            t for c in ("hevc", "av1") for t in iter_flv_tags(open(media_ex[c].path, "rb").read())]:
        if m.seq_header:
            t = fmp4.track_of(m, 1)
            if t is not None:
                found[t.codec_id if t.is_video else "aac"] = t.codec_string
    assert found[VCODEC_AVC].startswith("avc1.")
    assert found[VCODEC_HEVC].startswith("hvc1.1.6.L")
    assert found[VCODEC_AV1] == "av01.0.%s" % found[VCODEC_AV1].split(".")[2] + ".08"
    assert found["aac"] == "mp4a.40.2"


def test_sample_table_durations_and_offsets():
    t = fmp4.Track(1, False, 10, type("C", (), {"sample_rate": 44100, "channels": 2, "object_type": 2})(), b"\x12\x10")
    f = fmp4.Fragment(t)
    for ts, data in ((100, b"aa"), (123, b"bbb"), (123, b"c")):  # an equal DTS is pushed 1 ms on
        f.add(ts, data)
    track, base, table, datas, duration = f.take(200)
    assert (base, duration, len(table)) == (100, 100, 48)
    seg = fmp4.media_segment(7, [(track, base, table, datas, duration)], styp=False)
    assert seg[4:8] == b"moof" and seg.endswith(b"aabbbc")
    # trun data_offset points at the first sample byte, counted from the moof start
    offset = int.from_bytes(seg[seg.index(b"trun") + 12:seg.index(b"trun") + 16], "big")
    assert seg[offset:offset + 2] == b"aa"
    assert fmp4.media_segment(1, [f.take()]) == b""  # nothing left
