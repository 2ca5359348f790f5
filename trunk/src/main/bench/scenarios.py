"""The optional bench runs (``make bench`` leaves them out; run.py flags turn them on):

- ``--latency``: publisher -> server -> player latency (sb_rtmp_latency), realtime vhost vs default;
- ``--ingest N``: N publishers of the bench stream on the pinned server core (sb_rtmp_publish);
- ``--packaging N``: the same N publishers with no packaging, HLS (TS), HLS in fMP4 and DASH: the CPU of
  packaging per stream is the difference to the bare ingest;
- ``--read-modes``: RTMP players reading in 16 KB batches vs as data comes;
- ``--ceiling``: 5000 and 10000 RTMP players on one pinned process;
- ``--processes N``: RTMP players spread over N edge processes sharing a port (``reuseport``);
- ``--compare`` (and the end of ``make bench``): every available server of peers.py side by side.

Each returns a list of result dicts and a markdown snippet (printed; the numbers are copied into
the hand-written notes of PERFORMANCE.md, the generated table stays the default run's).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import List, Tuple

import psutil

from srs.main.bench.peers import READ_MODES, Kind
from srs.main.bench.rig import JOIN_TIMEOUT_S, LOAD_CPU, Rig, Sampler, free_port, one_run, window_rate

REALTIME = "min_latency on;\n    mw_latency 0;\n    gop_cache off;\n    tcp_nodelay on;"
DEFAULT = "gop_cache on;"


def latency(workdir: str, media: dict, frames: int = 200, players: int = 1) -> Tuple[List[dict], str]:
    out = []
    for name, vhost in (("realtime", REALTIME), ("default", DEFAULT)):
        rig = Rig(workdir, media, f"latency-{name}", vhost=vhost)
        rig.start(publish=False)
        try:
            js = os.path.join(rig.dir, "latency.json")
            p = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_latency",
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


def ingest(workdir: str, media: dict, publishers: int, steady: float, settle: float, vhost: str = DEFAULT,
           tag: str = "ingest", kind=None, sample=None) -> Tuple[List[dict], str]:
    """``sample(pid, run_dir) -> (Sampler, profile)`` replaces the plain steady-window Sampler (the scale
    table's, which can profile the window too)."""
    rig = Rig(workdir, media, f"{tag}-{publishers}", vhost=vhost, max_connections=max(5000, publishers + 100),
              kind=kind)
    rig.start(publish=False)
    try:
        join_s = max(2.0, publishers / 100.0)
        duration = join_s + settle + steady + 3
        js = os.path.join(rig.dir, "publish.json")
        url = f"rtmp://127.0.0.1:{rig.rtmp_port}/live/s{{i}}"
        pub = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_publish", "-i",
                                          media["path"], "-c", str(publishers), "-r", url, "-s", str(join_s),
                                          "-m", "5", "-e", "1", "--duration", str(duration), "--json", js],
                         "publish")
        pub_ps = psutil.Process(pub.pid)
        time.sleep(join_s + settle)
        pub_ps.cpu_percent(None)
        s, prof = sample(rig.server.pid, rig.dir) if sample else (Sampler(rig.server.pid).run(steady), {})
        pub_cpu = pub_ps.cpu_percent(None)
        pub.wait(duration + 30)
        with open(js) as f:
            data = json.load(f)
    finally:
        rig.stop()
    mbps, alive = window_rate(data["samples"], s.t0, s.t1, column=3)
    expected = publishers * media["kbps"] / 1000.0
    d = {"publishers": publishers, "cpu": round(s.avg_cpu, 1), "cpu_max": round(max(s.cpu), 1),
         "rss_mb": round(max(s.rss) / 2**20, 1), "mbps": round(mbps, 1), "expected_mbps": round(expected, 1),
         "ratio": round(mbps / expected, 3) if expected else 0, "alive": alive, "etasks": data["etasks"],
         "max_late_ms": data.get("max_late_ms"), "late_publishers": data.get("late_publishers"),
         "tool_cpu": round(pub_cpu, 1), "profile": prof}
    print("bench: ingest " + json.dumps(d), flush=True)
    md = ("| publishers | server CPU% (max) | RSS MB | ingest Mbps | expected | ratio | alive | errors "
          "| worst lateness ms | publishers >= 0.5 s late | publisher tool CPU% |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|\n"
          f"| {publishers} | {d['cpu']} ({d['cpu_max']}) | {d['rss_mb']} | {d['mbps']} | {d['expected_mbps']} "
          f"| {d['ratio']:.3f} | {alive} | {d['etasks']} | {d['max_late_ms']} | {d['late_publishers']} "
          f"| {d['tool_cpu']} |")
    return [d], md


# Packaging of every stream, written under the run directory (segments of 2 s, SRS's defaults otherwise).
PACKAGING = (("none", ""),
             ("hls", "hls { enabled on; hls_fragment 2; hls_window 10; hls_path ./html; }"),
             ("hls-fmp4", "hls { enabled on; hls_fragment 2; hls_window 10; hls_path ./html; hls_use_fmp4 on; }"),
             ("dash", "dash { enabled on; dash_fragment 2; dash_path ./html; }"))


def packaging(workdir: str, media: dict, publishers: int, steady: float, settle: float,
              rounds: int = 3) -> Tuple[List[dict], str]:
    """Server CPU with ``publishers`` streams ingested bare, then HLS / HLS-fMP4 / DASH packaged; the modes
    interleaved over ``rounds`` rounds and the median run of each kept (a shared machine is noisy)."""
    runs = {name: [] for name, _ in PACKAGING}
    for r in range(rounds):
        for name, block in PACKAGING:
            d = ingest(workdir, media, publishers, steady, settle, vhost=DEFAULT + "\n    " + block,
                       tag=f"packaging-{name}-{r}")[0][0]
            d["packaging"] = name
            runs[name].append(d)
    out = [sorted(runs[name], key=lambda d: d["cpu"])[len(runs[name]) // 2] for name, _ in PACKAGING]
    for d in out:
        d["cpu_runs"] = [x["cpu"] for x in runs[d["packaging"]]]
    bare = out[0]["cpu"]
    lines = ["| packaging | publishers | server CPU% median (runs) | packaging CPU% per stream | RSS MB | ingest ratio |",
             "|---|---|---|---|---|---|"]
    for d in out:
        per = (d["cpu"] - bare) / publishers if d["packaging"] != "none" else 0.0
        lines.append(f"| {d['packaging']} | {publishers} | {d['cpu']} ({', '.join(map(str, d['cpu_runs']))}) "
                     f"| {per:.3f} | {d['rss_mb']} | {d['ratio']:.3f} |")
    return out, "\n".join(lines)


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
        r = one_run(workdir, media, "rtmp", clients, steady, settle, read_size=size)
        print("bench: read-mode " + json.dumps(r), flush=True)
        out.append(r)
    return out, _table(out, lambda r: f"--read-size {r['read_size']}" if r["read_size"] else "default")


def ceiling(workdir: str, media: dict, counts: List[int], steady: float, settle: float) -> Tuple[List[dict], str]:
    out = []
    for n in counts:
        r = one_run(workdir, media, "rtmp", n, steady, settle)
        print("bench: ceiling " + json.dumps(r), flush=True)
        out.append(r)
    return out, _table(out, lambda r: "RTMP, 1 process")


def processes(workdir: str, media: dict, clients: int, nproc: int, steady: float,
              settle: float) -> Tuple[List[dict], str]:
    """SRS's several-processes-on-one-host layout: an origin takes the publish, ``nproc`` edge
    processes share one RTMP port (``reuseport on;``, the kernel spreads the players) and each
    pulls the stream once from the origin. Edge k is pinned to CPU (1 + k) % ncpu; the load tool
    runs ``-p nproc`` workers, unpinned."""
    origin = Rig(workdir, media, f"multi-origin-{nproc}x{clients}")
    origin.start(cpu=LOAD_CPU)
    edges: List[Rig] = []
    ncpu = os.cpu_count() or 1
    try:
        edge_vhost = f"cluster {{ mode remote; origin 127.0.0.1:{origin.rtmp_port}; }}"
        port, http_port = free_port(), free_port()
        for k in range(nproc):
            e = Rig(workdir, media, f"multi-edge{k}-{nproc}x{clients}", vhost=edge_vhost,
                          max_connections=clients + 100, extra="reuseport on;\n")
            e.rtmp_port, e.http_port = port, http_port
            e.start(publish=False, cpu=str((1 + k) % ncpu))
            edges.append(e)
            # start() saw the port open, but edge 0 holds it too: wait for THIS process's own socket,
            # else the kernel gives every player to the edges already listening
            deadline = time.monotonic() + JOIN_TIMEOUT_S
            while not _sockets(e.server.pid, port, psutil.CONN_LISTEN) and time.monotonic() < deadline:
                time.sleep(0.1)
        join_s = max(1.0, clients / 500.0)
        duration = join_s + JOIN_TIMEOUT_S + settle + steady + 2  # ended by TERM after the window
        rig0 = edges[0]
        load = rig0.load("rtmp", clients, duration, join_s, processes=nproc, cpu=None)
        rig0.wait_joined(load, processes=nproc, timeout_s=join_s + JOIN_TIMEOUT_S)
        time.sleep(settle)
        load_tree = Sampler(load.pid)
        samplers = [Sampler(e.server.pid) for e in edges]
        threads = [threading.Thread(target=s.run, args=(steady,)) for s in samplers + [load_tree]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        players = [_established(e.server.pid, port) for e in edges]
        rig0.end_load(load)
        data = rig0.load_json()
    finally:
        for e in edges:
            e.stop()
        origin.stop()
    mbps, alive = window_rate(data["samples"], samplers[0].t0, samplers[0].t1)
    expected = clients * media["kbps"] / 1000.0
    out = []
    for k, (s, n) in enumerate(zip(samplers, players)):
        out.append({"edge": k, "cpu_pin": (1 + k) % ncpu, "players": n, "cpu": round(s.avg_cpu, 1),
                    "cpu_max": round(max(s.cpu), 1), "rss_mb": round(max(s.rss) / 2**20, 1)})
    total = {"clients": clients, "processes": nproc, "cpu": round(sum(s.avg_cpu for s in samplers), 1),
             "rss_mb": round(sum(max(s.rss) for s in samplers) / 2**20, 1), "mbps": round(mbps, 1),
             "expected_mbps": round(expected, 1), "ratio": round(mbps / expected, 3) if expected else 0,
             "alive": alive, "etasks": data["etasks"], "load_cpu": round(load_tree.avg_cpu, 1)}
    print("bench: processes " + json.dumps({"edges": out, "total": total}), flush=True)
    lines = ["| edge process | pinned to CPU | players | CPU% of its core (max) | RSS MB |", "|---|---|---|---|---|"]
    for d in out:
        lines.append(f"| {d['edge']} | {d['cpu_pin']} | {d['players']} | {d['cpu']} ({d['cpu_max']}) | {d['rss_mb']} |")
    lines.append(f"| all {nproc} | | {sum(d['players'] for d in out)} | {total['cpu']} (sum) | {total['rss_mb']} |")
    lines += ["", f"Delivered {total['mbps']} of {total['expected_mbps']} Mbps (ratio {total['ratio']:.3f}), "
              f"alive {alive}, errors {total['etasks']}; load tool ({nproc} workers) {total['load_cpu']}% "
              "of a core in all."]
    return out + [total], "\n".join(lines)


def _established(pid: int, port: int) -> int:
    """Players connected to one edge process: its established sockets on the shared port."""
    return _sockets(pid, port, psutil.CONN_ESTABLISHED)


def _sockets(pid: int, port: int, status: str) -> int:
    """How many of process ``pid``'s TCP sockets on local ``port`` are in ``status`` (-1: no process)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return -1
    return sum(1 for c in conns if c.status == status and c.laddr and c.laddr.port == port)


# ---------------------------------------------------------------------------------- side by side
def compare(workdir: str, media: dict, kinds: List[Kind], clients: int, steady: float,
            settle: float) -> List[dict]:
    """The same load against every server: each protocol it serves, both read modes."""
    out = []
    for kind in kinds:
        for proto in ("rtmp", "flv"):
            if proto not in kind.protocols:
                continue
            for size in READ_MODES:
                r = one_run(workdir, media, proto, clients, steady, settle, read_size=size, kind=kind)
                r["server"] = kind.name
                r["version"] = kind.version()
                print("bench: compare " + json.dumps(r), flush=True)
                out.append(r)
    return out


def render_compare(results: List[dict], skipped: List[str]) -> List[str]:
    versions = []
    for r in results:
        if r["version"] not in versions:
            versions.append(r["version"])
    lines = ["### Side by side (same run, same stream, load and pinning; every server with its "
             "default settings)", "",
             "servers: " + "; ".join(versions) + ".", ""]
    if skipped:
        lines += ["not measured: " + "; ".join(skipped) + ".", ""]
    lines += ["| server | protocol | player reads | clients | server CPU% (max) | RSS MB | delivered Mbps "
              "| ratio | alive | errors | load tool CPU% |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        proto = "RTMP" if r["protocol"] == "rtmp" else "HTTP-FLV"
        reads = f"{r['read_size'] // 1024} KB batches" if r["read_size"] else "as data arrives"
        lines.append(f"| {r['server']} | {proto} | {reads} | {r['clients']} | {r['cpu']} ({r['cpu_max']}) "
                     f"| {r['rss_mb']} | {r['mbps']} | {r['ratio']:.3f} | {r['alive']} | {r['etasks']} "
                     f"| {r['load_cpu']} |")
    return lines
