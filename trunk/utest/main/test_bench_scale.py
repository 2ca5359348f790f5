"""The scale table's pieces (src/main/bench/scale_table.py) against the real server, in short runs:
players that churn (sb_rtmp_load --session), clients spread over streams ({i%N}), the audio bitrate an
.aac/.mp3 player is measured against, nginx serving the HLS files our server writes, and the table itself."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from fixtures.media import make_flv
from fixtures.srs_server import SrsProcess
from srs.main.bench import common, peers, scale_table
from srs.main.bench.rig import flv_audio_kbps, make_media
from srs.main.bench.sb_http_load import FLV_PREAMBLE


def test_client_url_spreads_clients_over_streams():
    url = "rtmp://127.0.0.1/live/s{i%3}?n={i}"
    assert [common.client_url(url, i) for i in range(5)] == [
        "rtmp://127.0.0.1/live/s0?n=0", "rtmp://127.0.0.1/live/s1?n=1", "rtmp://127.0.0.1/live/s2?n=2",
        "rtmp://127.0.0.1/live/s0?n=3", "rtmp://127.0.0.1/live/s1?n=4"]


def test_flv_audio_kbps_is_the_audio_payloads_rate(tmp_path):
    info = make_flv(tmp_path / "a.flv", seconds=4, audio="aac", abitrate=64000)
    kbps = flv_audio_kbps(info.path, info.duration_ms)
    assert 50 < kbps < 80, kbps
    silent = make_flv(tmp_path / "v.flv", seconds=2, audio=None)
    assert flv_audio_kbps(silent.path, silent.duration_ms) == 0
    # the FLV preamble the HTTP load tool skips is smaller than any media tag after it
    assert FLV_PREAMBLE < 9 + 4 + 11 + 2 + 2 * 6


@pytest.fixture(scope="module")
def live(tmp_path_factory, media_dir):
    tmp = tmp_path_factory.mktemp("bench_scale")
    media = make_flv(media_dir / "bench_scale.flv", seconds=4, width=320, height=240, fps=25, gop=25)
    srs = SrsProcess(tmp, vhost_body="gop_cache on;")
    srs.start()
    pubs = [subprocess.Popen([sys.executable, "-m", "srs.main.bench.sb_rtmp_publish", "-i", media.path,
                              "-r", srs.rtmp_url(f"live/s{i}"), "-s", "0", "-m", "60", "--duration", "90"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    for i in range(2):
        assert srs.wait_published(f"live/s{i}"), srs.output()[-2000:]
    yield srs
    for p in pubs:
        p.terminate()
        p.wait(10)
    srs.stop()


def test_churning_players_each_play_again(live, tmp_path):
    out = tmp_path / "load.json"
    # 4 players over 2 streams, each leaving after 1 s and playing again at once, for 5 s
    r = subprocess.run([sys.executable, "-m", "srs.main.bench.sb_rtmp_load", "-c", "4", "-r",
                        live.rtmp_url("live/s{i%2}"), "-s", "0", "-t", "0", "-d", "0", "-e", "1", "-m", "2",
                        "--session", "1", "--duration", "5", "--json", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(out.read_text())
    assert d["etasks"] == 0, d
    # ~5 sessions each: every session got media (its first-media time is counted)
    assert 4 * 3 <= d["tasks"] <= 4 * 6, d["tasks"]
    assert len(d["first_media_ms"]) >= d["tasks"] - 4
    assert d["nread_bytes"] > 4 * 5 * 20_000


@pytest.mark.skipif(not os.access(scale_table.NGINX, os.X_OK), reason="nginx is not installed")
def test_scale_table_hls_row_with_nginx_and_churn(tmp_path, monkeypatch, media_dir):
    # the rows' code end to end at a tiny size, on our server and on nginx serving its HLS files
    monkeypatch.setattr(scale_table, "HLS_SIZES", (4,))
    monkeypatch.setattr(scale_table, "CHURN_PLAYERS", 4)
    monkeypatch.setattr(scale_table, "CHURN_SESSION_S", 1.0)
    media = make_media(str(media_dir / "bench_scale_600k.flv"), seconds=6)
    results, md = scale_table.run(str(tmp_path), media, [peers.OURS], ["hls", "churn"], steady=3, settle=1,
                                  nginx=True)
    hls = [r for r in results if r["path"].startswith("HLS")]
    assert [r["server"] for r in hls] == ["srs-py", "nginx"]
    for r in hls:
        assert r["alive"] == 4 and r["errors"] == 0 and r["segments"] >= 4, r
        # TS of the ~600 kbps stream; a 3 s window sees one or two 2 s segments per player
        assert 0.4 < r["ratio"] < 2.0, r
    churn = [r for r in results if r["path"].startswith("churn")][0]
    assert churn["errors"] == 0 and churn["sessions"] >= 4 * 3 and churn["first_media_p99_ms"] < 5000, churn
    # (ours / nginx's CPU is rendered where nginx's is above 0: at 4 players it may read 0.0)
    assert "| HLS players (2 s TS fragments) | 4 | srs-py |" in md and "| 4 | nginx |" in md


def test_scale_profile_names_our_functions_when_py_spy_is_here(tmp_path, monkeypatch, media_dir):
    # --scale-profile: py-spy over our server's window (make bench's extra installs it; without it, no profile)
    monkeypatch.setattr(scale_table, "CHURN_PLAYERS", 4)
    monkeypatch.setattr(scale_table, "CHURN_SESSION_S", 1.0)
    media = make_media(str(media_dir / "bench_scale_600k.flv"), seconds=6)
    results, md = scale_table.run(str(tmp_path), media, [peers.OURS], ["churn"], steady=3, settle=1, profile=True)
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.isfile(spy):
        prof = results[0]["profile"]
        assert prof["samples"] > 0 and prof["top"], prof
        assert "- profile of ours, churn" in md
    else:
        assert "profile" not in results[0] and "profile of ours" not in md
