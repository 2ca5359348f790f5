"""The optional bench runs (``make bench`` leaves them out; run.py flags turn them on):

- ``--latency``: publisher -> server -> player latency (sb_rtmp_latency), realtime vhost vs default;
- ``--ingest N``: N publishers of the bench stream on the pinned server core (sb_rtmp_publish);
- ``--read-modes``: RTMP players reading in 16 KB batches vs as data comes;
- ``--ceiling``: 5000 and 10000 RTMP players on one pinned process.

Each returns a list of result dicts and a markdown snippet (printed; the numbers are copied into
the hand-written notes of PERFORMANCE.md, the generated table stays the default run's).
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import List, Tuple

import psutil

from srs.main.bench import run as bench

REALTIME = "min_latency on;\n    mw_latency 0;\n    gop_cache off;\n    tcp_nodelay on;"
DEFAULT = "gop_cache on;"


def latency(workdir: str, media: dict, frames: int = 200, players: int = 1) -> Tuple[List[dict], str]:
    out = []
    for name, vhost in (("realtime", REALTIME), ("default", DEFAULT)):
        rig = bench.Rig(workdir, media, f"latency-{name}", vhost=vhost)
        rig.start(publish=False)
        try:
            js = os.path.join(rig.dir, "latency.json")
            p = rig._spawn(bench.LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_latency",
                                            "-i", media["path"], "-r", rig.rtmp_url(), "--frames",
                                            str(frames), "--players", str(players), "--json", js],
                           "latency")
            p.wait(120)
            with open(js) as f:
                d = json.load(f)
        finally:
            rig.stop()
        d["mode"] = name
        print("bench: latency " + json.dumps(d), flush=True)
        out.append(d)
    lines = ["| vhost | frames | median ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for d in out:
        lines.append(f"| {d['mode']} | {d['count']} | {d['median']} | {d['p90']} | {d['p99']} | {d['max']} |")
    return out, "\n".join(lines)


def ingest(workdir: str, media: dict, publishers: int, steady: float, settle: float) -> Tuple[List[dict], str]:
    rig = bench.Rig(workdir, media, f"ingest-{publishers}", max_connections=max(5000, publishers + 100))
    rig.start(publish=False)
    try:
        join_s = max(2.0, publishers / 100.0)
        duration = join_s + settle + steady + 3
        js = os.path.join(rig.dir, "publish.json")
        url = f"rtmp://127.0.0.1:{rig.rtmp_port}/live/s{{i}}"
        pub = rig._spawn(bench.LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_publish", "-i",
                                          media["path"], "-c", str(publishers), "-r", url, "-s", str(join_s),
                                          "-m", "5", "-e", "1", "--duration", str(duration), "--json", js],
                         "publish")
        pub_ps = psutil.Process(pub.pid)
        time.sleep(join_s + settle)
        pub_ps.cpu_percent(None)
        s = bench.Sampler(rig.server.pid).run(steady)
        pub_cpu = pub_ps.cpu_percent(None)
        pub.wait(duration + 30)
        with open(js) as f:
            data = json.load(f)
    finally:
        rig.stop()
    mbps, alive = bench.window_rate(data["samples"], s.t0, s.t1, column=3)
    expected = publishers * media["kbps"] / 1000.0
    d = {"publishers": publishers, "cpu": round(s.avg_cpu, 1), "cpu_max": round(max(s.cpu), 1),
         "rss_mb": round(max(s.rss) / 2**20, 1), "mbps": round(mbps, 1), "expected_mbps": round(expected, 1),
         "ratio": round(mbps / expected, 3) if expected else 0, "alive": alive, "etasks": data["etasks"],
         "max_late_ms": data.get("max_late_ms"), "late_publishers": data.get("late_publishers"),
         "tool_cpu": round(pub_cpu, 1)}
    print("bench: ingest " + json.dumps(d), flush=True)
    md = ("| publishers | server CPU% (max) | RSS MB | ingest Mbps | expected | ratio | alive | errors "
          "| worst lateness ms | publishers >= 0.5 s late | publisher tool CPU% |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|\n"
          f"| {publishers} | {d['cpu']} ({d['cpu_max']}) | {d['rss_mb']} | {d['mbps']} | {d['expected_mbps']} "
          f"| {d['ratio']:.3f} | {alive} | {d['etasks']} | {d['max_late_ms']} | {d['late_publishers']} "
          f"| {d['tool_cpu']} |")
    return [d], md


def _table(results: List[dict], label) -> str:
    lines = ["| run | clients | server CPU% (max) | RSS MB | delivered Mbps | expected | ratio | alive "
             "| errors | load tool CPU% |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {label(r)} | {r['clients']} | {r['cpu']} ({r['cpu_max']}) | {r['rss_mb']} | {r['mbps']} "
                     f"| {r['expected_mbps']} | {r['ratio']:.3f} | {r['alive']} | {r['etasks']} | {r['load_cpu']} |")
    return "\n".join(lines)


def read_modes(workdir: str, media: dict, clients: int, steady: float, settle: float) -> Tuple[List[dict], str]:
    out = []
    for size in (0, 16384):
        r = bench.one_run(workdir, media, "rtmp", clients, steady, settle, read_size=size)
        print("bench: read-mode " + json.dumps(r), flush=True)
        out.append(r)
    return out, _table(out, lambda r: f"--read-size {r['read_size']}" if r["read_size"] else "default")


def ceiling(workdir: str, media: dict, counts: List[int], steady: float, settle: float) -> Tuple[List[dict], str]:
    out = []
    for n in counts:
        r = bench.one_run(workdir, media, "rtmp", n, steady, settle)
        print("bench: ceiling " + json.dumps(r), flush=True)
        out.append(r)
    return out, _table(out, lambda r: "RTMP, 1 process")
