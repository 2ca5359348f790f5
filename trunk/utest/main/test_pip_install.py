"""``pip install .`` into a fresh venv: every command on PATH, and a server that runs from it alone.

The wheel is built once per session from a copy of what a clone has (setup.cfg, pyproject.toml,
README, LICENSE, trunk/src, trunk/conf, trunk/research), so it can only carry what the repository
ships. The venv is new (``python -m venv --without-pip``) and the wheel goes in with ``--no-deps``;
its dependencies (gevent, PyAV, ...) come from this test venv's site-packages through a .pth line,
which adds their folder but none of its .pth hooks, so the editable ``srs`` of this checkout stays out.

The server test runs ``srs`` with PATH = the venv's bin only (no /usr/bin/ffmpeg) in an empty folder:
the conf's ffmpeg (./objs/ffmpeg/bin/ffmpeg) is missing, so transcode and ingest must run the PyAV
stand-in; a PyAV publisher feeds it, PyAV players decode the transcoded, ingested and HTTP-FLV
streams, a snapshot is decoded and the ABR ladder's rendition plays.
Marked slow (about 30-60 s on a loaded machine; ``-m "not slow"`` leaves it out).
"""
from __future__ import annotations

import configparser
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request

import av
import pytest
from pip import __version__ as pip_version

from fixtures.srs_server import TRUNK, Player, free_port, publish_bg, wait_for, wait_port
from srs.main import commands
from srs.main.commands import COMMANDS

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(TRUNK)
SHIPPED = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "trunk/src", "trunk/conf", "trunk/research")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _console_scripts() -> dict:
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    lines = [ln.strip() for ln in cfg["options.entry_points"]["console_scripts"].splitlines() if ln.strip()]
    return dict((part.strip() for part in ln.split("=", 1)) for ln in lines)


class Venv:
    def __init__(self, path: str):
        self.path = path
        self.bin = os.path.join(path, "bin")
        self.python = os.path.join(self.bin, "python")

    def env(self) -> dict:
        """A user's shell with only this venv on PATH: no system ffmpeg, no PYTHONPATH."""
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
        return dict(keep, PATH=self.bin)

    def run(self, argv, cwd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(argv, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check:
            assert p.returncode == 0, (argv, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        return p


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel of a clone-like copy of the tree, built once per session."""
    base = tmp_path_factory.mktemp("pip")
    src = base / "clone"
    for rel in SHIPPED:
        s, d = os.path.join(ROOT, rel), os.path.join(src, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.isdir(s):
            shutil.copytree(s, d, ignore=IGNORE)
        else:
            shutil.copy2(s, d)
    dist = base / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    (whl,) = list(dist.glob("srs_python-*.whl"))
    return str(whl)


@pytest.fixture(scope="session")
def venv(wheel, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("venv") / "v")
    # pip >= 22.3 installs into another interpreter (--python): the venv needs no pip of its own
    outside = tuple(int(x) for x in pip_version.split(".")[:2]) >= (22, 3)
    subprocess.run([sys.executable, "-m", "venv", *(["--without-pip"] if outside else []), path], check=True,
                   timeout=180)
    v = Venv(path)
    site = subprocess.run([v.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "srs_test_dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", v.python] if outside else [v.python, "-m", "pip"]
    p = subprocess.run(pip + ["install", "-q", "--no-deps", "--no-index", wheel], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return v


def test_console_scripts_cover_every_launcher():
    """setup.cfg's commands are srs.main.commands.COMMANDS: every objs/ launcher of make, by one name."""
    scripts = _console_scripts()
    assert scripts == {name: f"srs.main.commands:{name}" for name in COMMANDS}
    assert "ffmpeg" not in scripts and scripts["srs_ffmpeg"]  # never shadows a real ffmpeg
    with pytest.raises(AttributeError):
        getattr(commands, "ffmpeg")  # no such command: an entry point naming it fails loudly
    assert {n for n in scripts if n.startswith("sb_")} == {"sb_rtmp_load", "sb_rtmp_publish", "sb_http_load",
                                                           "sb_hls_load", "sb_srt_publish", "sb_srt_load", "sb_rtc_load",
                                                           "sb_rtc_publish"}


def test_commands_on_path(venv, tmp_path):
    """Every command is on the venv's PATH and starts from the installed package (not this tree)."""
    for name in _console_scripts():
        assert shutil.which(name, path=venv.bin) == os.path.join(venv.bin, name), name
    assert shutil.which("ffmpeg", path=venv.bin) is None
    where = venv.run([venv.python, "-c", "import srs, srs.main.commands as c, importlib.util as u;"
                      "print(srs.__file__);"
                      "print(all(u.find_spec(m) for m in __import__('srs.main.tools').main.tools.MODULES.values()))"],
                     str(tmp_path)).stdout.split()
    assert where[0].startswith(venv.path) and where[1] == "True", where
    assert venv.run(["srs", "-v"], str(tmp_path)).stderr.strip()
    usage = venv.run(["srs_rtmp_dump", "-h"], str(tmp_path), check=False)
    assert usage.returncode == 0 and "usage" in usage.stdout.lower(), usage
    bench = venv.run(["sb_rtmp_load", "-h"], str(tmp_path), check=False)
    assert bench.returncode == 0 and "usage" in bench.stdout.lower(), bench
    standin = venv.run(["srs_ffmpeg", "-version"], str(tmp_path), check=False)
    assert standin.returncode == 0 and "srs-standin" in standin.stdout, standin
    # the shipped confs are found from an empty folder: SRS's "-c conf/x.conf" and a bare name
    for conf in ("conf/rtmp.conf", "srs.conf", "conf/console.conf"):
        t = venv.run(["srs", "-t", "-c", conf], str(tmp_path))
        assert "syntax is ok" in t.stderr and os.sep + os.path.join("srs", "conf") in t.stderr, t.stderr


SNAPSHOT = "snapshot { http on; }"
ABR = "abr { enabled on; preset ultrafast; ladder 96p:128x96:100:0; }"
CONF = """listen {rtmp};
max_connections 100;
daemon off;
pid ./srs.pid;
srs_log_tank file;
srs_log_file ./srs.log;
http_api {{ enabled on; listen {api}; }}
http_server {{ enabled on; listen {http}; dir ./html; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    {snapshot}
    {abr}
    transcode live {{
        enabled on;
        ffmpeg ./objs/ffmpeg/bin/ffmpeg;
        engine ff {{
            enabled on; vcodec libx264; vbitrate 150; vfps 25; vwidth 160; vheight 120; vthreads 1;
            vprofile baseline; vpreset superfast; acodec aac; abitrate 48; asample_rate 44100; achannels 2;
            output rtmp://127.0.0.1:[port]/tc?vhost=[vhost]/[stream]_[engine];
        }}
    }}
    ingest file1 {{
        enabled on;
        input {{ type file; url ./in.flv; }}
        ffmpeg ./objs/ffmpeg/bin/ffmpeg;
        engine {{ enabled off; output rtmp://127.0.0.1:[port]/ingest?vhost=[vhost]/file1; }}
    }}
}}
"""


def _decode(url: str, frames: int = 20) -> Player:
    p = Player(url, max_seconds=40, read_timeout_s=10, stop_after_video=frames)
    p.start()
    p.join(60)
    return p


class WheelServer:
    """``srs -c srs.conf`` from the venv's PATH in an empty folder, a PyAV publisher on live/livestream."""

    def __init__(self, venv: Venv, run, media):
        self.run, self.media = run, media
        shutil.copy(media.path, run / "in.flv")
        self.rtmp, self.api, self.http = free_port(), free_port(), free_port()
        (run / "srs.conf").write_text(CONF.format(rtmp=self.rtmp, api=self.api, http=self.http,
                                                  snapshot=SNAPSHOT, abr=ABR))
        with open(run / "stdout.txt", "wb") as out:
            self.proc = subprocess.Popen([shutil.which("srs", path=venv.bin), "-c", "srs.conf"], cwd=run,
                                         env=venv.env(), stdout=out, stderr=subprocess.STDOUT)
        self.pub = None

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.run / "stdout.txt", self.run / "srs.log")
                       if p.exists())

    def start(self) -> "WheelServer":
        assert all(wait_port(p, 20) for p in (self.rtmp, self.api, self.http)), self.output()
        # long enough for every test of the module; ends when the server stops
        self.pub = publish_bg(self.media.path, f"rtmp://127.0.0.1:{self.rtmp}/live/livestream", loops=20)
        return self

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.pub is not None:
            self.pub.join(10)


@pytest.fixture(scope="module")
def server(venv, tmp_path_factory, media_flv):
    s = WheelServer(venv, tmp_path_factory.mktemp("run"), media_flv)
    try:
        yield s.start()
    finally:
        s.stop()


def test_publish_transcode_ingest_without_ffmpeg(server, media_flv):
    """Publish, transcode and ingest (both by the stand-in: no ffmpeg on PATH), HTTP-FLV, /console/."""
    flv = _decode(f"http://127.0.0.1:{server.http}/live/livestream.flv")
    assert flv.video_frames >= 20 and flv.width == media_flv.width, (flv.error, server.output())
    # transcode: the stand-in re-encodes to 160x120
    tc = _decode(f"rtmp://127.0.0.1:{server.rtmp}/tc/livestream_ff")
    assert tc.video_frames >= 20 and (tc.width, tc.height) == (160, 120), (tc.error, server.output())
    assert tc.vcodec == "h264" and tc.acodec == "aac" and tc.audio_frames > 0, (tc.vcodec, tc.acodec)
    # ingest: the stand-in copies the file into ingest/file1
    ing = _decode(f"rtmp://127.0.0.1:{server.rtmp}/ingest/file1")
    assert ing.video_frames >= 20 and ing.width == media_flv.width, (ing.error, server.output())
    text = server.output()
    assert "(stand-in module)" in text and "/usr/bin/ffmpeg" not in text, text[-3000:]
    # the console (API port) and the players (HTTP port: no ./html/players here) come from the package
    for url, rel in ((f"http://127.0.0.1:{server.api}/console/", "research/console/index.html"),
                     (f"http://127.0.0.1:{server.http}/players/srs_player.html", "research/players/srs_player.html"),
                     (f"http://127.0.0.1:{server.http}/players/js/mpegts.js", "research/players/js/mpegts.js")):
        with open(os.path.join(TRUNK, rel), "rb") as f:
            assert urllib.request.urlopen(url, timeout=5).read() == f.read(), url


def test_snapshot_from_the_wheel(server, media_flv):
    def jpeg():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{server.http}/live/livestream.jpg?w=160",
                                          timeout=5).read()
        except OSError:
            return None
    data = wait_for(jpeg, 15, 0.25)
    assert data, server.output()
    with av.open(io.BytesIO(data)) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == (160, 160 * media_flv.height // media_flv.width)


def test_abr_from_the_wheel(server):
    abr = _decode(f"rtmp://127.0.0.1:{server.rtmp}/live/livestream_96p")
    assert abr.video_frames >= 20 and (abr.width, abr.height) == (128, 96), (abr.error, server.output())
