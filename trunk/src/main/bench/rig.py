"""What every bench run stands on: a Rig (one server, ours or a peer, plus its publisher and load tool
on pinned CPUs), the Sampler of the server's CPU and RSS, the bench stream, and ``one_run``, which
puts them together for one (protocol, clients) measurement.

run.py (the default ``make bench`` table) and scenarios.py (the optional runs and the side-by-side
run of every server) both build on it; peers.py describes the servers a Rig can start.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Dict, List, Optional

import psutil

from srs.kernel.flv import FlvDecoder
from srs.kernel.message import MSG_AUDIO
from srs.main.bench.paths import trunk_dir
from srs.main.bench.peers import OURS
from srs.main.bench.profile import top_functions

SERVER_CPU = "1"
LOAD_CPU = "0"
PROFILE_HZ = 250  # py-spy --nonblocking samples without stopping the server
# WebRTC players from 500 up are read by two load-tool processes: one Python process cannot read
# 300+ Mbps of datagrams, and what it misses the kernel drops at its sockets (the server sent it)
RTC_LOAD_PROCESSES = 2
RTC_LOAD_PROCESSES_FROM = 500
JOIN_TIMEOUT_S = 30.0  # beyond the planned join time, for every player to be alive before measuring


# "lo-hi": free_port hands out ports of this range only, in turn. The test suite gives each parallel
# worker its own range below the kernel's ephemeral ports (utest/conftest.py): a port one worker picked
# cannot be picked by another, nor taken by an outgoing connection, before its server binds it.
PORT_RANGE_ENV = "SRS_FREE_PORT_RANGE"
_next_port = 0


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free now for both TCP and UDP: from SRS_FREE_PORT_RANGE when set, else the kernel's."""
    global _next_port
    spec = os.environ.get(PORT_RANGE_ENV, "")
    if spec:
        lo, _, hi = spec.partition("-")
        lo_port, hi_port = int(lo), int(hi)
        for _ in range(hi_port - lo_port):
            port = _next_port if lo_port <= _next_port < hi_port else lo_port
            _next_port = port + 1
            if _bindable(port):
                return port
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------------- media
def make_media(path: str, seconds: int = 20, audio: str = "aac", width: int = 640, height: int = 360,
               fps: int = 25, gop: int = 50, vbitrate: int = 470_000) -> dict:
    """The bench stream, generated once with the test-media generator (imported by path, so
    the bench needs utest/ only to build the file). The default is the ~600 kbps stream of every
    table; the scale table also uses an MP3-audio copy (``.mp3`` players) and a light one (1000 streams)."""
    # absolute: the publisher runs in each run's own directory (a cached description written by a
    # run given a relative path must not send it looking for objs/bench/ there)
    path = os.path.abspath(path)
    info_path = path + ".json"
    if os.path.isfile(path) and os.path.isfile(info_path):
        with open(info_path) as f:
            d = dict(json.load(f), path=path)
        if "audio_kbps" not in d:   # a description from before audio-only players were measured
            d["audio_kbps"] = flv_audio_kbps(path, d["duration_ms"])
        return d
    gen = os.path.join(trunk_dir(), "utest", "fixtures", "media.py")
    spec = importlib.util.spec_from_file_location("srs_bench_media", gen)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench: cannot load the media generator {gen}")
    media = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(media)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # 470 kbps asked of x264 + 64 kbps AAC + FLV framing come out near 600 kbps on this pattern
    info = media.make_flv(path, seconds=seconds, width=width, height=height, fps=fps, gop=gop,
                          audio=audio, vbitrate=vbitrate)
    d = {"path": path, "size": info.size, "duration_ms": info.duration_ms,
         "kbps": round(info.size * 8 / info.duration_ms, 1), "width": width, "height": height,
         "audio_kbps": flv_audio_kbps(path, info.duration_ms)}
    with open(info_path, "w") as f:
        json.dump(d, f)
    return d


def flv_audio_kbps(path: str, duration_ms: int) -> float:
    """The audio payload's bitrate (FLV audio tags less their 1-2 byte codec header): what an
    ``.aac`` / ``.mp3`` player should get, give or take the ADTS headers."""
    with open(path, "rb") as f:
        msgs = FlvDecoder().receive_data(f.read())
    # AAC (sound format 10) has a packet-type byte after the codec byte
    audio = sum(len(m.payload) - (2 if m.payload[0] >> 4 == 10 else 1)
                for m in msgs if m.kind == MSG_AUDIO and len(m.payload) > 2)
    return round(audio * 8 / max(1, duration_ms), 1)


# ---------------------------------------------------------------------------------- processes
def pinned(cpu: str, argv: List[str]) -> List[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > int(cpu):
        return ["taskset", "-c", cpu] + argv
    return argv


class Rig:
    """One server (ours or a peer, see peers.py) + publisher for a run; ``load()`` starts the load tool."""

    def __init__(self, workdir: str, media: dict, tag: str, vhost: str = "gop_cache on;",
                 max_connections: int = 5000, extra: str = "", kind=None):
        self.kind = kind or OURS
        self.dir = os.path.join(workdir, tag if self.kind is OURS else f"{self.kind.name}-{tag}")
        os.makedirs(os.path.join(self.dir, "html"), exist_ok=True)
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.api_port = 0        # set with the extra conf of a WebRTC run (rtc_extra)
        self.mount = ".flv"      # the http_remux mount's extension: .flv, .ts, .aac or .mp3 (one per vhost)
        self.media = media
        self.vhost, self.max_connections, self.extra = vhost, max_connections, extra
        self.procs: List[subprocess.Popen] = []
        self.server: Optional[subprocess.Popen] = None

    def _spawn(self, cpu: Optional[str], argv: List[str], name: str) -> subprocess.Popen:
        """Start ``argv`` in the run's directory, pinned to ``cpu`` (None: unpinned)."""
        out = open(os.path.join(self.dir, name + ".out"), "wb")
        p = subprocess.Popen(pinned(cpu, argv) if cpu is not None else argv, cwd=self.dir, stdout=out,
                             stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(p)
        return p

    def start(self, publish: bool = True, cpu: str = SERVER_CPU) -> None:
        py = sys.executable
        self.server = self._spawn(cpu, self.kind.argv(self), "server")
        if not wait_port(self.rtmp_port) or ("flv" in self.kind.protocols and not wait_port(self.http_port)):
            self.stop()
            raise SystemExit(f"bench: server did not start, see {self.dir}/server.out")
        if not publish:
            return
        self._spawn(LOAD_CPU, [py, "-m", "srs.main.bench.sb_rtmp_publish", "-i", self.media["path"],
                               "-r", self.rtmp_url(), "-s", "0", "-m", "3600"], "publish")
        time.sleep(2.5)  # a GOP in the cache before players come

    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/livestream"

    def http_url(self) -> str:
        """The stream over http_remux: HTTP-FLV, or TS/AAC/MP3 as ``mount`` says."""
        return f"http://127.0.0.1:{self.http_port}/live/livestream{self.mount}"

    def whep_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/rtc/v1/whep/?app=live&stream=livestream"

    def load(self, protocol: str, clients: int, duration: float, start_s: float,
             join_rate: float = 0.0, read_size: int = 0, processes: int = 1,
             cpu: Optional[str] = LOAD_CPU) -> subprocess.Popen:
        tool, url = {"rtmp": ("sb_rtmp_load", self.rtmp_url()), "rtc": ("sb_rtc_load", self.whep_url())}.get(
            protocol, ("sb_http_load", self.http_url()))
        ready = os.path.join(self.dir, "load.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        argv = [sys.executable, "-m", f"srs.main.bench.{tool}", "-c", str(clients), "-r", url,
                "-s", str(start_s), "-m", "5", "-e", "1", "--duration", str(duration),
                "--json", os.path.join(self.dir, "load.json"), "--ready", ready]
        if join_rate > 0:
            argv += ["--join-rate", str(join_rate)]
        if read_size > 0:
            argv += ["--read-size", str(read_size)]
        if processes > 1:
            argv += ["-p", str(processes)]
        return self._spawn(cpu, argv, "load")

    def wait_joined(self, load: subprocess.Popen, processes: int = 1, timeout_s: float = 30.0) -> Optional[float]:
        """Wait until every player of the load tool is alive (each of its ``processes`` wrote its
        --ready line); returns the time that took, None if the deadline passed or the tool ended.

        The measurement window starts from here, not from the spawn: the tool is a Python process
        that may take seconds to start on a busy core, and a window opened before its players
        joined counts some of them as dead (the "3 of 5 players alive" of issue 18)."""
        path = os.path.join(self.dir, "load.ready")
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s and load.poll() is None:
            try:
                with open(path) as f:
                    if len(f.read().splitlines()) >= processes:
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.05)
        return None

    @staticmethod
    def end_load(load: subprocess.Popen, timeout_s: float = 30.0) -> None:
        """End the load tool's run now (TERM: it still writes its --json) and wait for it."""
        if load.poll() is None:
            load.terminate()
        load.wait(timeout_s)

    def load_json(self) -> dict:
        with open(os.path.join(self.dir, "load.json")) as f:
            return json.load(f)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


# ---------------------------------------------------------------------------------- sampling
class Sampler:
    """CPU% (of one core) and RSS of a server, one sample per second: the process and its
    children together (nginx's master and worker are one server)."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.cpu: List[float] = []
        self.rss: List[int] = []

    def _tree(self) -> List[psutil.Process]:
        try:
            return [self.proc] + self.proc.children(recursive=True)
        except psutil.Error:
            return [self.proc]

    def _read(self, procs: List[psutil.Process]) -> tuple:
        cpu = rss = 0.0
        for p in procs:
            try:
                cpu += sum(p.cpu_times()[:2])
                rss += p.memory_info().rss
            except psutil.Error:
                pass
        return cpu, rss

    def run(self, seconds: float) -> "Sampler":
        procs = self._tree()  # fixed for the window, so a sample never loses a process's past
        t0 = time.time()
        c0, _ = self._read(procs)
        last_t, last_c = t0, c0
        while time.time() - t0 < seconds:
            time.sleep(1.0)
            now = time.time()
            c, rss = self._read(procs)
            self.cpu.append(100.0 * (c - last_c) / (now - last_t))
            self.rss.append(int(rss))
            last_t, last_c = now, c
        self.t0, self.t1 = t0, last_t
        self.avg_cpu = 100.0 * (last_c - c0) / max(1e-6, last_t - t0)
        return self


def window_rate(samples: List[list], t0: float, t1: float, column: int = 2) -> tuple:
    """Mbps read (column 2; 3 = written) by the load tool between t0 and t1 (its per-second
    cumulative samples) and the smallest alive count in the window."""
    inside = [s for s in samples if t0 - 0.5 <= s[0] <= t1 + 0.5]
    if len(inside) < 2:
        return 0.0, 0
    a, b = inside[0], inside[-1]
    return (b[column] - a[column]) * 8 / 1e6 / (b[0] - a[0]), min(s[1] for s in inside)


RTC_VHOST = "gop_cache on;\n    rtc { enabled on; rtmp_to_rtc on; }"


def rtc_extra() -> tuple:
    """The API port and the global conf of a WebRTC run: the API (WHEP) and rtc_server on a free
    UDP port of 127.0.0.1 (its candidate)."""
    api, udp = free_port(), free_port()
    return api, (f"http_api {{ enabled on; listen {api}; }}\n"
                 f"rtc_server {{ enabled on; listen 127.0.0.1:{udp}; candidate 127.0.0.1; }}\n")


def api_clients(api_port: int, count: int = 10000, timeout_s: float = 30.0) -> List[dict]:
    """The server's clients as its HTTP API lists them (/api/v1/clients, SRS's shape)."""
    url = f"http://127.0.0.1:{api_port}/api/v1/clients?start=0&count={count}"
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read())["clients"]


def rtc_sent_bytes(api_port: int) -> Dict[int, int]:
    """{client id: bytes sent} of the server's WebRTC players, from /api/v1/clients."""
    return {c["id"]: c.get("send_bytes", 0) for c in api_clients(api_port) if c.get("type") == "rtc-play"}


def rtc_server_rates(before: Dict[int, int], after: Dict[int, int], seconds: float, kbps: float) -> dict:
    """The server-side view of a WebRTC window: Mbps sent to all players, players that got >= 95% of
    the stream's bitrate (SRTP overhead counted, so a full player is a little above 100%)."""
    rates = [(after[k] - before.get(k, 0)) * 8 / seconds / 1000 for k in after] if seconds > 0 else []
    return {"server_mbps": round(sum(rates) / 1000, 1),
            "players_full": sum(r >= 0.95 * kbps for r in rates), "players_api": len(rates)}


# the other http_remux mounts one_run can play (sb_http_load; "flv" is the default table's HTTP-FLV)
HTTP_REMUX = ("ts", "aac", "mp3")


def one_run(workdir: str, media: dict, protocol: str, clients: int, steady: float,
            settle: float, join_rate: float = 0.0, profile_s: float = 0.0, read_size: int = 0,
            kind=None) -> dict:
    tag = (f"{protocol}-{clients}" + ("-join" if join_rate else "") + ("-profile" if profile_s else "")
           + (f"-read{read_size}" if read_size else ""))
    if protocol == "rtc":
        api, extra = rtc_extra()
        rig = Rig(workdir, media, tag, vhost=RTC_VHOST, max_connections=max(5000, clients + 100), extra=extra,
                  kind=kind)
        rig.api_port = api
    else:
        rig = Rig(workdir, media, tag, max_connections=max(5000, clients + 100), kind=kind)
        if protocol in HTTP_REMUX:
            rig.mount = "." + protocol
    rig.start()
    try:
        # a WebRTC player costs the server a DTLS handshake and its GOP burst encrypted: 100/s
        join_s = clients / join_rate if join_rate else max(1.0, clients / (100.0 if protocol == "rtc" else 500.0))
        # the tool is ended (TERM) right after the window; its own --duration only bounds a lost run
        duration = join_s + JOIN_TIMEOUT_S + settle + steady + (profile_s + 2 if profile_s else 0) + 2
        procs = RTC_LOAD_PROCESSES if protocol == "rtc" and clients >= RTC_LOAD_PROCESSES_FROM else 1
        load = rig.load(protocol, clients, duration, 0 if join_rate else join_s, join_rate, read_size,
                        processes=procs)
        load_ps = psutil.Process(load.pid)
        join_cpu = None
        if join_rate:
            join_cpu = Sampler(rig.server.pid).run(join_s)
        joined_s = rig.wait_joined(load, processes=procs, timeout_s=join_s + JOIN_TIMEOUT_S)
        time.sleep(settle)  # the players' first GOP and buffers, then the steady window
        result: Dict = {"protocol": protocol, "clients": clients, "join_rate": join_rate,
                        "read_size": read_size, "joined_s": None if joined_s is None else round(joined_s, 1)}
        if profile_s:
            result["profile"] = profile(rig.server.pid, profile_s, os.path.join(rig.dir, "profile.txt"))
        load_ps.cpu_percent(None)
        sent0 = rtc_sent_bytes(rig.api_port) if protocol == "rtc" else None
        s = Sampler(rig.server.pid).run(steady)
        load_cpu = load_ps.cpu_percent(None)
        if sent0 is not None:   # what the server sent, per player (the API's counters): the tool may miss some
            result.update(rtc_server_rates(sent0, rtc_sent_bytes(rig.api_port), s.t1 - s.t0, media["kbps"]))
        rig.end_load(load)
        data = rig.load_json()
        mbps, alive = window_rate(data["samples"], s.t0, s.t1)
        expected = clients * (media["audio_kbps"] if protocol in ("aac", "mp3") else media["kbps"]) / 1000.0
        result.update({
            "cpu": round(s.avg_cpu, 1), "cpu_max": round(max(s.cpu), 1),
            "rss_mb": round(max(s.rss) / 2**20, 1), "mbps": round(mbps, 1),
            "expected_mbps": round(expected, 1), "ratio": round(mbps / expected, 3) if expected else 0,
            "alive": alive, "etasks": data["etasks"], "load_cpu": round(load_cpu, 1),
        })
        for key in ("first_media_p50_ms", "first_media_p99_ms", "first_media_max_ms"):
            if key in data:
                result[key] = data[key]
        if join_cpu is not None:
            result["join_cpu"] = round(join_cpu.avg_cpu, 1)
            result["join_cpu_max"] = round(max(join_cpu.cpu), 1)
        return result
    finally:
        rig.stop()


def profile(pid: int, seconds: float, out: str) -> Optional[dict]:
    """py-spy record (raw collapsed stacks) of the server; None without py-spy."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.isfile(spy):
        return None
    r = subprocess.run([spy, "record", "--format", "raw", "-r", str(PROFILE_HZ), "-d", str(int(seconds)),
                        "-p", str(pid), "-o", out, "--nonblocking"],
                       capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0 or not os.path.isfile(out):
        return {"error": (r.stderr or r.stdout).strip()[-500:]}
    with open(out) as f:
        return top_functions(f.read(), 15, PROFILE_HZ, seconds)


# ---------------------------------------------------------------------------------- report
