"""CPU cost of the ABR ladder per rendition (issue 14): ``python -m srs.main.bench.abr_cost``.

Runs the ladder's own worker (srs.app.abr.worker) on a generated source file (no server, no network:
FLV in, FLV files out) with 0, 1, 2... renditions and reports the child's CPU time per second of
media, i.e. the share of one core a live stream of that ladder costs. 0 renditions is the one decode.

    python -m srs.main.bench.abr_cost --width 1280 --height 720 --seconds 10 --preset veryfast
    ladder                      cpu/s media   +this rendition
    decode only (1280x720)      0.07          0.07
    +480p 854x480@1000k         0.33          0.26
    ...
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from fractions import Fraction

import av

LADDER = (("720p", 0, 720, 2500, 128), ("480p", 0, 480, 1000, 96), ("360p", 0, 360, 700, 64),
          ("240p", 0, 240, 400, 64))


def make_source(path: str, width: int, height: int, seconds: float, fps: int = 25) -> None:
    """A moving-gradient H.264 + AAC FLV (x264 veryfast, keyframe every second)."""
    out = av.open(path, "w", format="flv")
    v = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "g": str(fps), "sc_threshold": "0"})
    v.width, v.height, v.pix_fmt, v.bit_rate = width, height, "yuv420p", 4_000_000
    a = out.add_stream("aac", rate=44100, layout="stereo")
    frame = av.VideoFrame(width, height, "yuv420p")
    silence = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
    for p in silence.planes:
        p.update(bytes(p.buffer_size))
    silence.sample_rate = 44100
    samples = 0
    for i in range(int(seconds * fps)):
        for pi, plane in enumerate(frame.planes):
            shift = (i * (3 if pi == 0 else 1)) % 256
            row = bytes((x + shift) % 256 for x in range(plane.line_size))
            plane.update(row * plane.height)
        frame.pts, frame.time_base = i, Fraction(1, fps)
        out.mux(v.encode(frame))
        while samples < (i + 1) * 44100 // fps:
            silence.pts = samples
            out.mux(a.encode(silence))
            samples += 1024
    out.mux(v.encode(None))
    out.mux(a.encode(None))
    out.close()


def worker_cpu_s(source: str, outdir: str, renditions, preset: str) -> float:
    spec = {"input": source, "preset": preset, "renditions": [
        {"name": n, "width": w, "height": h, "vbitrate": vb, "abitrate": ab, "url": os.path.join(outdir, n + ".flv")}
        for n, w, h, vb, ab in renditions]}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "srs.app.abr.worker", json.dumps(spec)], check=True,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--renditions", type=int, default=3, help="how many rungs of 720p/480p/360p/240p")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source.flv")
        make_source(source, args.width, args.height, args.seconds)
        print("%-28s %-14s %s" % ("ladder (preset %s)" % args.preset, "cpu/s media", "+this rendition"))
        last = 0.0
        for n in range(args.renditions + 1):
            cost = worker_cpu_s(source, tmp, LADDER[:n], args.preset) / args.seconds
            label = "decode only (%dx%d)" % (args.width, args.height) if n == 0 else "+%s %dk" % (
                LADDER[n - 1][0], LADDER[n - 1][3])
            print("%-28s %-14.3f %.3f" % (label, cost, cost - last))
            last = cost
    return 0


if __name__ == "__main__":
    sys.exit(main())
