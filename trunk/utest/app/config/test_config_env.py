"""Configuration by SRS_* environment variables (SRS 5): names from the rows, values over the file,
``srs -e`` from the environment alone (a real server publishes, plays and writes HLS with no conf)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from fixtures.srs_server import Player, SrsProcess, publish_flv, wait_port
from srs.app.config.conf import Config
from srs.app.config.env import ENV_ROWS
from srs.kernel.errors import ConfigError
from srs.main.server import parse_argv

FILE = "listen 1935;\nvhost a.com { hls { enabled off; } }\nvhost b.com {}\n"


def test_variables_override_the_file_and_apply_to_every_vhost():
    env = {"SRS_LISTEN": "1936 1937", "SRS_VHOST_HLS_ENABLED": "on", "SRS_VHOST_HLS_HLS_FRAGMENT": "2",
           "SRS_HTTP_API_LISTEN": "1986", "SRS_VHOST_PLAY_MW_LATENCY": "100", "SRS_PID": "",  # empty: not set
           "SRS_NO_SUCH_DIRECTIVE": "x"}  # unknown: ignored, as SRS does
    c = Config.parse_text(FILE, env=env)
    assert c.listen == (("0.0.0.0", 1936), ("0.0.0.0", 1937)) and c.http_api.listen == ("0.0.0.0", 1986)
    assert c.pid == "./objs/srs.pid"
    for name in ("a.com", "b.com"):
        v = c.vhost(name)
        assert v.hls.enabled and v.hls.hls_fragment == 2.0 and v.mw_latency == 100
    assert Config.parse_text(FILE).vhost("a.com").hls.enabled is False  # no env: the file


def test_aliases_lists_and_the_blocks_srs_does_not_read():
    env = {"SRS_LOG_TANK": "console", "SRS_VHOST_CHUNK_SIZE": "4096",
           "SRS_VHOST_HTTP_HOOKS_ON_PUBLISH": "http://a/x http://b/y",
           "SRS_VHOST_FORWARD_DESTINATION": "127.0.0.1:19350", "SRS_VHOST_ENABLED": "off"}
    c = Config.parse_text(FILE, env=env)
    assert c.srs_log_tank == "console" and c.chunk_size == 4096 and c.vhost("a.com").chunk_size == 4096
    assert c.vhost("a.com").http_hooks.on_publish == ("http://a/x", "http://b/y")
    assert c.vhost("a.com").forward_destinations == () and c.vhost("a.com").enabled
    names = {n for _, names in ENV_ROWS for n in names}
    assert {"SRS_LISTEN", "SRS_HTTP_API_LISTEN", "SRS_VHOST_HLS_HLS_PATH", "SRS_SRS_LOG_FILE",
            "SRS_VHOST_DVR_DVR_PATH", "SRS_VHOST_HTTP_REMUX_MOUNT"} <= names
    assert not [n for n in names if "FORWARD" in n or "INGEST" in n or "TRANSCODE" in n or "SECURITY" in n]


def test_a_bad_value_is_refused_at_its_variable():
    with pytest.raises(ConfigError) as err:
        Config.parse_text(FILE, env={"SRS_VHOST_HLS_HLS_WINDOW": "soon"})
    assert err.value.file == "$SRS_VHOST_HLS_HLS_WINDOW"
    assert "$SRS_VHOST_HLS_HLS_WINDOW: directive vhost.hls.hls_window expects a number" in str(err.value)


def test_env_only_defaults_and_flags(monkeypatch):
    c = Config.from_env({})
    assert c.listen == (("0.0.0.0", 1935),) and not c.daemon and c.srs_log_tank == "console"
    assert c.vhost_names() == ("__defaultVhost__",) and c.file == "<env>"
    c = Config.from_env({"SRS_DAEMON": "on", "SRS_SRS_LOG_TANK": "file", "SRS_LISTEN": "19350"})
    assert c.daemon and c.srs_log_tank == "file" and c.listen == (("0.0.0.0", 19350),)
    for name in ("SRS_ENV_ONLY", "SRS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert parse_argv(["-e"]).env_only and parse_argv(["-e", "-c", "x.conf"]).config == ""
    monkeypatch.setenv("SRS_CONFIG_FILE", "y.conf")
    assert parse_argv(["-c", "x.conf"]).config == "y.conf"
    monkeypatch.setenv("SRS_ENV_ONLY", "1")
    assert parse_argv(["-t"]).env_only


class EnvSrs(SrsProcess):
    """The server started as ``srs -e`` with only SRS_* variables (the conf file SrsProcess writes is not
    read: every SRS_* variable of this process is dropped and these set)."""

    def variables(self):
        return {"SRS_LISTEN": str(self.rtmp_port), "SRS_PID": self.pid_file, "SRS_SRS_LOG_TANK": "file",
                "SRS_SRS_LOG_FILE": self.log_file, "SRS_PITHY_PRINT_MS": "1000",
                "SRS_HTTP_API_ENABLED": "on", "SRS_HTTP_API_LISTEN": str(self.api_port),
                "SRS_HTTP_SERVER_ENABLED": "on", "SRS_HTTP_SERVER_LISTEN": str(self.http_port),
                "SRS_HTTP_SERVER_DIR": self.html,
                "SRS_VHOST_HTTP_REMUX_ENABLED": "on", "SRS_VHOST_HTTP_REMUX_MOUNT": "[vhost]/[app]/[stream].flv",
                "SRS_VHOST_HLS_ENABLED": "on", "SRS_VHOST_HLS_HLS_FRAGMENT": "1", "SRS_VHOST_HLS_HLS_PATH": self.html}

    def start(self, wait: bool = True) -> "EnvSrs":
        env = {k: v for k, v in os.environ.items() if not k.startswith("SRS_")}
        env.update(self.variables())
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "srs.main.server", "-e"], cwd=self.dir, env=env,
                                     stdout=self._stderr, stderr=subprocess.STDOUT)
        if wait and not all(wait_port(p) for p in (self.rtmp_port, self.api_port, self.http_port)):
            self.stop()
            out = self.output()
            if "Address already in use" in out and self._retries < 3:  # parallel workers raced for a port
                self._retries += 1
                self._build(*self._args)
                return self.start(wait)
            raise RuntimeError("server did not start:\n" + out)
        return self


def test_server_runs_from_environment_alone(tmp_path, media_flv):
    with EnvSrs(tmp_path) as srs:
        url = srs.rtmp_url("live/env")
        players = [Player(url, read_timeout_s=3), Player(srs.http_url("live/env.flv"), read_timeout_s=3)]
        for p in players:
            p.start()
        assert srs.wait_players("live/env", 2)  # play before publish waits for the stream
        publish_flv(media_flv.path, url, realtime=True, speed=4.0)
        for p in players:
            p.join(30)
            assert p.error is None, p.error
            assert p.video_frames == media_flv.video_frames and p.first_video_key is True
            assert p.vcodec == "h264" and p.acodec == "aac"
        assert srs.wait_unpublished("live/env")
        m3u8 = os.path.join(srs.html, "live", "env.m3u8")
        segments = [line for line in open(m3u8).read().splitlines() if line.endswith(".ts")]
        assert len(segments) >= 3 and all(os.path.getsize(os.path.join(srs.html, "live", s)) > 0 for s in segments)
        with urllib.request.urlopen(srs.api_url("api/v1/versions"), timeout=5) as r:
            assert json.loads(r.read())["code"] == 0
        assert srs.alive()


def test_a_variable_of_an_unimplemented_directive_warns():
    """SRS 5 reads SRS_RTC_SERVER_TCP_ENABLED: known, so not dropped silently as an unknown variable is."""
    env = {"SRS_RTC_SERVER_TCP_ENABLED": "on", "SRS_VHOST_PLAY_MW_MSGS": "1", "SRS_NOT_A_DIRECTIVE": "x",
           "SRS_VHOST_HLS_HLS_CTX": ""}  # empty: not set
    assert Config.from_env(env).warnings == (
        "$SRS_RTC_SERVER_TCP_ENABLED: directive rtc_server.tcp.enabled is not implemented and ignored",
        "$SRS_VHOST_PLAY_MW_MSGS: directive vhost.play.mw_msgs is not implemented and ignored")


def test_a_reload_rereads_the_variables_of_an_env_only_config(tmp_path):
    """SRS 5 with -e: a reload reads the environment again (not "no config file")."""
    running = Config.from_env({"SRS_LISTEN": "1936"})
    new = Config.reread(running, "", env={"SRS_LISTEN": "1937", "SRS_VHOST_HLS_ENABLED": "on"})
    assert new.listen == (("0.0.0.0", 1937),) and new.vhost("__defaultVhost__").hls.enabled
    conf = tmp_path / "a.conf"
    conf.write_text("listen 1938;\n")
    assert Config.reread(Config.load(str(conf), env={}), str(conf), env={}).listen == (("0.0.0.0", 1938),)
    assert Config.reread(Config.parse_text("listen 1939;", file="<argv>"), "", env={}) is None  # -p/-x
