"""srs-bench's SRT tools against the real server: sb_srt_load (N players counting bytes per player) and
sb_srt_publish (N SRT callers of a TS file) in short runs, with what their --json reports, and the
server's side (an RTMP player decodes an sb_srt_publish stream)."""
import json
import shutil
import subprocess
import sys

import pytest

from fixtures.media import make_flv
from fixtures.srs_server import Player, SrsProcess, wait_for
from srs.main.bench.sb_srt_publish import ts_kbps
from srs.main.bench.srt_runs import free_udp_port


def run_tool(name, *args, timeout=60):
    r = subprocess.run([sys.executable, "-m", f"srs.main.bench.{name}", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def srt_live(tmp_path_factory, media_dir):
    tmp = tmp_path_factory.mktemp("bench_srt")
    media = make_flv(media_dir / "bench_srt.flv", seconds=4, width=320, height=240, fps=25, gop=25)
    port = free_udp_port()
    srs = SrsProcess(tmp, vhost_body="gop_cache on;\nsrt { enabled on; }",
                     global_body=f"srt_server {{ enabled on; listen {port}; }}")
    srs.srt_port = port
    srs.start()
    pub = subprocess.Popen([sys.executable, "-m", "srs.main.bench.sb_rtmp_publish", "-i", media.path, "-r",
                            srs.rtmp_url("live/src"), "-s", "0", "-m", "60", "--duration", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert srs.wait_published("live/src"), srs.output()[-2000:]
    yield srs, media, tmp
    pub.terminate()
    pub.wait(10)
    srs.stop()


def test_srt_load_counts_every_players_bytes(srt_live, tmp_path):
    srs, media, _ = srt_live
    out = tmp_path / "load.json"
    url = f"srt://127.0.0.1:{srs.srt_port}?streamid=#!::r=live/src,m=request"
    run_tool("sb_srt_load", "-c", 3, "-r", url, "-s", 0.5, "-m", 2, "--duration", 6, "--per-socket", 2,
             "--json", out)
    d = json.loads(out.read_text())
    assert d["tasks"] == 3 and d["etasks"] == 0 and d["nread_bytes"] > 0
    last = d["players"][-1][1]
    assert sorted(last) == ["0", "1", "2"] and all(v > 20_000 for v in last.values()), last


def test_srt_publish_reaches_an_rtmp_player(srt_live, tmp_path):
    srs, media, tmp = srt_live
    ts = tmp_path / "bench.ts"
    ffmpeg = shutil.which("ffmpeg") or pytest.skip("ffmpeg is not installed")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", media.path, "-c", "copy",
                    "-f", "mpegts", "-y", str(ts)], check=True, timeout=60)
    assert 0 < ts_kbps(ts.read_bytes()) < 10_000
    player = Player(srs.rtmp_url("live/p1"), max_seconds=30, read_timeout_s=5)
    player.start()
    assert srs.wait_players("live/p1", 1)
    out = tmp_path / "pub.json"
    run_tool("sb_srt_publish", "-i", ts, "-c", 2, "-r",
             f"srt://127.0.0.1:{srs.srt_port}?streamid=#!::r=live/p{{i}},m=publish", "-s", 0, "-m", 2,
             "-t", 1, "--json", out)
    d = json.loads(out.read_text())
    assert d["tasks"] == 2 and d["etasks"] == 0 and d["nwrite_bytes"] >= 2 * ts.stat().st_size
    assert srs.wait_unpublished("live/p1", timeout_s=20)
    player.join(20)
    assert player.error is None and player.vcodec == "h264" and player.video_frames > 0.9 * media.video_frames
    assert wait_for(lambda: "SRT client closed, peer-shutdown, srt-publish" in srs.log_text())


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the bench TS is made with ffmpeg")
def test_bench_publish_run_reads_the_servers_srt_figures(tmp_path):
    """make bench's SRT publisher run end to end at a small size: its rig's server answers the API it
    reads the SRT figures from (a WebRTC change once started every rig without one: the run died on
    'connection refused'), and 3 publishers arrive at full rate with nothing dropped."""
    from srs.main.bench.srt_runs import make_ts, publish_run
    flv = make_flv(tmp_path / "bench.flv", seconds=4, width=320, height=240, fps=25, gop=25)
    media = {"path": str(flv.path), "kbps": round(flv.size * 8 / flv.duration_ms, 1)}
    ts = make_ts(media, loops=4)
    r = publish_run(str(tmp_path / "work"), media, ts, 3, steady=3.0, settle=1.0)
    assert r["joined"] and r["alive"] == 3 and r["etasks"] == 0, r
    assert r["full_pct"] == 100.0 and r["drop_pct"] == 0.0, r
    assert 0.8 * r["expected_mbps"] <= r["mbps"] <= 1.3 * r["expected_mbps"], r
