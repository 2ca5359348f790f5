"""CPU of packaging one live stream as HLS (TS), HLS in fMP4 and DASH, in process (issue 17's bench:
"HLS/DASH packaging cost per stream"; ``make bench``'s ``--packaging 50`` measures the same on the whole
server, where the noise of a shared machine is larger than the difference).

    objs/venv/bin/python research/bench/packaging_cost_bench.py [--rounds 5]

The bench stream of ``make bench`` (587 kbps 640x360 25 fps H.264 + AAC, 20 s, 2 s GOPs) is fed as the
source's hub feeds it (every message, inline) into the real hub outputs (app/hls HlsStream, app/dash
DashStream) writing to a temp dir, with 2 s segments; the CPU time of the feed (process_time) over the
media duration is the share of a core one stream costs; x50 for 50 streams. Rounds interleave the modes;
medians reported. The bare cost of receiving the stream (RTMP, the source) is not in these numbers.

Result, 2026-12-03, CPython 3.11.7, 2 cores shared with ~6 other agents (medians of 5 rounds; two runs,
every mode writing to /dev/shm):
    packaging   CPU ms per media second   % of a core per stream   50 streams
    hls (TS)    0.79-0.82                 0.079-0.082%             4.0-4.1%
    hls-fmp4    0.37                      0.037%                   1.8%
    dash        0.44-0.47                 0.044-0.047%             2.2-2.3%
fMP4 costs about half of TS: a segment is one moof + mdat built at its end from the payloads as they
came, where TS packs every frame into 188-byte packets with PES headers.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utest"))

from fixtures.hub_host import Host, looped  # noqa: E402
from srs.app.dash.muxer import DashStream  # noqa: E402
from srs.app.live.source import LiveSource, SourceOptions  # noqa: E402
from srs.kernel.flv import iter_flv_tags  # noqa: E402
from srs.main.bench.rig import make_media  # noqa: E402
from srs.main.bench.paths import trunk_dir  # noqa: E402

MODES = {  # {html}: an absolute directory of the run (HLS paths are taken from the process's cwd)
    "hls": "hls {{ enabled on; hls_fragment 2; hls_window 10; hls_path {html}; }}",
    "hls-fmp4": "hls {{ enabled on; hls_fragment 2; hls_window 10; hls_path {html}; hls_use_fmp4 on; }}",
    "dash": "dash {{ enabled on; dash_fragment 2; dash_path {html}; }}",
}
URL = "__defaultVhost__/live/livestream"


def feed(mode: str, msgs, workdir: str) -> float:
    d = tempfile.mkdtemp(dir=workdir)
    host = Host(MODES[mode].format(html=os.path.join(d, "html")), d, now_ms=None)  # the wall clock
    src = LiveSource(URL, SourceOptions())
    src.publisher_cid = 1
    if mode == "dash":
        out = DashStream(src, "__defaultVhost__", config=lambda: host.config, clock=host.now_ms, cwd=d)
    else:
        out = host.hls_output(src, "__defaultVhost__")
    t0 = time.process_time()
    out.on_publish(src)
    for m in msgs:
        out.on_message(m)
    out.on_unpublish(src)
    cpu = time.process_time() - t0
    shutil.rmtree(d, ignore_errors=True)
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loops", type=int, default=3, help="the 20 s stream this many times per feed")
    a = ap.parse_args()
    media = make_media(os.path.join(trunk_dir(), "objs", "bench", "bench_600k.flv"))
    with open(media["path"], "rb") as f:
        msgs = looped(list(iter_flv_tags(f.read())), a.loops)
    seconds = (max(m.ts_ms for m in msgs) - min(m.ts_ms for m in msgs)) / 1000.0
    workdir = tempfile.mkdtemp(prefix="srs_pack_bench_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    times = {k: [] for k in MODES}
    try:
        for r in range(a.rounds):
            modes = list(MODES)
            for mode in modes[r % 3:] + modes[:r % 3]:
                times[mode].append(feed(mode, msgs, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{media['kbps']} kbps stream, {seconds:.0f} s of media per feed, {len(msgs)} messages")
    print("| packaging | CPU ms per media second | % of a core per stream | 50 streams |")
    print("|---|---|---|---|")
    for mode, ts in times.items():
        per_s = statistics.median(ts) / seconds
        print(f"| {mode} | {per_s * 1000:.2f} | {per_s * 100:.3f}% | {per_s * 5000:.1f}% |")


if __name__ == "__main__":
    main()
