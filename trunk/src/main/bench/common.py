"""What every srs-bench tool shares: the flags, the counters, the report line, -p workers, --json.

The tools are standalone programs (``objs/sb_rtmp_load`` ...): each monkey-patches gevent in its
own process (``patch()``, called first thing in ``main``), runs one greenlet per client and a
reporter greenlet that prints SRS-bench's line every ``-m`` seconds::

    [report] [pid] threads:N alive:N duration:S tduration:S nread:Mbps nwrite:Mbps tasks:N etasks:N stasks:N estasks:N

``threads`` = clients started, ``alive`` = clients connected right now, ``duration`` = seconds
since the run started, ``tduration`` = seconds clients spent in tasks (summed, divided by the
number of clients: the mean time a client was busy), ``nread``/``nwrite`` = Mbps over the last
report interval, ``tasks``/``etasks`` = sessions (a play, a download, a publish) started/failed,
``stasks``/``estasks`` = sub-tasks (HLS segments) done/failed.

``--json FILE`` writes the totals and one sample per second (unix time, alive, bytes read,
bytes written, both cumulative) at exit, so a driver (``run.py``) can compute the rate over any
window. ``-p N`` forks N workers before gevent starts; each takes a slice of the clients (the
client index ``{i}`` stays global) and the parent merges their JSON. ``--ready FILE`` appends a
line to FILE once every client of a process is alive, so a driver measures from the moment the
players really joined, not from when it spawned the tool (which may take seconds to start on a
busy core).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
from typing import Callable, List, Optional

# Importing gevent does not patch anything; patch() does, first thing in each tool's process.
import gevent
from gevent import monkey
from gevent.event import Event

from srs.main.bench.drain import Drain


def patch() -> None:
    """Monkey-patch the standard library for gevent (main layer: this process only)."""
    if not monkey.is_module_patched("socket"):
        monkey.patch_all()


def raise_nofile() -> None:
    """Thousands of clients need thousands of fds: lift the soft limit to the hard one."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def make_parser(prog: str, description: str, delay: float, need_input: bool = False) -> argparse.ArgumentParser:
    """The flags of SRS's srs-bench plus --duration, --json, -p and --read-size."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("-c", "--clients", type=int, default=1, help="number of clients (default 1)")
    p.add_argument("-r", "--url", required=True,
                   help="URL; {i} is replaced by the client index, {i%%N} by the index modulo N")
    p.add_argument("-t", "--repeat", type=int, default=0, help="tasks per client, 0 = infinite")
    p.add_argument("-s", "--start", type=float, default=5.0,
                   help="random startup sleep in seconds, uniform in [0, S] (default 5.0)")
    p.add_argument("-d", "--delay", type=float, default=delay,
                   help=f"sleep after a successful task (default {delay})")
    p.add_argument("-e", "--error", type=float, default=3.0, help="sleep after an error (default 3.0)")
    p.add_argument("-m", "--summary", type=float, default=30.0, help="report interval (default 30)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every task and error")
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0 = never)")
    p.add_argument("--json", default="", help="write the summary and per-second samples to FILE")
    p.add_argument("--ready", default="", help="append a line to FILE once all clients are alive")
    p.add_argument("-p", "--processes", type=int, default=1, help="fork N workers, splitting clients")
    p.add_argument("--read-size", type=int, default=0,
                   help="read in batches: sleep until about BYTES are buffered between reads")
    p.add_argument("--join-rate", type=float, default=0.0,
                   help="start clients at R per second (client i at i/R s) instead of -s")
    if need_input:
        p.add_argument("-i", "--input", required=True, help="input FLV file")
    return p


_MODULO = re.compile(r"\{i%(\d+)\}")


def client_url(url: str, index: int) -> str:
    """``{i}`` is the client index; ``{i%N}`` the index modulo N (N streams shared by the clients)."""
    url = _MODULO.sub(lambda m: str(index % max(1, int(m.group(1)))), url)
    return url.replace("{i}", str(index))


class Stats:
    """Counters of one process; greenlets bump them without locks (one OS thread)."""

    __slots__ = ("threads", "alive", "nread", "nwrite", "tasks", "etasks", "stasks", "estasks",
                 "task_seconds", "started", "samples", "clients", "drain", "first_media")

    def __init__(self, clients: int):
        self.clients = clients
        self.threads = self.alive = 0
        self.nread = self.nwrite = 0
        self.tasks = self.etasks = self.stasks = self.estasks = 0
        self.task_seconds = 0.0
        self.started = time.time()
        self.samples: List[list] = []
        self.drain = None
        self.first_media: List[float] = []  # ms from a task's connect to its first media, bounded

    def note_first_media(self, seconds: float) -> None:
        if len(self.first_media) < FIRST_MEDIA_LIMIT:
            self.first_media.append(round(seconds * 1000, 1))

    def sample(self) -> None:
        self.samples.append([round(time.time(), 3), self.alive, self.nread, self.nwrite])

    def to_dict(self) -> dict:
        return {"pid": os.getpid(), "clients": self.clients, "threads": self.threads,
                "alive": self.alive, "duration": round(time.time() - self.started, 3),
                "tduration": round(self.task_seconds / max(1, self.clients), 3),
                "nread_bytes": self.nread, "nwrite_bytes": self.nwrite,
                "nread_mbps": round(mbps(self.nread, time.time() - self.started), 3),
                "nwrite_mbps": round(mbps(self.nwrite, time.time() - self.started), 3),
                "tasks": self.tasks, "etasks": self.etasks, "stasks": self.stasks,
                "estasks": self.estasks, "samples": self.samples,
                "first_media_ms": self.first_media, **first_media_summary(self.first_media)}


FIRST_MEDIA_LIMIT = 200_000


def first_media_summary(ms: List[float]) -> dict:
    """p50/p99/max of the first-media times (connect to the first audio/video), {} when none."""
    if not ms:
        return {}
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]
    return {"first_media_p50_ms": pct(0.50), "first_media_p99_ms": pct(0.99), "first_media_max_ms": ordered[-1]}


def drain(stats: "Stats", opts):
    """The process's epoll reader (made on first use, after any fork)."""
    if stats.drain is None:
        stats.drain = Drain(stats, getattr(opts, "read_size", 0))
    return stats.drain


def repeat_tasks(index: int, stats: "Stats", opts, session: Callable, label: str = "client",
                 until_ok: bool = False) -> None:
    """SRS's task loop: run ``session(index, stats, opts)`` ``-t`` times (0 = forever), counting tasks and
    errors, sleeping ``-d`` after a success and ``-e`` after an error. ``until_ok``: -t counts inside
    one session (a publish loops its file), so the first success ends the loop and errors retry forever."""
    done = 0
    while opts.repeat <= 0 or done < opts.repeat:
        t0 = time.monotonic()
        stats.tasks += 1
        try:
            session(index, stats, opts)
            ok = True
        except Exception as e:  # noqa: BLE001 - count it and retry
            ok = False
            stats.etasks += 1
            if opts.verbose:
                print(f"[error] {label} {index}: {e!r}", file=sys.stderr, flush=True)
        stats.task_seconds += time.monotonic() - t0
        if until_ok:
            if ok and opts.repeat > 0:
                return
        else:
            done += 1
        pause = opts.delay if ok else opts.error
        gevent.sleep(pause if pause > 0 else 0)


def mbps(nbytes: float, seconds: float) -> float:
    return nbytes * 8 / 1e6 / seconds if seconds > 0 else 0.0


def report_line(d: dict, nread_mbps: float, nwrite_mbps: float) -> str:
    return (f"[report] [{d['pid']}] threads:{d['threads']} alive:{d['alive']} "
            f"duration:{d['duration']:.0f} tduration:{d['tduration']:.0f} "
            f"nread:{nread_mbps:.2f} nwrite:{nwrite_mbps:.2f} tasks:{d['tasks']} "
            f"etasks:{d['etasks']} stasks:{d['stasks']} estasks:{d['estasks']}")


def first_media_line(d: dict) -> str:
    """Our addition to srs-bench's output, after its report lines: how fast players got media."""
    return (f"[first-media] [{d['pid']}] players:{len(d['first_media_ms'])} p50:{d['first_media_p50_ms']:.1f}ms "
            f"p99:{d['first_media_p99_ms']:.1f}ms max:{d['first_media_max_ms']:.1f}ms")


def merge(parts: List[dict]) -> dict:
    """Sum the workers' summaries; samples are summed per whole second."""
    out = {"pid": os.getpid(), "processes": len(parts)}
    for key in ("clients", "threads", "alive", "nread_bytes", "nwrite_bytes", "tasks", "etasks",
                "stasks", "estasks"):
        out[key] = sum(p.get(key, 0) for p in parts)
    for key in ("nread_mbps", "nwrite_mbps"):
        out[key] = round(sum(p.get(key, 0.0) for p in parts), 3)
    out["first_media_ms"] = [x for p in parts for x in p.get("first_media_ms", [])]
    out.update(first_media_summary(out["first_media_ms"]))
    out["duration"] = max((p.get("duration", 0.0) for p in parts), default=0.0)
    clients = max(1, out["clients"])
    out["tduration"] = round(sum(p.get("tduration", 0.0) * p.get("clients", 0) for p in parts) / clients, 3)
    bins: dict = {}
    for p in parts:
        last: dict = {}
        for t, alive, nr, nw in p.get("samples", []):
            last[int(t)] = (alive, nr, nw)
        for sec, vals in last.items():
            acc = bins.setdefault(sec, [0, 0, 0, 0])
            acc[0] += 1
            acc[1] += vals[0]
            acc[2] += vals[1]
            acc[3] += vals[2]
    # only seconds every worker sampled, so the cumulative sums stay monotonic
    out["samples"] = [[float(sec), v[1], v[2], v[3]] for sec, v in sorted(bins.items())
                      if v[0] == len(parts)]
    return out


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class Runner:
    """Runs ``client(index, stats, opts)`` greenlets with startup sleeps, the reporter and the
    duration limit; returns the summary dict."""

    def __init__(self, opts, client: Callable, first_index: int = 0, count: Optional[int] = None):
        self.opts = opts
        self.client = client
        self.first = first_index
        self.count = opts.clients if count is None else count
        self.stats = Stats(self.count)

    def _start_client(self, index: int) -> None:
        opts = self.opts
        if opts.join_rate > 0:
            delay = index / opts.join_rate
        else:
            delay = random.uniform(0, opts.start) if opts.start > 0 else 0.0
        gevent.sleep(max(0.0, self.stats.started + delay - time.time()))
        self.stats.threads += 1
        try:
            self.client(index, self.stats, opts)
        except Exception as e:  # noqa: BLE001 - a client's bug must not end the run
            if opts.verbose:
                print(f"[error] client {index}: {e!r}", file=sys.stderr)

    def _reporter(self) -> None:
        st = self.stats
        last_t, last_r, last_w = time.time(), 0, 0
        next_report = st.started + self.opts.summary
        while True:
            gevent.sleep(1.0 - (time.time() - st.started) % 1.0)
            st.sample()
            now = time.time()
            if now >= next_report:
                dt = now - last_t
                print(report_line(st.to_dict(), mbps(st.nread - last_r, dt), mbps(st.nwrite - last_w, dt)),
                      flush=True)
                last_t, last_r, last_w = now, st.nread, st.nwrite
                next_report += self.opts.summary

    def _ready(self, path: str) -> None:
        """Append one line to ``path`` when all this process's clients are alive for the first time."""
        while self.stats.alive < self.count:
            gevent.sleep(0.02)
        with open(path, "a") as f:  # one short O_APPEND write per process: workers never interleave
            f.write(f"{os.getpid()} {time.time():.3f}\n")

    def run(self) -> dict:
        opts = self.opts
        raise_nofile()
        clients = [gevent.spawn(self._start_client, self.first + k) for k in range(self.count)]
        reporter = gevent.spawn(self._reporter)
        helpers = [reporter] + ([gevent.spawn(self._ready, opts.ready)] if getattr(opts, "ready", "") else [])
        done = Event()
        # TERM/INT end the run like --duration: final report and --json still happen
        handlers = [gevent.signal_handler(sig, done.set) for sig in (signal.SIGTERM, signal.SIGINT)]
        waiter = gevent.spawn(lambda: (gevent.joinall(clients), done.set()))
        done.wait(max(0.0, self.stats.started + opts.duration - time.time()) if opts.duration > 0 else None)
        for h in handlers:
            h.cancel()
        self.stats.sample()
        gevent.killall(clients + helpers + [waiter], timeout=2)
        d = self.stats.to_dict()
        print(report_line(d, d["nread_mbps"], d["nwrite_mbps"]), flush=True)
        if d["first_media_ms"]:
            print(first_media_line(d), flush=True)
        return d


def tool_main(argv: List[str], prog: str, description: str, delay: float, client: Callable,
              need_input: bool = False, prepare: Optional[Callable] = None,
              extend: Optional[Callable] = None, finish: Optional[Callable] = None) -> int:
    """Parse flags, fork workers if asked, run, write --json. ``extend(parser)`` adds a tool's
    own flags; ``prepare(opts)`` runs once before forking (e.g. reading the input file) and may
    store things on opts; ``finish(opts, summary)`` may add a tool's own totals to the summary
    of each process before it is written."""
    parser = make_parser(prog, description, delay, need_input)
    if extend is not None:
        extend(parser)
    opts = parser.parse_args(argv)
    if opts.clients < 1 or opts.processes < 1:
        print(f"{prog}: clients and processes must be >= 1", file=sys.stderr)
        return 2
    if prepare is not None:
        prepare(opts)
    procs = min(opts.processes, opts.clients)
    if procs == 1:
        patch()
        d = Runner(opts, client).run()
        if finish is not None:
            finish(opts, d)
        if opts.json:
            write_json(opts.json, d)
        return 0
    return _fork_workers(opts, client, procs, finish)


def _fork_workers(opts, client: Callable, procs: int, finish: Optional[Callable] = None) -> int:
    """Fork before any gevent hub exists; each child writes its summary to a temp file."""
    tmpdir = tempfile.mkdtemp(prefix="sb_")
    per, extra = divmod(opts.clients, procs)
    children = []
    first = 0
    for w in range(procs):
        count = per + (1 if w < extra else 0)
        path = os.path.join(tmpdir, f"w{w}.json")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                patch()
                d = Runner(opts, client, first, count).run()
                if finish is not None:
                    finish(opts, d)
                write_json(path, d)
                code = 0
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append((pid, path))
        first += count

    def forward(sig, _frame):  # TERM/INT end the workers' runs, which still write their JSON
        for pid, _ in children:
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    parts = []
    for pid, path in children:
        os.waitpid(pid, 0)
        try:
            with open(path) as f:
                parts.append(json.load(f))
            os.unlink(path)
        except (OSError, ValueError):
            pass
    os.rmdir(tmpdir) if not os.listdir(tmpdir) else None
    d = merge(parts)
    print("[total] " + report_line(d, d["nread_mbps"], d["nwrite_mbps"]), flush=True)
    if d["first_media_ms"]:
        print("[total] " + first_media_line(d), flush=True)
    if opts.json:
        write_json(opts.json, d)
    return 0 if len(parts) == procs else 1
