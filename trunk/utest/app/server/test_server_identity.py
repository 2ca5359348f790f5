"""server_id (SRS 4/5) kept across restarts, and SIGHUP under ``srs -e``: the server re-reads the
environment (SRS 5) and logs the new config's warnings, on the real server process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from fixtures.srs_server import SrsProcess, wait_port


def api(srs, path: str) -> dict:
    with urllib.request.urlopen(srs.api_url(path), timeout=5) as resp:
        return json.loads(resp.read())


def test_generated_server_id_is_kept_in_the_id_file_across_restarts(tmp_path):
    srs = SrsProcess(tmp_path, http_server=False)
    with srs:
        first = api(srs, "/api/v1/versions")
    kept = (tmp_path / "srs.id").read_text()
    assert first["server"] == kept and kept.startswith("vid-") and len(kept) == 11
    with srs.start():
        again = api(srs, "/api/v1/versions")
    assert again["server"] == kept and again["service"] != first["service"]  # same server, new service


def test_configured_server_id_wins(tmp_path):
    with SrsProcess(tmp_path, global_body="server_id edge-7;", http_server=False) as srs:
        assert api(srs, "/api/v1/summaries")["server"] == "edge-7"
    assert not (tmp_path / "srs.id").exists()


class EnvOnlySrs(SrsProcess):
    """``srs -e`` with SRS_* variables only (the conf file SrsProcess writes is not read)."""

    def start(self, wait: bool = True) -> "EnvOnlySrs":
        env = {k: v for k, v in os.environ.items() if not k.startswith("SRS_")}
        env.update({"SRS_LISTEN": str(self.rtmp_port), "SRS_PID": self.pid_file, "SRS_SRS_LOG_TANK": "file",
                    "SRS_SRS_LOG_FILE": self.log_file, "SRS_HTTP_API_ENABLED": "on",
                    "SRS_HTTP_API_LISTEN": str(self.api_port), "SRS_SERVER_ID": "env-srs",
                    "SRS_RTC_SERVER_TCP_ENABLED": "on"})  # known to SRS 5, not implemented here: a warning
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "srs.main.server", "-e"], cwd=self.dir, env=env,
                                     stdout=self._stderr, stderr=subprocess.STDOUT)
        if wait and not (wait_port(self.rtmp_port) and wait_port(self.api_port)):
            self.stop()
            raise RuntimeError("server did not start:\n" + self.output())
        return self


def test_sighup_under_env_only_rereads_the_environment(tmp_path):
    with EnvOnlySrs(tmp_path, http_server=False) as srs:
        assert api(srs, "/api/v1/versions")["server"] == "env-srs"  # SRS_SERVER_ID
        assert srs.wait_log("config: $SRS_RTC_SERVER_TCP_ENABLED")
        srs.signal(signal.SIGHUP)
        assert srs.wait_log("reload ok")
        assert "reload ignored: no config file" not in srs.log_text()
        assert srs.wait_log("reload: $SRS_RTC_SERVER_TCP_ENABLED: directive rtc_server.tcp.enabled is not implemented")
        assert api(srs, "/api/v1/versions")["server"] == "env-srs" and srs.alive()
