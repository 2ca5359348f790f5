"""Heartbeat (global ``heartbeat {}``): POST who we are to a management server every interval.

Body as SRS's srs_app_heartbeat.cpp: ``{"device_id": ..., "ip": ...[, "summaries": {...}]}``;
the answer is read and ignored, failures are logged as warnings and the next beat goes on.
"""
from __future__ import annotations

import logging
import socket
from typing import Callable, List

import gevent
import psutil

from srs.app.config.view import HeartbeatConfig
from srs.app.http.client import http_post_json
from srs.kernel import log as srslog
from srs.kernel.errors import SrsError

log = logging.getLogger(__name__)

# One beat may not take longer than this (SRS uses its default HTTP client timeout).
BEAT_TIMEOUT_S = 30.0


class Heartbeat:
    """``ip`` is the address to report (SRS picks ``stats.network``-th local IPv4) or a callable
    returning it; ``summaries_fn`` returns the /api/v1/summaries object when ``summaries on``."""

    def __init__(self, url: str, device_id: str, interval_s: float,
                 summaries_fn: Callable[[], dict] | None, ip: str | Callable[[], str],
                 timeout_s: float = BEAT_TIMEOUT_S):
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval must be > 0, got {interval_s}")
        self.url = url
        self.device_id = device_id
        self.interval_s = interval_s
        self.summaries_fn = summaries_fn
        self.ip = ip
        self.timeout_s = min(timeout_s, max(interval_s, 1.0))
        self.beats = 0      # successful POSTs
        self.failures = 0
        self._greenlet: gevent.Greenlet | None = None

    def body(self) -> dict:
        ip = self.ip() if callable(self.ip) else self.ip
        obj = {"device_id": self.device_id, "ip": ip or ""}
        if self.summaries_fn is not None:
            obj["summaries"] = self.summaries_fn()
        return obj

    def beat(self) -> bool:
        """One heartbeat now; True if the server answered (any status)."""
        try:
            status, _ = http_post_json(self.url, self.body(), self.timeout_s)
        except SrsError as e:
            self.failures += 1
            log.warning("heartbeat to %s failed: %s", self.url, e)
            return False
        self.beats += 1
        srslog.verbose(log, "heartbeat to %s status=%d", self.url, status)
        return True

    def _run(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            try:
                self.beat()
            except Exception:  # summaries_fn bugs must not end the heartbeat
                log.exception("heartbeat failed")

    def start(self) -> None:
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
            srslog.trace(log, "heartbeat started, url=%s, interval=%.1fs", self.url, self.interval_s)

    def stop(self) -> None:
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=True)

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead


def local_ipv4s() -> List[str]:
    """The host's IPv4 addresses, interface order, loopback last (SRS's srs_get_local_ipv4_ips)."""
    ips: List[str] = []
    loopback: List[str] = []
    try:
        interfaces = psutil.net_if_addrs()
    except OSError:
        interfaces = {}
    for addrs in interfaces.values():
        for a in addrs:
            if a.family == socket.AF_INET and a.address:
                (loopback if a.address.startswith("127.") else ips).append(a.address)
    return ips + loopback


def report_ip(network_index: int) -> str:
    """The address a beat reports: the ``stats.network``-th local IPv4, else the first one."""
    ips = local_ipv4s()
    if not ips:
        return ""
    return ips[network_index] if 0 <= network_index < len(ips) else ips[0]


def start_heartbeat(cfg: HeartbeatConfig, network_index: int,
                    summaries_fn: Callable[[], dict] | None) -> "Heartbeat | None":
    """Builds and starts the global ``heartbeat {}`` (``cfg``); None when disabled. It reports the
    ``stats.network``-th local IPv4 and, with ``summaries on``, ``summaries_fn()`` (the API's
    /api/v1/summaries object)."""
    if not cfg.enabled:
        return None
    beat = Heartbeat(cfg.url, cfg.device_id, float(cfg.interval), summaries_fn if cfg.summaries else None,
                     lambda: report_ip(network_index))
    beat.start()
    return beat
