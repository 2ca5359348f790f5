"""The servers ``make bench`` can measure: ours and, when installed, the peers.

- ``srs-py``: this server (always).
- ``nginx-rtmp``: Debian's nginx with libnginx-mod-rtmp (RTMP only: the module has no HTTP-FLV).
- ``node-media-server``: from npm under objs/peers (RTMP and HTTP-FLV), run with Debian's node.
- ``srs``: SRS C++, only when a binary is given (``--srs-binary`` / ``SRS_BENCH_SRS_BINARY``); we
  neither ship nor build it.

``research/bench/install-peers.sh`` installs the first two; their configuration templates sit
next to it (``@FIELD@`` placeholders filled here). Each kind writes its conf into the run's
directory and returns the command line; the Rig pins it to the server CPU (nginx's worker
inherits the master's affinity) and the Sampler adds up the process tree, so nginx's master and
worker are one "server" like our single process.

The side-by-side run (scenarios.compare) gives every available server the same publisher, load
tool, clients and read modes, one after the other, and renders one table.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

from srs.core.version import VERSION
from srs.main.bench.paths import trunk_dir

NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
NMS_APP = os.path.join("objs", "peers", "node_modules", "node-media-server", "bin", "app.js")
READ_MODES = (0, 16384)  # as data arrives; 16 KB batches (the two read modes)


def fill_template(name: str, fields: Dict[str, object]) -> str:
    with open(os.path.join(trunk_dir(), "research", "bench", name)) as f:
        text = f.read()
    for key, value in fields.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def _first_line(argv: List[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = (r.stdout + r.stderr).strip().splitlines()
    return out[0].strip() if out else "?"


class Kind:
    """A server the bench can start. ``argv(rig)`` writes its conf into ``rig.dir``."""

    name = ""
    protocols: Tuple[str, ...] = ("rtmp", "flv")

    def missing(self) -> Optional[str]:
        """Why it can't run here, or None."""
        return None

    def version(self) -> str:
        return "?"

    def argv(self, rig) -> List[str]:
        raise NotImplementedError


class SrsPy(Kind):
    name = "srs-py"

    def version(self) -> str:
        return f"SRS-py {VERSION} (ours)"

    @staticmethod
    def conf(rig) -> str:
        return (f"listen {rig.rtmp_port};\nmax_connections {rig.max_connections};\ndaemon off;\n{rig.extra}"
                f"pid {rig.dir}/srs.pid;\nsrs_log_tank file;\nsrs_log_file {rig.dir}/srs.log;\n"
                f"http_server {{ enabled on; listen {rig.http_port}; dir {rig.dir}/html; }}\n"
                f"vhost __defaultVhost__ {{\n    {rig.vhost}\n"
                f"    http_remux {{ enabled on; mount [vhost]/[app]/[stream]{rig.mount}; }}\n}}\n")

    def command(self) -> List[str]:
        return [sys.executable, "-m", "srs.main.server"]

    def argv(self, rig) -> List[str]:
        path = os.path.join(rig.dir, "srs.conf")
        with open(path, "w") as f:
            f.write(self.conf(rig))
        return self.command() + ["-c", path]


class SrsCxx(SrsPy):
    """SRS C++ reads the same conf (every directive used is SRS's)."""

    name = "srs"

    def __init__(self, binary: str = ""):
        self.binary = binary or os.environ.get("SRS_BENCH_SRS_BINARY", "")

    def missing(self) -> Optional[str]:
        if not self.binary:
            return "no --srs-binary given"
        return None if os.access(self.binary, os.X_OK) else f"{self.binary} is not executable"

    def version(self) -> str:
        return f"SRS {_first_line([self.binary, '-v'])} (C++)"

    def command(self) -> List[str]:
        return [os.path.abspath(self.binary)]


class NginxRtmp(Kind):
    name = "nginx-rtmp"
    protocols = ("rtmp",)

    def missing(self) -> Optional[str]:
        if not shutil.which("nginx"):
            return "nginx not installed (research/bench/install-peers.sh nginx)"
        if not os.path.isfile(NGINX_MODULE):
            return f"{NGINX_MODULE} missing (apt-get install libnginx-mod-rtmp)"
        return None

    def version(self) -> str:
        mod = _first_line(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-rtmp"])
        return f"{_first_line(['nginx', '-v']).replace('nginx version: ', '')} + nginx-rtmp {mod}"

    def argv(self, rig) -> List[str]:
        path = os.path.join(rig.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(fill_template("nginx-rtmp.conf", {
                "MODULE": NGINX_MODULE, "DIR": rig.dir, "RTMP_PORT": rig.rtmp_port,
                "MAX_CONNECTIONS": rig.max_connections, "NOFILE": rig.max_connections * 2 + 100}))
        return [shutil.which("nginx") or "nginx", "-p", rig.dir, "-e", os.path.join(rig.dir, "error.log"),
                "-c", path]


class NodeMediaServer(Kind):
    name = "node-media-server"

    def __init__(self):
        self.app = os.environ.get("SRS_BENCH_NMS_APP", "") or os.path.join(trunk_dir(), NMS_APP)

    def missing(self) -> Optional[str]:
        if not shutil.which("node"):
            return "node not installed"
        if not os.path.isfile(self.app):
            return "not installed (research/bench/install-peers.sh nms)"
        return None

    def version(self) -> str:
        try:
            with open(os.path.join(os.path.dirname(os.path.dirname(self.app)), "package.json")) as f:
                v = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            v = "?"
        return f"node-media-server {v} (node {_first_line(['node', '--version'])})"

    def argv(self, rig) -> List[str]:
        path = os.path.join(rig.dir, "nms.json")
        with open(path, "w") as f:
            f.write(fill_template("node-media-server.json", {
                "RTMP_PORT": rig.rtmp_port, "HTTP_PORT": rig.http_port, "DIR": rig.dir}))
        return [shutil.which("node") or "node", self.app, "-c", path]


OURS = SrsPy()


def all_kinds(srs_binary: str = "") -> List[Kind]:
    return [OURS, SrsCxx(srs_binary), NginxRtmp(), NodeMediaServer()]


def select(names: str, srs_binary: str = "") -> Tuple[List[Kind], List[str]]:
    """The kinds named (``all`` = every one that is available) and why the others were left out."""
    kinds = all_kinds(srs_binary)
    wanted = [k.name for k in kinds] if names in ("", "all") else [n.strip() for n in names.split(",")]
    unknown = [n for n in wanted if n not in {k.name for k in kinds}]
    if unknown:
        raise SystemExit(f"bench: unknown server {', '.join(unknown)} "
                         f"(one of {', '.join(k.name for k in kinds)})")
    chosen, skipped = [], []
    for k in kinds:
        if k.name not in wanted:
            continue
        why = k.missing()
        if why:
            skipped.append(f"{k.name}: {why}")
        else:
            chosen.append(k)
    return chosen, skipped
