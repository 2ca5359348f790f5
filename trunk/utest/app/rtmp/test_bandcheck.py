"""The bandwidth test end to end: the real server (bandcheck vhost) against srs_bandwidth_check."""
from __future__ import annotations

import json
import subprocess
import sys

from fixtures.srs_server import SrsProcess

from srs.kernel.errors import ERROR_RTMP_ACCESS_DENIED, ERROR_SOCKET_CLOSED

KEY = "35c9b402c12a7246868752e2878f7e0e"
LIMIT_KBPS = 2000
BANDCHECK_VHOST = f"""
vhost bandcheck.srs.com {{
    enabled on;
    chunk_size 65000;
    bandcheck {{
        enabled on;
        key "{KEY}";
        interval 30;
        limit_kbps {LIMIT_KBPS};
    }}
}}
"""


def run_check(srs: SrsProcess, key: str, timeout_s: float = 30.0):
    url = f"rtmp://127.0.0.1:{srs.rtmp_port}/app?key={key},vhost=bandcheck.srs.com"
    p = subprocess.run([sys.executable, "-m", "srs.main.librtmp.bandwidth_check", url], capture_output=True,
                       text=True, timeout=timeout_s, cwd=srs.dir)
    lines = [line for line in p.stderr.splitlines() if line.startswith("{")]
    assert lines, p.stdout + p.stderr
    return p, json.loads(lines[-1])


def test_bandwidth_check_kbps_then_interval_and_key(tmp_path):
    with SrsProcess(tmp_path, extra_vhosts=BANDCHECK_VHOST, http_api=False, http_server=False) as srs:
        # a wrong key: the server closes without answering the connect
        p, bad = run_check(srs, "wrong")
        assert p.returncode == 1 and bad["code"] == ERROR_SOCKET_CLOSED, p.stdout
        assert bad["play_kbps"] == 0

        p, fig = run_check(srs, KEY)
        assert p.returncode == 0 and fig["code"] == 0, p.stdout + p.stderr + srs.log_text()[-3000:]
        assert "play: %dkbps" % fig["play_kbps"] in p.stdout and "publish: %dkbps" % fig["publish_kbps"] in p.stdout
        assert fig["srs_server"].startswith("SRS/") and fig["srs_pid"] == srs.proc.pid
        # 3 s each way, at most limit_kbps (one packet of overshoot), and not starved either
        assert 2900 <= fig["play_duration"] <= 4000 and 2900 <= fig["publish_duration"] <= 4000, fig
        assert LIMIT_KBPS * 0.5 < fig["play_kbps"] <= LIMIT_KBPS * 1.1, fig
        assert LIMIT_KBPS * 0.5 < fig["publish_kbps"] <= LIMIT_KBPS * 1.1, fig
        assert fig["duration"] >= fig["play_duration"] + fig["publish_duration"]

        # one test per interval (30 s) for the whole server: the next one is rejected
        p, again = run_check(srs, KEY)
        assert p.returncode == 1 and again["code"] == ERROR_RTMP_ACCESS_DENIED, p.stdout
        log = srs.log_text()
        assert "bandwidth ok. duartion=" in log and "bandcheck reject" in log
