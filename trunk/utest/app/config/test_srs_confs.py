"""SRS's own conf files (3.0, 4.0, 5.0 releases, utest/data/srs-confs/) through the real server (issue 13 §2).

Each file must pass ``objs/srs -t -c`` but the genuinely broken ones listed in BROKEN with their reason;
the directives SRS knows and this server does not implement are accepted with a warning naming them
(never silently). A sample of them then starts the server on free ports and carries one stream:
published by PyAV over RTMP, played back over RTMP (and HTTP-FLV where the conf mounts it).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace
from typing import Dict, List

import pytest

from fixtures.srs_server import TRUNK, Player, SrsProcess, free_port, publish_bg, wait_for

DATA = os.path.join(TRUNK, "utest", "data", "srs-confs")
VERSIONS = ("3.0", "4.0", "5.0")

# (version, file) -> why it cannot pass `-t`, in SRS either
BROKEN: Dict[tuple, str] = {
    **{(v, "edge.token.traverse.conf"): "`listen 1935` lacks its ';': listen gets 'max_connections 1000'"
       for v in VERSIONS},
    **{(v, "http.heartbeat.conf"): "`listen 1935` lacks its ';': listen gets 'max_connections 1000'"
       for v in VERSIONS},
    ("4.0", "push.rtsp.conf"): "an empty file (SRS: 'listen requires params')",
    ("4.0", "hls.edge.conf"): "an nginx conf (worker_processes, events, http), not SRS's",
    ("5.0", "hls.edge.conf"): "an nginx conf (worker_processes, events, http), not SRS's",
    ("5.0", "nginx.proxy.conf"): "an nginx conf (includes /etc/nginx/mime.types)",
    ("5.0", "include.vhost.conf"): "a fragment that include.conf includes (no listen)",
}


def srs_t(path: str, cwd: str) -> subprocess.CompletedProcess:
    launcher = os.path.join(TRUNK, "objs", "srs")
    argv = [launcher] if os.access(launcher, os.X_OK) else [sys.executable, "-m", "srs.main.server"]
    return subprocess.run(argv + ["-t", "-c", path], cwd=cwd, capture_output=True, text=True, timeout=60,
                          errors="backslashreplace")


# `srs -t -c <file>` for many files in one process: the srs program's own main() per file (a fresh
# Python per file would cost ~0.4 s of CPU each, ~90 s for the 217 files).
MANY_T = """
import contextlib, io, json, sys
from srs.main.server import main
out = {}
for path in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["-t", "-c", path])
    out[path] = [code, err.getvalue()]
print(json.dumps(out))
"""


def srs_t_many(paths: List[str], cwd: str) -> Dict[str, SimpleNamespace]:
    p = subprocess.run([sys.executable, "-c", MANY_T], input=json.dumps(paths), cwd=cwd, capture_output=True,
                       text=True, timeout=300, errors="backslashreplace")
    assert p.returncode == 0, p.stderr[-3000:]
    return {path: SimpleNamespace(returncode=code, stderr=err) for path, (code, err) in json.loads(p.stdout).items()}


def conf_files(version: str) -> List[str]:
    return sorted(f for f in os.listdir(os.path.join(DATA, version)) if f.endswith(".conf"))


@pytest.mark.parametrize("version", VERSIONS)
def test_srs_conf_files_pass_srs_t(version, tmp_path):
    # SRS runs from its trunk/, where `include ./conf/include.vhost.conf;` is found: so a conf/ here
    os.symlink(os.path.join(DATA, version), tmp_path / "conf")
    files = conf_files(version)
    many = srs_t_many([os.path.join("conf", f) for f in files], str(tmp_path))
    results = {f: many[os.path.join("conf", f)] for f in files}
    # the launcher itself gives the same answer (one passing file, one broken if the version has one)
    for f in [files[0]] + [f for (v, f) in BROKEN if v == version][:1]:
        real = srs_t(os.path.join("conf", f), str(tmp_path))
        assert (real.returncode, real.stderr) == (results[f].returncode, results[f].stderr), (f, real.stderr)
    failed = {f: r.stderr[-300:] for f, r in results.items() if r.returncode != 0 and (version, f) not in BROKEN}
    assert not failed, failed
    passing = sum(r.returncode == 0 for r in results.values())
    assert passing / len(files) >= 0.94, (passing, len(files))  # 4.0: 67 of 71, the 4 others broken
    for (v, f), why in BROKEN.items():  # a skip that passes now is a stale skip
        if v == version:
            assert results[f].returncode != 0, (f, why)
    # what is not implemented says so, once per directive
    warned = {f: r.stderr for f, r in results.items() if r.returncode == 0}
    if version != "3.0":
        assert "not implemented" not in warned["rtc.conf"], warned["rtc.conf"]  # issue 15: implemented
        assert "srt_server is not implemented" not in warned["srt.conf"]  # issue 16: implemented
    assert "warn" not in warned["dash.conf"]  # issue 17: implemented
    if version != "5.0":  # 5.0's realtime.conf has its ';'
        assert "directive vhost.tcp_nodelay has 3 arguments, only the first is read" in warned["realtime.conf"]
    if version == "5.0":
        assert "warning" not in warned["forward.backend.conf"], warned["forward.backend.conf"]  # implemented (H10)
        assert "stream_caster.caster gb28181 is not implemented" in warned["gb28181.conf"]
        assert "warning" not in warned["include.conf"], warned["include.conf"]


def runnable(text: str) -> str:
    """An SRS conf made to run here: its RTMP/API/HTTP ports the fixture's free ones, daemon off, logs and
    pid in the test's folder (prepended: the first of a directive is the one read, in SRS too)."""
    text = text.replace("{", "{{").replace("}", "}}")
    for port, name in (("1935", "rtmp_port"), ("1985", "api_port"), ("8080", "http_port")):
        text = re.sub(r"\blisten(\s+)%s;" % port, "listen {%s};" % name, text)
    text = re.sub(r"\blisten(\s+)8000;", "listen %d;" % free_port(), text)  # WebRTC's UDP port
    return "daemon off;\nsrs_log_tank file;\nsrs_log_file {log};\npid {pid};\n" + text


# confs whose features exist here; each carries a stream. (version, file, HTTP-FLV played too, a file
# the conf's HLS/DVR writes under the server's folder: its name starts so)
HTML = "objs/nginx/html/live/livestream"
START = [("5.0", "srs.conf", True, HTML + ".m3u8"), ("5.0", "rtmp.conf", False, ""),
         ("5.0", "http.flv.live.conf", True, ""), ("5.0", "hls.conf", False, HTML + ".m3u8"),
         ("5.0", "docker.conf", True, HTML + ".m3u8"), ("4.0", "realtime.flv.conf", True, ""),
         ("3.0", "realtime.conf", False, ""), ("5.0", "rtmp.kickoff.conf", False, ""),
         ("5.0", "hls.origin.conf", False, HTML + ".m3u8"), ("5.0", "dvr.session.conf", False, HTML + ".")]


@pytest.mark.parametrize("version,name,flv,written", START, ids=["%s/%s" % (v, n) for v, n, _, _ in START])
def test_srs_conf_files_start_and_carry_a_stream(version, name, flv, written, tmp_path, media_flv):
    with open(os.path.join(DATA, version, name)) as f:
        conf = runnable(f.read())
    with SrsProcess(tmp_path, conf=conf) as srs:
        if "listen {http_port};" not in conf:
            srs.http_port = 0
        publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=4)
        assert srs.wait_published("live/livestream"), srs.output()[-3000:]
        urls = [srs.rtmp_url("live/livestream")] + ([srs.http_url("live/livestream.flv")] if flv else [])
        players = [Player(url, stop_after_video=30) for url in urls]
        for p in players:
            p.start()
        for p in players:
            p.join(30)
        for p in players:
            assert p.error is None and p.video_frames >= 30 and p.vcodec == "h264", (p.url, p.error, p.video_frames)
        if written:
            folder, prefix = os.path.split(os.path.join(srs.dir, written))
            assert wait_for(lambda: os.path.isdir(folder) and any(f.startswith(prefix) for f in os.listdir(folder)),
                            15), srs.output()[-3000:]
        if "rtc_server" in conf:  # issue 15: WebRTC listens on the UDP port runnable() chose
            assert srs.wait_log("RTC listen at udp://"), srs.output()[-3000:]
