"""srs-librtmp example tools (SRS's research/librtmp), one module per program.

Launchers ``objs/srs_rtmp_dump``, ``objs/srs_ingest_flv`` ... run ``python -m
srs.main.librtmp.<tool>``. Each tool calls :func:`patch` first (this is the main layer: the
only place allowed to monkey-patch), then works with ``srs.app.rtmp.librtmp.RtmpSession``.
What the tools share lives here: the gevent patch, SRS's ``[time] message`` trace lines, and
the pacer that publishes at the pace of the media timestamps.

The tools import gevent and the app modules they use at the top, before :func:`patch`: those
modules reach the network through gevent's own ``socket`` and sleep through gevent, so the patch
changes nothing for them (and importing gevent loads threading and logging anyway); it is for the
stdlib the tools call directly.
"""
from __future__ import annotations

import sys
import time

import gevent
from gevent import monkey

from srs.app.rtmp.librtmp import human_time
from srs.core import version

BANNER = "srs(simple-rtmp-server) client librtmp library."


def patch() -> None:
    """Monkey-patch the standard library for gevent (in this tool's process only)."""
    if not monkey.is_module_patched("socket"):
        monkey.patch_all()


def trace(msg: str = "", out=None) -> None:
    """``[2014-01-01 12:00:00.123] msg`` as srs_human_trace."""
    out = out or sys.stdout
    out.write(f"[{human_time()}] {msg}\n")
    out.flush()


def banner(title: str) -> None:
    print(title)
    print(BANNER)
    print(f"version: {version.VERSION}")
    sys.stdout.flush()


class Pacer:
    """Sleeps so media timestamps (ms) are sent no faster than wall clock x ``speed``.

    The first timestamp seen is the base; a jump backwards or forwards of more than
    ``max_gap_ms`` (a loop, a discontinuity) re-bases instead of stalling or bursting."""

    __slots__ = ("speed", "max_gap_ms", "_base_ts", "_base_clock", "_last_ts")

    def __init__(self, speed: float = 1.0, max_gap_ms: int = 3000):
        self.speed = speed if speed > 0 else 1.0
        self.max_gap_ms = max_gap_ms
        self._base_ts = None
        self._base_clock = 0.0
        self._last_ts = 0

    def wait(self, ts_ms: int) -> None:
        now = time.monotonic()
        if self._base_ts is None or abs(ts_ms - self._last_ts) > self.max_gap_ms:
            self._base_ts, self._base_clock = ts_ms, now
        self._last_ts = ts_ms
        due = self._base_clock + (ts_ms - self._base_ts) / 1000.0 / self.speed
        if due > now:
            gevent.sleep(due - now)


def run(main) -> None:
    """``sys.exit(main(argv))`` with Ctrl-C as a clean exit."""
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)
