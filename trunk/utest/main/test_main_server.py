"""The ``srs`` program as a user runs it: CLI, -t, pid lock, signals (HUP/USR1/TERM/QUIT), init.d."""
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil
import pytest

from fixtures.srs_server import SrsProcess, TRUNK, free_port, rtmp_client, wait_for, wait_port
from srs.core.version import VERSION

SRS = [sys.executable, "-m", "srs.main.server"]


def run(args, cwd=TRUNK, timeout=30):
    return subprocess.run(SRS + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_version_and_help():
    r = run(["-v"])
    assert r.returncode == 0 and r.stderr.strip() == VERSION
    r = run(["-h"])
    assert r.returncode == 0 and "-c filename" in r.stdout
    r = run([])
    assert r.returncode == 0 and "Usage" in r.stdout
    r = run(["-z"])
    assert r.returncode != 0 and "invalid option" in r.stderr


@pytest.mark.parametrize("port", ["\u00b2", "\u0661\u0662\u0663", "0", "70000", "-1", "1e3", "", "9" * 5000])
@pytest.mark.parametrize("flag", ["-p", "-x"])
def test_quick_start_ports_are_checked(flag, port):
    """Unicode digits pass str.isdigit (and int() reads Arabic ones): a clear error, exit 2, never a
    traceback nor a server on a port nobody asked for."""
    args = ["-p", "1935", "-x", port] if flag == "-x" else ["-p", port]
    r = run(args, timeout=10)
    assert r.returncode == 2 and f"{flag} needs a port" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("conf", sorted(glob.glob(os.path.join(TRUNK, "conf", "*.conf"))),
                         ids=os.path.basename)
def test_every_shipped_conf_passes_t(conf):
    r = run(["-t", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert "config file is ok" in r.stderr


def test_t_rejects_broken_conf_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("listen 1935;\nvhost __defaultVhost__ {\n    gop_cache on;\n    no_such_directive 1;\n}\n")
    r = run(["-t", "-c", str(bad)])
    assert r.returncode != 0
    assert f"{bad}:4" in r.stderr, r.stderr
    unterminated = tmp_path / "open.conf"
    unterminated.write_text("listen 1935;\nvhost a {\n  gop_cache on;\n")
    r = run(["-t", "-c", str(unterminated)])
    assert r.returncode != 0 and str(unterminated) in r.stderr
    r = run(["-t", "-c", str(tmp_path / "missing.conf")])
    assert r.returncode != 0 and "missing.conf" in r.stderr


def test_pid_lock_refuses_second_instance_and_term_removes_pid(tmp_path):
    with SrsProcess(tmp_path, http_api=False, http_server=False) as srs:
        with open(srs.pid_file) as f:
            assert int(f.read()) == srs.proc.pid
        # A second instance on the same pid file (another RTMP port) must refuse to start.
        other = tmp_path / "second.conf"
        text = open(srs.conf_path).read().replace(f"listen {srs.rtmp_port};", f"listen {free_port()};")
        other.write_text(text)
        r = subprocess.run(SRS + ["-c", str(other)], cwd=str(tmp_path), capture_output=True, text=True, timeout=20)
        assert r.returncode != 0
        assert "already running" in r.stderr
        assert srs.alive()
        srs.signal(signal.SIGTERM)
        assert srs.proc.wait(10) == 0
    assert not os.path.exists(srs.pid_file)


def test_hup_reload_applies_and_bad_file_keeps_running(tmp_path):
    with SrsProcess(tmp_path, http_api=False, http_server=False) as srs:
        text = open(srs.conf_path).read()
        new_port = free_port()
        with open(srs.conf_path, "w") as f:
            f.write(text.replace(f"listen {srs.rtmp_port};", f"listen {new_port};"))
        srs.signal(signal.SIGHUP)
        assert wait_port(new_port, 10), srs.output()
        # A broken file on reload is logged and the running config kept.
        with open(srs.conf_path, "w") as f:
            f.write("listen 1935;\nvhost {\n")
        srs.signal(signal.SIGHUP)
        assert srs.wait_log("reload failed", timeout_s=5), srs.output()[-2000:]
        assert srs.alive()
        assert wait_port(new_port, 2)


def test_usr1_reopens_log_file(tmp_path):
    with SrsProcess(tmp_path, http_api=False, http_server=False) as srs:
        assert wait_for(lambda: os.path.exists(srs.log_file), 5)
        rotated = srs.log_file + ".1"
        os.rename(srs.log_file, rotated)
        srs.signal(signal.SIGUSR1)
        assert wait_for(lambda: os.path.exists(srs.log_file), 5)
        assert wait_for(lambda: "log file reopened" in open(srs.log_file).read() + open(rotated).read(), 5)


def test_quit_is_graceful(tmp_path):
    conf_extra = "grace_start_wait 100;\ngrace_final_wait 100;\n"
    with SrsProcess(tmp_path, global_body=conf_extra, http_api=False, http_server=False) as srs:
        srs.signal(signal.SIGQUIT)
        assert srs.proc.wait(15) == 0
        assert "graceful quit" in srs.log_text()


def test_quit_waits_for_the_clients_and_ends_when_the_last_one_leaves(tmp_path):
    """SIGQUIT: the listener closes at once, the connected client is served until it leaves, then the
    server ends (grace_final_wait later), long before the 30 s limit."""
    conf_extra = "grace_start_wait 100;\ngrace_final_wait 100;\n"
    with SrsProcess(tmp_path, global_body=conf_extra, http_api=False, http_server=False) as srs:
        s, _ = rtmp_client(srs.rtmp_port)
        try:
            srs.signal(signal.SIGQUIT)
            assert wait_for(lambda: "graceful quit: wait for 1 clients" in srs.log_text(), 10), srs.output()
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", srs.rtmp_port), timeout=2).close()
            assert srs.alive()
        finally:
            s.close()
        t0 = time.monotonic()
        assert srs.proc.wait(15) == 0
        assert time.monotonic() - t0 < 10
        text = srs.log_text()
        assert "graceful quit: all clients gone" in text and "still connected" not in text


def test_log_format_has_cid(tmp_path):
    with SrsProcess(tmp_path, http_api=False, http_server=False) as srs:
        s = socket.create_connection(("127.0.0.1", srs.rtmp_port))
        s.sendall(b"\x03" + b"\x00" * 1536)
        s.recv(10)
        s.close()
        assert srs.wait_log("RTMP client closed"), srs.output()[-2000:]  # the whole connection is logged
    text = srs.log_text()
    line = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[(verb|debug|trace|warn|error)\]\[\d+\]\[(\d+)\]")
    cids = {m.group(2) for m in map(line.match, text.splitlines()) if m}
    assert cids, text
    assert any(c != "0" for c in cids)
    client = [ln for ln in text.splitlines() if "RTMP client ip=" in ln]
    assert client


def test_initd_start_status_reload_rotate_stop(tmp_path):
    srs = SrsProcess(tmp_path, http_api=False, http_server=False)
    conf = open(srs.conf_path).read().replace("daemon off;", "daemon on;")
    with open(srs.conf_path, "w") as f:
        f.write(conf)
    launcher = tmp_path / "srs-launcher"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m srs.main.server \"$@\"\n")
    launcher.chmod(0o755)
    env = dict(os.environ, SRS_ROOT=str(tmp_path), SRS_APP=str(launcher), SRS_CONFIG="srs.conf")
    script = os.path.join(TRUNK, "etc", "init.d", "srs")

    def initd(cmd):
        return subprocess.run(["bash", script, cmd], env=env, capture_output=True, text=True, timeout=60)

    assert initd("status").returncode == 1
    r = initd("start")
    assert r.returncode == 0, r.stdout + r.stderr + srs.output()
    try:
        assert wait_port(srs.rtmp_port)
        assert initd("status").returncode == 0
        assert initd("reload").returncode == 0
        assert initd("rotate").returncode == 0
        assert srs.wait_log("log file reopened", timeout_s=5), srs.log_text()[-2000:]  # USR1 handled, alive
        assert srs.wait_log("reload ok", timeout_s=5), srs.log_text()[-2000:]
        assert initd("status").returncode == 0
    finally:
        r = initd("stop")
    assert r.returncode == 0, r.stdout
    assert initd("status").returncode == 1
    assert not os.path.exists(srs.pid_file)
    assert "reload ok" in srs.log_text()


def _launcher_for(user: str, root: str) -> tuple:
    """A launcher script that ``user`` can run: (path, '') or (None, why not).

    The venv's python may live where only root can read (pyenv under /root); Debian's own python3 of
    the same version then runs the server with the venv's packages on its path."""
    if os.geteuid() != 0:
        return None, "needs root to drop to another user"
    if not shutil.which("setpriv"):
        return None, "no setpriv"
    try:
        pwd.getpwnam(user)
    except KeyError:
        return None, f"no user {user}"
    pylib = os.path.join(root, "pylib")
    os.makedirs(pylib)
    os.symlink(os.path.join(TRUNK, "src"), os.path.join(pylib, "srs"))
    path = os.pathsep.join([pylib] + [p for p in sys.path if p.endswith("site-packages")])
    launcher = os.path.join(root, "srs-launcher")
    why = ""
    for python in (sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"):
        with open(launcher, "w") as f:
            f.write(f"#!/bin/sh\nPYTHONPATH={path} exec {python} -m srs.main.server \"$@\"\n")
        os.chmod(launcher, 0o755)
        r = subprocess.run(["setpriv", f"--reuid={user}", "--regid=nogroup", "--init-groups", launcher, "-v"],
                           capture_output=True, text=True, timeout=60, cwd=root)
        if r.returncode == 0:
            return launcher, ""
        why = f"{user} cannot run the server from this checkout: {r.stderr.strip()[-200:]}"
    return None, why


def test_initd_runs_the_server_as_an_unprivileged_user():
    """SRS_USER=nobody: root starts the script, the server runs as nobody, stop still works."""
    root = tempfile.mkdtemp(prefix="srs-initd-user-")
    try:
        os.chmod(root, 0o755)
        launcher, why = _launcher_for("nobody", root)
        if why:
            pytest.skip(why)
        srs = SrsProcess(root, http_api=False, http_server=False)
        conf = open(srs.conf_path).read().replace("daemon off;", "daemon on;")
        with open(srs.conf_path, "w") as f:
            f.write(conf)
        env = dict(os.environ, SRS_ROOT=root, SRS_APP=launcher, SRS_CONFIG="srs.conf", SRS_USER="nobody")
        script = os.path.join(TRUNK, "etc", "init.d", "srs")

        def initd(cmd):
            return subprocess.run(["bash", script, cmd], env=env, capture_output=True, text=True, timeout=60)

        r = initd("start")
        assert r.returncode == 0, r.stdout + r.stderr + srs.output()
        try:
            assert wait_port(srs.rtmp_port)
            pid = int(open(srs.pid_file).read())
            assert psutil.Process(pid).uids().real == pwd.getpwnam("nobody").pw_uid
            assert psutil.Process(pid).uids().effective == pwd.getpwnam("nobody").pw_uid
            assert os.stat(srs.log_file).st_uid == pwd.getpwnam("nobody").pw_uid
            assert initd("status").returncode == 0
        finally:
            r = initd("stop")
        assert r.returncode == 0, r.stdout
        assert initd("status").returncode == 1
        assert not os.path.exists(srs.pid_file)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_cyclic_gc_is_tuned_for_many_connections():
    # start-up's objects frozen out of every scan, the young generations collected less often
    code = ("import gc\nfrom srs.main.server import tune_gc, GC_THRESHOLDS\ntune_gc()\n"
            "assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700\n"
            "assert gc.get_freeze_count() > 1000\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
