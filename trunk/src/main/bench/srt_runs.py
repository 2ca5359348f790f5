"""The SRT section of ``make bench`` (run.py ``--srt``): N SRT publishers, N SRT players of one stream.

- publishers: a server pinned to CPU 1 and sb_srt_publish on CPU 0 with N callers of the bench TS
  (the bench FLV remuxed by ffmpeg, looped to 2 minutes), each on its own stream at the file's
  bitrate. After all joined and a settle time: the server's CPU and RSS over the window, the ingest
  rate, and from the API the publishers none of whose packets the server dropped as too late
  (TSBPD) within the window: those are at full bitrate.
- players: the same server with one RTMP publisher of the bench FLV (sb_rtmp_publish) and
  sb_srt_load with N SRT players of it. A player is at full bitrate when it received, over the
  window, >= 95% of the stream's TS rate (the bench FLV through our own FLV->TS muxer).

Each configuration runs ``runs`` times; the table gives the median of each figure (the machine
is shared: single runs are noisy), and the command line.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

from srs.main.bench.rig import JOIN_TIMEOUT_S, LOAD_CPU, Rig, Sampler, api_clients, free_port, window_rate

FULL_RATE = 0.95


def make_ts(media: dict, loops: int = 6) -> dict:
    """The bench TS for publishers (ffmpeg -c copy of the FLV, looped) and the stream's TS rate as
    our remux makes it (what SRT players get)."""
    path = os.path.splitext(media["path"])[0] + ".ts"
    info_path = path + ".json"
    if os.path.isfile(path) and os.path.isfile(info_path):
        with open(info_path) as f:
            return json.load(f)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-stream_loop", str(loops - 1), "-i",
                    media["path"], "-c", "copy", "-f", "mpegts", "-y", path], check=True, timeout=300)
    from srs.kernel.flv_to_ts import FlvToTs
    from srs.main.bench.sb_rtmp_publish import load_flv
    from srs.main.bench.sb_srt_publish import ts_kbps
    msgs = load_flv(media["path"])
    remux = len(FlvToTs().on_messages(msgs)) * 8 / (msgs[-1].ts_ms - msgs[0].ts_ms)
    with open(path, "rb") as f:
        d = {"path": path, "kbps": round(ts_kbps(f.read()), 1), "remux_kbps": round(remux, 1)}
    with open(info_path, "w") as f:
        json.dump(d, f)
    return d


def free_udp_port() -> int:
    """A UDP port free now (rig.free_port checks TCP and UDP alike)."""
    return free_port()


class SrtRig(Rig):
    """A Rig whose server also listens for SRT (and serves the API, for the SRT figures)."""

    def __init__(self, workdir: str, media: dict, tag: str, clients: int):
        srt_port, api_port = free_udp_port(), free_port()
        super().__init__(workdir, media, tag, vhost="gop_cache on;\n    srt { enabled on; }",
                         max_connections=max(5000, clients + 100),
                         extra=f"srt_server {{ enabled on; listen {srt_port}; }}\n"
                               f"http_api {{ enabled on; listen {api_port}; }}\n")
        # after Rig's __init__, which starts every rig without an API port
        self.srt_port, self.api_port = srt_port, api_port

    def srt_url(self, streamid: str) -> str:
        return f"srt://127.0.0.1:{self.srt_port}?streamid={streamid}"

    def srt_clients(self, count: int) -> List[dict]:
        return [c for c in api_clients(self.api_port, count + 10, timeout_s=10) if "srt" in c]

    def srt_tool(self, tool: str, clients: int, url: str, duration: float, start_s: float,
                 extra: Optional[List[str]] = None):
        ready = os.path.join(self.dir, "load.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        argv = [sys.executable, "-m", f"srs.main.bench.{tool}", "-c", str(clients), "-r", url, "-s", str(start_s),
                "-m", "5", "-e", "1", "--duration", str(duration), "--json",
                os.path.join(self.dir, "load.json"), "--ready", ready] + (extra or [])
        return self._spawn(LOAD_CPU, argv, "load")


def _measure(rig: SrtRig, load, join_s: float, steady: float, settle: float) -> Tuple[Sampler, Optional[float]]:
    joined = rig.wait_joined(load, timeout_s=join_s + JOIN_TIMEOUT_S)
    time.sleep(settle)
    return Sampler(rig.server.pid).run(steady), joined


def publish_run(workdir: str, media: dict, ts: dict, publishers: int, steady: float, settle: float,
                k: int = 0) -> dict:
    rig = SrtRig(workdir, media, f"srt-publish-{publishers}-{k}", publishers)
    rig.start(publish=False)
    try:
        join_s = max(2.0, publishers / 50.0)
        duration = join_s + JOIN_TIMEOUT_S + settle + steady + 5
        load = rig.srt_tool("sb_srt_publish", publishers, rig.srt_url("#!::r=live/s{i},m=publish"), duration,
                            join_s, ["-i", ts["path"]])
        joined = rig.wait_joined(load, timeout_s=join_s + JOIN_TIMEOUT_S)
        time.sleep(settle)
        before = {c["id"]: (c["srt"]["recv_dropped"], c["srt"]["recv_pkts"]) for c in rig.srt_clients(publishers)}
        s = Sampler(rig.server.pid).run(steady)
        after = {c["id"]: (c["srt"]["recv_dropped"], c["srt"]["recv_pkts"])
                 for c in rig.srt_clients(publishers) if c.get("publish")}
        rig.end_load(load)
        data = rig.load_json()
    finally:
        rig.stop()
    mbps, alive = window_rate(data["samples"], s.t0, s.t1, column=3)
    # a publisher at full rate: none of its packets came too late for TSBPD within the window
    full = sum(1 for cid, (n, _) in after.items() if cid in before and n == before[cid][0])
    dropped = sum(n - before[cid][0] for cid, (n, _) in after.items() if cid in before)
    received = sum(p - before[cid][1] for cid, (_, p) in after.items() if cid in before)
    expected = publishers * ts["kbps"] / 1000.0
    return {"kind": "publishers", "clients": publishers, "joined": joined is not None,
            "cpu": round(s.avg_cpu, 1), "rss_mb": round(max(s.rss) / 2**20, 1), "mbps": round(mbps, 1),
            "expected_mbps": round(expected, 1), "alive": alive, "etasks": data["etasks"],
            "full_pct": round(100.0 * full / publishers, 1) if publishers else 0.0,
            "late_publishers": data.get("late_publishers"),
            "drop_pct": round(100.0 * dropped / max(1, dropped + received), 2)}


def _player_rates(data: dict, t0: float, t1: float) -> List[float]:
    """kbps of every player between the samples nearest t0 and t1."""
    samples = data.get("players") or []
    inside = [s for s in samples if t0 - 0.6 <= s[0] <= t1 + 0.6]
    if len(inside) < 2:
        return []
    (ta, a), (tb, b) = inside[0], inside[-1]
    return [(b.get(i, 0) - a.get(i, 0)) * 8 / 1000.0 / (tb - ta) for i in b]


def load_run(workdir: str, media: dict, ts: dict, players: int, steady: float, settle: float,
             k: int = 0) -> dict:
    rig = SrtRig(workdir, media, f"srt-load-{players}-{k}", players)
    rig.start()
    try:
        join_s = max(2.0, players / 100.0)
        duration = join_s + JOIN_TIMEOUT_S + settle + steady + 5
        load = rig.srt_tool("sb_srt_load", players, rig.srt_url("#!::r=live/livestream,m=request"), duration,
                            join_s)
        s, joined = _measure(rig, load, join_s, steady, settle)
        rig.end_load(load)
        data = rig.load_json()
    finally:
        rig.stop()
    mbps, alive = window_rate(data["samples"], s.t0, s.t1)
    rates = _player_rates(data, s.t0, s.t1)
    full = sum(1 for r in rates if r >= FULL_RATE * ts["remux_kbps"])
    return {"kind": "players", "clients": players, "joined": joined is not None, "cpu": round(s.avg_cpu, 1),
            "rss_mb": round(max(s.rss) / 2**20, 1), "mbps": round(mbps, 1),
            "expected_mbps": round(players * ts["remux_kbps"] / 1000.0, 1), "alive": alive,
            "etasks": data["etasks"], "full_pct": round(100.0 * full / players, 1) if players else 0.0,
            "median_kbps": round(statistics.median(rates), 1) if rates else 0.0,
            "lost_packets": data.get("lost_packets", 0)}


def run(workdir: str, media: dict, publishers: List[int], players: List[int], steady: float, settle: float,
        runs: int = 3) -> Tuple[List[dict], str]:
    ts = make_ts(media)
    out: List[dict] = []
    for kind, counts, fn in (("publishers", publishers, publish_run), ("players", players, load_run)):
        for n in counts:
            each = []
            for k in range(runs):
                r = fn(workdir, media, ts, n, steady, settle, k)
                print("bench: srt " + json.dumps(r), flush=True)
                each.append(r)
            out.append(median_of(each))
    return out, render(out, ts, runs)


def median_of(results: List[dict]) -> dict:
    m: Dict = dict(results[0])
    for key, v in results[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            m[key] = round(statistics.median(r[key] for r in results), 1)
    m["runs"] = len(results)
    return m


def render(results: List[dict], ts: dict, runs: int) -> str:
    lines = [f"SRT (median of {runs} runs each; server pinned to CPU 1, the SRT tool on CPU 0; publishers "
             f"send the bench TS at {ts['kbps']} kbps, players get our TS remux of the bench stream, "
             f"{ts['remux_kbps']} kbps; full bitrate = >= {FULL_RATE:.0%} of it over the window):", "",
             "| SRT clients | server CPU% | RSS MB | delivered Mbps | expected | % at full bitrate | alive "
             "| errors | packets dropped too late | command |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        tool = "sb_srt_publish" if r["kind"] == "publishers" else "sb_srt_load"
        lines.append(f"| {r['clients']} {r['kind']} | {r['cpu']} | {r['rss_mb']} | {r['mbps']} | {r['expected_mbps']} "
                     f"| {r['full_pct']} | {r['alive']} | {r['etasks']} | {str(r['drop_pct']) + '%' if 'drop_pct' in r else '-'} "
                     f"| `{tool} -c {r['clients']}` |")
    return "\n".join(lines)
