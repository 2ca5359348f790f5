"""``--scale-table``: every row of the scale table (issue 19), each server in the same run.

Every row runs on ours, then on SRS C++ (``--srs-binary``), one right after the other, with the
same stream, load tool, pinning and windows (server on CPU 1; publishers and load tools on CPU 0).
HLS also runs against nginx serving the files our server writes (static, ``sendfile``, an open
file cache), pinned where the server was. The rows:

- ``join``: RTMP and HTTP-FLV players joining at 500/s, 2000 / 4000 / 10,000: CPU while joining
  and after, first media p50/p99 (connect to the first audio/video byte);
- ``ceiling``: RTMP players stepped up (5000, 7500, ...) until a run is no longer full (every
  player alive, no error, >= 0.97 of clients x bitrate): the most one process holds;
- ``hls``: sb_hls_load players of 2 s TS fragments, 1000 and 2000;
- ``remux``: HTTP-TS, HTTP-AAC and HTTP-MP3 players, 1000 each (MP3 players get a copy of the stream
  with MP3 audio: SRS sends MP3 only from MP3);
- ``ingest``: 500 RTMP publishers of the stream;
- ``streams``: 1000 streams x 2 RTMP players, of a light stream (320x180, 15 fps: a thousand
  copies of the 600 kbps one are more messages than one core parses);
- ``churn``: 2000 RTMP players each leaving after 10 s and playing again at once (200 joins and
  200 leaves a second): sessions that got no media are the starved ones;
- ``dvr``: 100 publishers bare, then with HLS and DVR on: packaging CPU per stream.

Results print as one markdown table (copied into PERFORMANCE.md by hand, like the other optional
runs), with ours / SRS (and / nginx) per row.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import psutil

from srs.main.bench import scenarios
from srs.main.bench.paths import trunk_dir
from srs.main.bench.peers import OURS, Kind, fill_template
from srs.main.bench.profile import top_functions
from srs.main.bench.rig import (JOIN_TIMEOUT_S, LOAD_CPU, PROFILE_HZ, SERVER_CPU, Rig, Sampler, free_port,
                                make_media, one_run, wait_port, window_rate)

ROWS = ("join", "ceiling", "hls", "remux", "ingest", "streams", "churn", "dvr")
JOIN_SIZES = (2000, 4000, 10000)
JOIN_RATE = 500.0
CEILING_COUNTS = (5000, 7500, 10000, 12500, 15000)
FULL_RATIO = 0.97
HLS_SIZES = (1000, 2000)
HLS_BLOCK = "hls { enabled on; hls_fragment 2; hls_window 10; hls_path ./html; }"
REMUX_CLIENTS = 1000
INGEST_PUBLISHERS = 500
STREAMS, PLAYERS_PER_STREAM = 1000, 2
CHURN_PLAYERS, CHURN_SESSION_S = 2000, 10.0
DVR_STREAMS = 100
PROFILE_TOP = 8
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"   # Debian's is in sbin, not on every PATH
DVR_BLOCK = ("dvr { enabled on; dvr_apply all; dvr_plan session; "
             "dvr_path ./dvr/[app]/[stream].[timestamp].flv; }")


@dataclass
class Ctx:
    workdir: str
    media: dict
    steady: float
    settle: float
    kinds: List[Kind]
    nginx: bool
    profile: bool = False   # --scale-profile: py-spy on our server in each row (a run of its own: it costs CPU)
    out: List[dict] = field(default_factory=list)

    def media_named(self, name: str, **kw) -> dict:
        return make_media(os.path.join(trunk_dir(), "objs", "bench", name), **kw)


def _row(ctx: Ctx, path: str, load: str, server: str, d: dict, other: str = "") -> dict:
    r = {"path": path, "load": load, "server": server, **d, "other": other}
    if not (r.get("profile") or {}).get("top"):
        r.pop("profile", None)
    print("bench: scale " + json.dumps(r), flush=True)
    ctx.out.append(r)
    return r


def _sample(ctx: Ctx, kind: Kind, pid: int, run_dir: str) -> tuple:
    """The steady window's Sampler and, with ``ctx.profile`` on our server, py-spy's top functions over
    the same window ({} otherwise)."""
    spy = None
    out = os.path.join(run_dir, "profile.txt")
    if ctx.profile and kind is OURS:
        exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        if os.path.isfile(exe):
            spy = subprocess.Popen([exe, "record", "--format", "raw", "-r", str(PROFILE_HZ), "-d",
                                    str(int(ctx.steady)), "-p", str(pid), "-o", out, "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = Sampler(pid).run(ctx.steady)
    prof = {}
    if spy is not None and spy.wait(ctx.steady + 60) == 0 and os.path.isfile(out):
        with open(out) as f:
            prof = top_functions(f.read(), PROFILE_TOP, PROFILE_HZ, ctx.steady)
    return s, prof


def _window(s: Sampler, samples: List[list], clients: int, kbps: float, prof: dict) -> dict:
    """The columns every row's window gives: the server's CPU and RSS, what the load tool read in the
    same window against clients x the stream's bitrate, and the profile (if any)."""
    mbps, alive = window_rate(samples, s.t0, s.t1)
    return {"cpu": round(s.avg_cpu, 1), "cpu_max": round(max(s.cpu), 1), "rss_mb": round(max(s.rss) / 2**20, 1),
            "ratio": round(mbps / (clients * kbps / 1000.0), 3), "alive": alive, "clients": clients, "profile": prof}


def _load_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _sampler_of(ctx: Ctx, kind: Kind):
    """``_sample`` for scenarios.ingest's ``sample`` hook."""
    return lambda pid, run_dir: _sample(ctx, kind, pid, run_dir)


def _run_profile(ctx: Ctx, kind: Kind) -> float:
    """one_run's profile_s: py-spy for 10 s before the window, on our server when profiling."""
    return 10.0 if ctx.profile and kind is OURS else 0.0


def _players(d: dict) -> dict:
    """The columns of a player run (one_run's result)."""
    return {"cpu": d["cpu"], "cpu_max": d["cpu_max"], "rss_mb": d["rss_mb"], "ratio": d["ratio"],
            "alive": d["alive"], "clients": d["clients"], "errors": d["etasks"], "profile": d.get("profile")}


def _first_media(d: dict) -> str:
    if "first_media_p50_ms" not in d:
        return "no first-media figures"
    return f"first media p50 {d['first_media_p50_ms']:.0f} ms, p99 {d['first_media_p99_ms']:.0f} ms"


def _full(d: dict) -> bool:
    return d["alive"] >= d["clients"] and d["etasks"] == 0 and d["ratio"] >= FULL_RATIO


# ------------------------------------------------------------------------------------------ rows
def join(ctx: Ctx) -> None:
    for proto in ("rtmp", "flv"):
        for n in JOIN_SIZES:
            for kind in ctx.kinds:
                d = one_run(ctx.workdir, ctx.media, proto, n, ctx.steady, ctx.settle, join_rate=JOIN_RATE, kind=kind,
                            profile_s=_run_profile(ctx, kind))
                _row(ctx, f"{'RTMP' if proto == 'rtmp' else 'HTTP-FLV'} players joining at 500/s", str(n), kind.name,
                     _players(d), f"{_first_media(d)}; CPU while joining {d['join_cpu']}% (max {d['join_cpu_max']})")


def ceiling(ctx: Ctx) -> None:
    for kind in ctx.kinds:
        most = 0
        for n in CEILING_COUNTS:
            d = one_run(ctx.workdir, ctx.media, "rtmp", n, ctx.steady, ctx.settle, kind=kind,
                        profile_s=_run_profile(ctx, kind))
            full = _full(d)
            most = n if full else most
            _row(ctx, "RTMP players per core", str(n), kind.name, _players(d),
                 ("full" if full else "not full") + f"; {_first_media(d)}")
            if not full or d["cpu"] >= 90.0:
                break
        _row(ctx, "RTMP players per core", "most at full bitrate", kind.name, {}, f"{most} players")


def _wait_playlist(path: str, segments: int = 3, timeout_s: float = 40.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if f.read().count("#EXTINF") >= segments:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _nginx_static(rig: Rig, root: str, clients: int) -> tuple:
    """nginx serving ``root`` (what our server wrote) on a port of its own, pinned to the server CPU."""
    port = free_port()
    conf = os.path.join(rig.dir, "nginx-hls.conf")
    with open(conf, "w") as f:
        f.write(fill_template("nginx-hls.conf", {"DIR": rig.dir, "ROOT": root, "HTTP_PORT": port,
                                             "MAX_CONNECTIONS": clients + 100, "NOFILE": clients * 2 + 100}))
    p = rig._spawn(SERVER_CPU, [NGINX, "-p", rig.dir, "-e", os.path.join(rig.dir, "nginx-error.log"), "-c", conf],
                   "nginx")
    if not wait_port(port):
        raise SystemExit(f"bench: nginx did not start, see {rig.dir}/nginx.out")
    return p, port


def _hls_run(ctx: Ctx, kind: Kind, clients: int, nginx: bool) -> dict:
    tag = f"hls-{clients}" + ("-nginx" if nginx else "")
    rig = Rig(ctx.workdir, ctx.media, tag, vhost="gop_cache on;\n    " + HLS_BLOCK,
              max_connections=clients + 100, kind=kind)
    # with nginx serving, our server only packages: it leaves the server core to nginx
    rig.start(cpu=LOAD_CPU if nginx else SERVER_CPU)
    try:
        if not _wait_playlist(os.path.join(rig.dir, "html", "live", "livestream.m3u8")):
            raise SystemExit(f"bench: no HLS playlist in {rig.dir}/html/live")
        server, port = (_nginx_static(rig, os.path.join(rig.dir, "html"), clients) if nginx
                        else (rig.server, rig.http_port))
        js, ready = os.path.join(rig.dir, "load.json"), os.path.join(rig.dir, "load.ready")
        duration = 2 + JOIN_TIMEOUT_S + ctx.settle + ctx.steady + 4
        load = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_hls_load", "-c", str(clients),
                                     "-r", f"http://127.0.0.1:{port}/live/livestream.m3u8", "-s", "2", "-m", "5",
                                     "-e", "1", "--duration", str(duration), "--json", js, "--ready", ready],
                          "load")
        load_ps = psutil.Process(load.pid)
        rig.wait_joined(load, timeout_s=JOIN_TIMEOUT_S)
        time.sleep(ctx.settle + 2)   # every player through a reload and a segment
        load_ps.cpu_percent(None)
        s, prof = _sample(ctx, kind, server.pid, rig.dir) if not nginx else (Sampler(server.pid).run(ctx.steady), {})
        load_cpu = load_ps.cpu_percent(None)
        rig.end_load(load)
        data = _load_json(js)
    finally:
        rig.stop()
    return {**_window(s, data["samples"], clients, ctx.media["kbps"], prof),
            "errors": data["etasks"] + data["estasks"], "segments": data["stasks"], "load_cpu": round(load_cpu, 1)}


def hls(ctx: Ctx) -> None:
    for n in HLS_SIZES:
        runs = [(k, False) for k in ctx.kinds] + ([(OURS, True)] if ctx.nginx else [])
        for kind, nginx in runs:
            d = _hls_run(ctx, kind, n, nginx)
            _row(ctx, "HLS players (2 s TS fragments)", str(n), "nginx" if nginx else kind.name, d,
                 f"{d['segments']} segments fetched; load tool {d['load_cpu']}% "
                 "(ratio is of the FLV bitrate: TS framing adds ~8%)")


def remux(ctx: Ctx) -> None:
    mp3 = ctx.media_named("bench_600k_mp3.flv", audio="mp3")
    for fmt, media in (("ts", ctx.media), ("aac", ctx.media), ("mp3", mp3)):
        for kind in ctx.kinds:
            d = one_run(ctx.workdir, media, fmt, REMUX_CLIENTS, ctx.steady, ctx.settle, kind=kind,
                        profile_s=_run_profile(ctx, kind))
            rate = media["audio_kbps"] if fmt in ("aac", "mp3") else media["kbps"]
            _row(ctx, f"HTTP-{fmt.upper()} players", str(REMUX_CLIENTS), kind.name, _players(d),
                 f"ratio of {rate} kbps; {_first_media(d)}")


def ingest(ctx: Ctx) -> None:
    for kind in ctx.kinds:
        d = scenarios.ingest(ctx.workdir, ctx.media, INGEST_PUBLISHERS, ctx.steady, ctx.settle,
                             tag="scale-ingest", kind=kind, sample=_sampler_of(ctx, kind))[0][0]
        _row(ctx, "RTMP publishers", str(INGEST_PUBLISHERS), kind.name,
             {**d, "clients": INGEST_PUBLISHERS, "errors": d["etasks"]},
             f"worst publisher lateness {d['max_late_ms']} ms; publisher tool {d['tool_cpu']}%")


def _streams_run(ctx: Ctx, kind: Kind, media: dict) -> dict:
    players = STREAMS * PLAYERS_PER_STREAM
    rig = Rig(ctx.workdir, media, f"streams-{STREAMS}", max_connections=STREAMS + players + 100, kind=kind)
    rig.start(publish=False)
    try:
        join_s = STREAMS / 100.0
        duration = 2 * join_s + JOIN_TIMEOUT_S + ctx.settle + ctx.steady + 5
        base = f"rtmp://127.0.0.1:{rig.rtmp_port}/live/s"
        pjs, ljs = os.path.join(rig.dir, "publish.json"), os.path.join(rig.dir, "load.json")
        pub = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_publish", "-i", media["path"],
                                    "-c", str(STREAMS), "-r", base + "{i}", "-s", str(join_s), "-m", "5", "-e", "1",
                                    "--duration", str(duration), "--json", pjs], "publish")
        time.sleep(join_s + 3)   # every stream published, a GOP in its cache
        ready = os.path.join(rig.dir, "load.ready")
        load = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_load", "-c", str(players),
                                     "-r", base + f"{{i%{STREAMS}}}", "-s", str(join_s), "-m", "5", "-e", "1",
                                     "--duration", str(duration), "--json", ljs, "--ready", ready], "load")
        rig.wait_joined(load, timeout_s=join_s + JOIN_TIMEOUT_S)
        time.sleep(ctx.settle)
        s, prof = _sample(ctx, kind, rig.server.pid, rig.dir)
        rig.end_load(load)
        rig.end_load(pub)
        data, pdata = _load_json(ljs), _load_json(pjs)
    finally:
        rig.stop()
    return {**_window(s, data["samples"], players, media["kbps"], prof),
            "errors": data["etasks"] + pdata["etasks"], "max_late_ms": pdata.get("max_late_ms"),
            "late_publishers": pdata.get("late_publishers")}


def streams(ctx: Ctx) -> None:
    light = ctx.media_named("bench_light.flv", width=320, height=180, fps=15, gop=30, vbitrate=120_000)
    for kind in ctx.kinds:
        d = _streams_run(ctx, kind, light)
        _row(ctx, f"streams x {PLAYERS_PER_STREAM} RTMP players ({light['kbps']} kbps)", str(STREAMS), kind.name, d,
             f"worst publisher lateness {d['max_late_ms']} ms, {d['late_publishers']} publishers >= 0.5 s late")


def _churn_run(ctx: Ctx, kind: Kind) -> dict:
    rig = Rig(ctx.workdir, ctx.media, "churn", max_connections=CHURN_PLAYERS * 2 + 100, kind=kind)
    rig.start()
    try:
        js = os.path.join(rig.dir, "load.json")
        warm = CHURN_SESSION_S + ctx.settle   # the first sessions spread over one session's length
        duration = warm + ctx.steady + 5
        load = rig._spawn(LOAD_CPU, [sys.executable, "-m", "srs.main.bench.sb_rtmp_load", "-c", str(CHURN_PLAYERS),
                                     "-r", rig.rtmp_url(), "-s", str(CHURN_SESSION_S), "-t", "0", "-d", "0",
                                     "-e", "1", "-m", "5", "--session", str(CHURN_SESSION_S),
                                     "--duration", str(duration), "--json", js], "load")
        time.sleep(warm)
        s, prof = _sample(ctx, kind, rig.server.pid, rig.dir)
        rig.end_load(load)
        data = _load_json(js)
    finally:
        rig.stop()
    return {**_window(s, data["samples"], CHURN_PLAYERS, ctx.media["kbps"], prof), "errors": data["etasks"],
            "sessions": data["tasks"], "sessions_per_s": round(data["tasks"] / max(1.0, data["duration"]), 1),
            **{k: data[k] for k in ("first_media_p50_ms", "first_media_p99_ms", "first_media_max_ms") if k in data}}


def churn(ctx: Ctx) -> None:
    for kind in ctx.kinds:
        d = _churn_run(ctx, kind)
        _row(ctx, f"churn: RTMP players leaving after {CHURN_SESSION_S:.0f} s and joining again",
             f"{CHURN_PLAYERS} players", kind.name, d,
             f"{d['sessions']} sessions ({d['sessions_per_s']}/s), {d['errors']} without media (starved); "
             f"{_first_media(d)}, max {d.get('first_media_max_ms', 0):.0f} ms")


def dvr(ctx: Ctx) -> None:
    for kind in ctx.kinds:
        bare = None
        for name, block in (("bare", ""), ("HLS + DVR", HLS_BLOCK + "\n    " + DVR_BLOCK)):
            d = scenarios.ingest(ctx.workdir, ctx.media, DVR_STREAMS, ctx.steady, ctx.settle,
                                 vhost=scenarios.DEFAULT + "\n    " + block,
                                 tag=f"scale-dvr-{name.replace(' ', '')}", kind=kind,
                                 sample=_sampler_of(ctx, kind))[0][0]
            other = "" if bare is None else f"packaging {(d['cpu'] - bare) / DVR_STREAMS:.3f}% of a core per stream"
            bare = d["cpu"] if bare is None else bare
            _row(ctx, f"publishers, {name}", str(DVR_STREAMS), kind.name,
                 {**d, "clients": DVR_STREAMS, "errors": d["etasks"]}, other)


RUNNERS: Dict[str, Callable[[Ctx], None]] = {"join": join, "ceiling": ceiling, "hls": hls, "remux": remux,
                                             "ingest": ingest, "streams": streams, "churn": churn, "dvr": dvr}


# ---------------------------------------------------------------------------------------- report
def render(results: List[dict]) -> str:
    """One table; the last column is ours / SRS's CPU (and / nginx's for HLS) for the same row."""
    rows: Dict[tuple, dict] = {(r["path"], r["load"], r["server"]): r for r in results if "cpu" in r}
    lines = ["| path | load | server | CPU% (max) | RSS MB | delivered ratio | alive / clients | errors "
             "| ours / SRS CPU | other |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "cpu" not in r:
            lines.append(f"| {r['path']} | {r['load']} | {r['server']} | | | | | | | {r['other']} |")
            continue
        vs = ""
        if r["server"] == OURS.name:
            parts = []
            for peer in ("srs", "nginx"):
                theirs = rows.get((r["path"], r["load"], peer))
                if theirs is None:
                    continue
                if theirs["alive"] < theirs["clients"] and theirs["errors"]:   # it dropped players: its CPU means nothing
                    parts.append(f"{peer} failed")
                elif theirs["cpu"] > 0:
                    parts.append(f"{r['cpu'] / theirs['cpu']:.2f}x" + ("" if peer == "srs" else " nginx"))
            vs = ", ".join(parts)
        lines.append(f"| {r['path']} | {r['load']} | {r['server']} | {r['cpu']} ({r['cpu_max']}) | {r['rss_mb']} "
                     f"| {r['ratio']:.3f} | {r['alive']} / {r['clients']} | {r['errors']} | {vs} | {r['other']} |")
    for r in results:
        if r.get("profile"):
            top = ", ".join(f"`{f['name']}` {f['self_pct']:.0f}%" for f in r["profile"]["top"][:PROFILE_TOP])
            lines += ["", f"- profile of ours, {r['path']}, {r['load']} ({r['profile']['samples']} samples, "
                          f"self time): {top}"]
    return "\n".join(lines)


def run(workdir: str, media: dict, kinds: List[Kind], rows: List[str], steady: float, settle: float,
        nginx: Optional[bool] = None, profile: bool = False) -> tuple:
    unknown = [r for r in rows if r not in RUNNERS]
    if unknown:
        raise SystemExit(f"bench: unknown scale row {', '.join(unknown)} (of {', '.join(ROWS)})")
    ctx = Ctx(workdir, media, steady, settle, kinds,
              nginx=os.access(NGINX, os.X_OK) if nginx is None else nginx, profile=profile)
    for row in rows:
        RUNNERS[row](ctx)
    return ctx.out, render(ctx.out)
