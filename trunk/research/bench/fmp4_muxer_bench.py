"""Our fMP4 muxer (srs.kernel.fmp4) against PyAV's mov muxer, per segment (issue 17: use PyAV's where
it is faster; keep ours only if it wins).

    objs/venv/bin/python research/bench/fmp4_muxer_bench.py [--rounds 7] [--bitrate 600000]

Workload: a 600 kbps 640x360 25 fps H.264 + AAC stream (made once with PyAV), cut into 2 s GOP-aligned
segments; each segment is built from the FLV messages the server holds, as DASH/HLS-fMP4 build it:
  ours  Fragment.add_message per message + media_segment (styp/moof/mdat), one muxed moof per segment;
  pyav  a mp4 muxer with movflags empty_moov+frag_keyframe+default_base_moof into a BytesIO, streams
        cloned from templates with the avcC/ASC extradata, one Packet per message (what app/dvr/mp4.py does),
        one container per segment (a segment file), or one long-lived container cut by flush_packets
        ("pyav-1c": the cheapest PyAV can do, one fragment per keyframe).
Rounds interleave the two; medians reported (the machine is shared).

Result, 2026-12-03, CPython 3.11.7, PyAV 18.1 (FFmpeg 8), 2 cores shared with ~6 other agents, four runs
of 7 interleaved rounds (the last after the 90 kHz / sample-rate timescales) (10 segments of 2 s, 696 kbps, 136 messages each; medians, range over the runs):
    ours      199-260 us CPU per segment                      (0.010-0.013% of a core per stream)
    pyav      718-1050 us (3.5-4.0x ours; a container per segment)
    pyav-1c   440-660 us  (2.2-2.6x ours; one container, a fragment per keyframe)
Decision: our muxer for DASH and HLS-fMP4. The FLV payload after its tag header already is the MP4
sample, so a fragment is a few struct packs and one join; PyAV needs a Packet (and a copy) per message
and its container set-up per file. DVR MP4 keeps PyAV's muxer: it writes a regular (non-fragmented) mp4
with the full sample index in one moov, the file players seek in, and its cost is per file, not per
segment.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction

import av

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utest"))

from fixtures.media import make_flv  # noqa: E402
from srs.kernel import fmp4  # noqa: E402
from srs.kernel.flv import iter_flv_tags  # noqa: E402

MS = Fraction(1, 1000)


def segments_of(msgs):
    """[(sequence headers), [[msg...] per GOP of 2 s]]."""
    headers = [m for m in msgs if m.seq_header]
    segs, cur = [], []
    for m in msgs:
        if not m.is_av or m.seq_header:
            continue
        if m.is_video and m.keyframe and cur and m.ts_ms - cur[0].ts_ms >= 2000:
            segs.append(cur)
            cur = []
        cur.append(m)
    if cur:
        segs.append(cur)
    return headers, segs


def ours(headers, segs):
    tracks = {}
    for m in headers:
        t = fmp4.track_of(m, 1 if m.is_video else 2)
        tracks["v" if m.is_video else "a"] = t
    frags = {k: fmp4.Fragment(t) for k, t in tracks.items()}
    out = 0
    for n, seg in enumerate(segs):
        for m in seg:
            frags["v" if m.is_video else "a"].add_message(m)
        out += len(fmp4.media_segment(n + 1, [frags["v"].take(), frags["a"].take()]))
    return out


def _pyav_streams(container, headers):
    scratch = av.open(io.BytesIO(), "w", format="mp4")
    streams = {}
    for m in headers:
        if m.is_video:
            s = container.add_stream_from_template(scratch.add_stream("h264"))
            t = fmp4.track_of(m, 1)
            s.codec_context.extradata, s.codec_context.width, s.codec_context.height = t.record, t.width, t.height
            s.time_base = MS
            streams["v"] = s
        else:
            t = fmp4.track_of(m, 2)
            s = container.add_stream_from_template(scratch.add_stream("aac", rate=t.sample_rate))
            s.codec_context.extradata = t.record
            s.time_base = MS
            streams["a"] = s
    scratch.close()
    return streams


def _packet(m, stream, last):
    """A Packet of message ``m``; ``last`` keeps each stream's last dts (the muxer refuses equal dts,
    as app/dvr/mp4.py knows)."""
    p = m.payload
    if m.is_video:
        data, cts = p[5:], int.from_bytes(p[2:5], "big", signed=True)
    else:
        data, cts = p[2:], 0
    dts = max(m.ts_ms, last.get(stream.index, -1) + 1)
    last[stream.index] = dts
    pkt = av.Packet(bytes(data))
    pkt.stream, pkt.time_base, pkt.dts, pkt.pts = stream, MS, dts, max(dts, m.ts_ms + cts)
    pkt.is_keyframe = bool(m.keyframe) or not m.is_video
    return pkt


OPTS = {"movflags": "empty_moov+frag_keyframe+default_base_moof"}


def pyav(headers, segs):
    out = 0
    for seg in segs:
        buf = io.BytesIO()
        c = av.open(buf, "w", format="mp4", options=OPTS)
        streams, last = _pyav_streams(c, headers), {}
        for m in seg:
            c.mux(_packet(m, streams["v" if m.is_video else "a"], last))
        c.close()
        out += len(buf.getvalue())
    return out


def pyav_one_container(headers, segs):
    buf = io.BytesIO()
    c = av.open(buf, "w", format="mp4", options=OPTS)
    streams, last = _pyav_streams(c, headers), {}
    for seg in segs:
        for m in seg:
            c.mux(_packet(m, streams["v" if m.is_video else "a"], last))
    c.close()
    return len(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--bitrate", type=int, default=600_000)
    ap.add_argument("--seconds", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        media = make_flv(os.path.join(d, "m.flv"), seconds=a.seconds, width=640, height=360, fps=25, gop=50,
                         audio="aac", vbitrate=a.bitrate)
        msgs = list(iter_flv_tags(media.data))
    headers, segs = segments_of(msgs)
    kbps = sum(len(m.payload) for s in segs for m in s) * 8 / a.seconds / 1000
    impls = {"ours": ours, "pyav": pyav, "pyav-1c": pyav_one_container}
    times = {k: [] for k in impls}
    for r in range(a.rounds):
        for name in list(impls)[r % 3:] + list(impls)[:r % 3]:
            t0 = time.process_time()
            impls[name](headers, segs)
            times[name].append((time.process_time() - t0) / len(segs))
    print(f"{len(segs)} segments of 2 s, {kbps:.0f} kbps, {sum(len(s) for s in segs) / len(segs):.0f} messages each")
    base = statistics.median(times["ours"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:8s} {med * 1e6:9.0f} us CPU per segment   x{med / base:.1f}   "
              f"= {med / 2 * 100:.3f}% of a core per stream")


if __name__ == "__main__":
    main()
