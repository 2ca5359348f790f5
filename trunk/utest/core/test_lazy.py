"""core/lazy.py: heavy third-party modules load on first use; a server that uses none of them never
loads them (its idle RSS was ~73 MB with them, ~42 MB without)."""
import subprocess
import sys
import textwrap

from fixtures.media import make_flv
from fixtures.srs_server import SrsProcess, publish_flv
from srs.core.lazy import ensure_loaded, lazy_module


def test_lazy_module_loads_on_first_attribute_access():
    code = textwrap.dedent("""
        import sys
        from srs.core.lazy import lazy_module, ensure_loaded
        m = lazy_module("wave")            # a stdlib module nothing here imports
        assert "wave" in sys.modules and sys.modules["wave"] is m
        assert "chunk" not in sys.modules  # wave imports it: nothing ran yet
        assert m.Wave_read.__name__ == "Wave_read"
        assert ensure_loaded(m) is m and "_LazyModule" not in type(m).__name__
        assert lazy_module("wave") is m    # imported already: that module
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_lazy_module_of_a_missing_module_fails_at_once():
    try:
        lazy_module("srs_no_such_module_here")
    except ImportError as e:
        assert e.name == "srs_no_such_module_here"
    else:
        raise AssertionError("no ImportError")
    assert ensure_loaded(sys) is sys


def _mapped(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_a_running_server_without_webrtc_dvr_mp4_or_snapshots_maps_no_ffmpeg_openssl_or_srtp(tmp_path):
    srs = SrsProcess(tmp_path, vhost_body="gop_cache on;", http_server=True).start()
    try:
        publish_flv(make_flv(tmp_path / "a.flv", seconds=2).path, srs.rtmp_url("live/a"))   # a stream came and went
        maps = _mapped(srs.proc.pid)
        for lib in ("libavcodec", "pylibsrtp", "_rust.abi3", "_openssl"):
            assert lib not in maps, lib
    finally:
        srs.stop()
