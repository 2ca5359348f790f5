"""SRS 5's Prometheus exporter: ``exporter { enabled on; listen 9972; label; tag; }``.

``GET /metrics`` on its own port, with SRS 5's metric names (srs_app_exporter.cpp @5), so dashboards
and alerts written for SRS 5 work unchanged: srs_node_uname_info, srs_build_info (server and service
ids, pid, version, the configured label and tag), srs_cpu_percent, srs_memory (RSS in KB),
srs_send_bytes_total, srs_receive_bytes_total, srs_streams, srs_clients, srs_clients_total and
srs_clients_errs_total (here: the connections refused at max_connections). Anything else is 404.
The listener is the HTTP API's (app/http/entry.py ApiServer): bounded by the server's connection gate.
The API's own ``/metrics`` (port 1985) keeps its richer per-stream set.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import psutil

from srs.app.api.routes import ProcessInfo
from srs.app.api.statistic import Statistic
from srs.app.http.entry import ApiServer
from srs.app.ports import CidSource
from srs.app.server.listener import ConnectionGate
from srs.core import version

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8"


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(lines: list, name: str, kind: str, help_text: str, value, labels: Optional[dict] = None) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    text = ",".join(f'{k}="{_label(v)}"' for k, v in (labels or {}).items())
    lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")


class Exporter:
    """The WSGI app of the exporter port; ``label``/``tag`` are the exporter block's."""

    def __init__(self, process: ProcessInfo, statistic: Statistic, gate: ConnectionGate, label: str = "",
                 tag: str = ""):
        self.process = process
        self.statistic = statistic
        self.gate = gate
        self.label = label
        self.tag = tag
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # the first call only starts the measure

    def metrics(self) -> str:
        p, stat = self.process, self.statistic
        lines: list = []
        uname = os.uname()
        _metric(lines, "srs_node_uname_info", "gauge", "Labeled system information as provided by the uname system call.",
                1, {"sysname": uname.sysname, "nodename": uname.nodename, "release": uname.release,
                    "version": uname.version, "machine": uname.machine})
        build = {"server": p.server_id, "service": p.service_id, "pid": str(p.pid), "build_date": "",
                 "major": str(version.VERSION_MAJOR), "version": version.VERSION, "code": version.CODE_NAME}
        if self.label:
            build["label"] = self.label
        if self.tag:
            build["tag"] = self.tag
        _metric(lines, "srs_build_info", "gauge", "A metric with a constant '1' value labeled by build_date, version "
                "from which SRS was built.", 1, build)
        _metric(lines, "srs_cpu_percent", "gauge", "SRS cpu used percent.", self._proc.cpu_percent(None))
        _metric(lines, "srs_memory", "gauge", "SRS memory used.", self._proc.memory_info().rss // 1024)
        _metric(lines, "srs_send_bytes_total", "counter", "SRS total sent bytes.", stat.kbps.send_bytes)
        _metric(lines, "srs_receive_bytes_total", "counter", "SRS total received bytes.", stat.kbps.recv_bytes)
        _metric(lines, "srs_streams", "gauge", "The number of SRS concurrent streams.", stat.nb_streams)
        _metric(lines, "srs_clients", "gauge", "The number of SRS concurrent clients.", stat.nb_clients)
        _metric(lines, "srs_clients_total", "counter", "The total counts of SRS clients.", stat.nb_clients_total)
        _metric(lines, "srs_clients_errs_total", "counter", "The total errors of SRS clients.", self.gate.refused)
        return "\n".join(lines) + "\n"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            body = b"not found\n"
            start_response("404 Not Found", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        body = self.metrics().encode()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))),
                                  ("Server", version.SIGNATURE)])
        return [body] if environ["REQUEST_METHOD"] == "GET" else [b""]


def start_exporter(config, process: ProcessInfo, statistic: Statistic, next_cid: CidSource,
                   gate: ConnectionGate) -> Optional[ApiServer]:
    cfg = config.exporter
    if not cfg.enabled:
        return None
    host, port = cfg.listen
    server = ApiServer(Exporter(process, statistic, gate, cfg.label, cfg.tag), host, port, next_cid=next_cid,
                       gate=gate, reuseport=config.reuseport)
    log.info("exporter listen at %s:%d (/metrics)", host or "0.0.0.0", server.port)
    return server
