"""srs-bench tools (sb_rtmp_publish, sb_rtmp_load, sb_http_load, sb_hls_load) against the real
server: short runs with --duration and --json, asserting the bytes, rates and tasks they report.
Plus the pure pieces: m3u8 parsing, the -p summary merge, the py-spy profile summary."""
import json
import os
import subprocess
import sys

import pytest

from fixtures.media import make_flv
from fixtures.srs_server import Player, SrsProcess, rtmp_client, rtmp_wait, wait_for
from srs.kernel.message import Message

from srs.main.bench import common, profile, sb_hls_load
from srs.main.bench import sb_rtmp_latency as lat
from srs.main.bench.drain import ReadPacer
from srs.main.bench.rig import window_rate
from srs.main.bench.rtmp_client import RtmpUrl
from srs.protocol.rtmp_stack import Status

# hls_cleanup off: a load client fetches the whole 6 s window at its start, and on a slow machine the
# oldest segment could leave the window (and the disk) between its playlist read and its fetch.
BODY = ("http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
        "hls { enabled on; hls_fragment 1; hls_window 6; hls_cleanup off; hls_path {html}; }")


def tool(name, *args, timeout=60):
    """Run a tool to completion; returns (completed process, report lines)."""
    r = subprocess.run([sys.executable, "-m", f"srs.main.bench.{name}", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r, [l for l in r.stdout.splitlines() if "[report]" in l]


def start_tool(name, *args):
    return subprocess.Popen([sys.executable, "-m", f"srs.main.bench.{name}", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory, media_dir):
    """A server with one stream published by sb_rtmp_publish (looping the 4 s test file)."""
    tmp = tmp_path_factory.mktemp("bench")
    media = make_flv(media_dir / "bench.flv", seconds=4, width=320, height=240, fps=25, gop=25)
    srs = SrsProcess(tmp, vhost_body="gop_cache on;\n" + BODY.replace("{html}", str(tmp / "html")))
    srs.start()
    out = str(tmp / "publish.json")
    pub = start_tool("sb_rtmp_publish", "-i", media.path, "-r", srs.rtmp_url("live/s{i}"), "-c", 2,
                     "-s", 0, "-m", 1, "--duration", 40, "--json", out)
    # both streams published, and the HLS window of s0 holds two segments for sb_hls_load to start from
    assert srs.wait_published("live/s0") and srs.wait_published("live/s1"), srs.output()[-2000:]
    m3u8 = tmp / "html" / "live" / "s0.m3u8"
    assert wait_for(lambda: m3u8.exists() and m3u8.read_text().count("#EXTINF") >= 2, 10), srs.output()[-2000:]
    kbps = media.size * 8 / media.duration_ms
    yield srs, media, kbps, pub, out
    pub.terminate()
    pub.wait(10)
    srs.stop()


def load_json(path):
    with open(path) as f:
        return json.load(f)


def check_rate(d, clients, kbps, seconds):
    """Bytes read cover about clients x bitrate x time (joins take a moment: lower bound 60%)."""
    expected = clients * kbps * 1000 / 8 * seconds
    assert 0.6 * expected < d["nread_bytes"] < 1.6 * expected + 2_000_000, (d["nread_bytes"], expected)


def test_publish_reaches_players_with_index_in_url(live):
    srs, media, kbps, pub, _ = live
    p0 = Player(srs.rtmp_url("live/s0"), max_seconds=3, decode=False)
    p1 = Player(srs.http_url("live/s1.flv"), max_seconds=3, decode=False)
    p0.start()
    p1.start()
    p0.join(20)
    p1.join(20)
    assert p0.error is None and p1.error is None, (p0.error, p1.error)
    # 3 s of a 25 fps stream (the GOP cache adds up to a second at the start)
    assert p0.video_frames >= 50 and p1.video_frames >= 50, (p0.video_frames, p1.video_frames)
    assert p0.monotonic() and p1.monotonic()


def test_rtmp_load_counts_bytes_and_reports(live, tmp_path):
    srs, media, kbps, _, _ = live
    out = str(tmp_path / "rtmp.json")
    r, reports = tool("sb_rtmp_load", "-c", 8, "-r", srs.rtmp_url("live/s0"), "-s", 0.2, "-m", 1,
                      "--duration", 4, "--json", out)
    d = load_json(out)
    assert d["clients"] == 8 and d["threads"] == 8 and d["tasks"] == 8 and d["etasks"] == 0
    check_rate(d, 8, kbps, 4)
    # one report per second and a final one, in srs-bench's format, with all players alive
    assert len(reports) >= 4
    assert any(" alive:8 " in l for l in reports), reports
    fields = reports[1].split()
    assert fields[0] == "[report]" and fields[1] == f"[{d['pid']}]"
    assert [f.split(":")[0] for f in fields[2:]] == ["threads", "alive", "duration", "tduration", "nread",
                                                     "nwrite", "tasks", "etasks", "stasks", "estasks"]
    mbps = float(fields[6].split(":")[1])
    assert 0.5 * 8 * kbps / 1000 < mbps < 2 * 8 * kbps / 1000, reports
    # per-second cumulative samples for the driver
    assert len(d["samples"]) >= 3 and d["samples"][-1][2] == d["nread_bytes"]
    # each player's connect-to-first-audio/video time, and its percentiles
    assert len(d["first_media_ms"]) == 8 and all(0 < x < 4000 for x in d["first_media_ms"]), d["first_media_ms"]
    assert d["first_media_p50_ms"] <= d["first_media_p99_ms"] == d["first_media_max_ms"] == max(d["first_media_ms"])
    assert any(l.startswith("[first-media]") and "players:8 " in l for l in r.stdout.splitlines()), r.stdout


def test_rtmp_load_sends_acknowledgements(live, tmp_path):
    """Each time half the server's 2.5 MB window arrived a player acknowledges: a test publisher
    pushes ~3 MB fast and nwrite counts exactly the 16-byte acks."""
    srs, media, kbps, _, _ = live
    out = str(tmp_path / "ack.json")
    load = start_tool("sb_rtmp_load", "-c", 1, "-r", srs.rtmp_url("live/ack"), "-s", 0, "-m", 60,
                      "--duration", 5, "--json", out)
    assert srs.wait_players("live/ack")
    s, cs = rtmp_client(srs.rtmp_port)
    cs.publish("ack", 1)
    s.sendall(cs.data_to_send())
    rtmp_wait(s, cs, Status, code="NetStream.Publish.Start")
    chunk = os.urandom(50_000)
    for i in range(60):  # 3 MB of keyframes (0x17 = key + AVC, NALU packet)
        cs.send_media(Message.make(9, i * 40, b"\x17\x01\x00\x00\x00" + chunk, 1))
        s.sendall(cs.data_to_send())
    load.communicate(timeout=30)
    s.close()
    d = load_json(out)
    assert d["nread_bytes"] > 2_500_000
    assert d["nwrite_bytes"] == 16 * (d["nread_bytes"] // 1_250_000) > 0


def test_rtmp_load_processes_merge_and_errors(live, tmp_path):
    srs, media, kbps, _, _ = live
    out = str(tmp_path / "p.json")
    r, _ = tool("sb_rtmp_load", "-c", 4, "-p", 2, "-r", srs.rtmp_url("live/s0"), "-s", 0, "-m", 60,
                "--duration", 3, "--json", out)
    d = load_json(out)
    assert d["processes"] == 2 and d["clients"] == 4 and d["tasks"] == 4 and d["etasks"] == 0
    assert "[total] [report]" in r.stdout
    check_rate(d, 4, kbps, 3)
    # a closed port: every attempt is an error task, retried after -e
    out = str(tmp_path / "err.json")
    tool("sb_rtmp_load", "-c", 2, "-r", "rtmp://127.0.0.1:1/live/x", "-s", 0, "-e", 0.2,
         "--duration", 1.5, "--json", out)
    d = load_json(out)
    # every finished attempt failed; each of the 2 clients may have one attempt in flight when
    # --duration ends it (counted as a task, never finished as an error)
    assert d["tasks"] >= 4 and d["tasks"] - 2 <= d["etasks"] <= d["tasks"] and d["nread_bytes"] == 0


def test_http_flv_load(live, tmp_path):
    srs, media, kbps, _, _ = live
    out = str(tmp_path / "flv.json")
    tool("sb_http_load", "-c", 8, "-r", srs.http_url("live/s1.flv"), "-s", 0.2, "-m", 1,
         "--duration", 4, "--read-size", 65536, "--json", out)
    d = load_json(out)
    assert d["tasks"] == 8 and d["etasks"] == 0
    check_rate(d, 8, kbps, 4)
    assert len(d["first_media_ms"]) == 8 and all(0 < x < 4000 for x in d["first_media_ms"]), d["first_media_ms"]


def test_http_file_repeat_needs_content_length(live, tmp_path):
    srs, media, kbps, _, _ = live
    page = os.path.join(srs.html, "page.bin")
    with open(page, "wb") as f:
        f.write(os.urandom(100_000))
    out = str(tmp_path / "file.json")
    tool("sb_http_load", "-c", 3, "-t", 4, "-d", 0, "-r", srs.http_url("page.bin"), "-s", 0,
         "--duration", 20, "--json", out)
    d = load_json(out)
    assert d["tasks"] == 12 and d["etasks"] == 0
    assert 12 * 100_000 < d["nread_bytes"] < 12 * 101_000  # bodies + headers
    out = str(tmp_path / "404.json")
    tool("sb_http_load", "-c", 1, "-t", 2, "-e", 0, "-r", srs.http_url("missing.bin"), "-s", 0,
         "--duration", 10, "--json", out)
    d = load_json(out)
    assert d["tasks"] == 2 and d["etasks"] == 2


def test_hls_load_live(live, tmp_path):
    srs, media, kbps, _, _ = live
    out = str(tmp_path / "hls.json")
    tool("sb_hls_load", "-c", 3, "-r", srs.http_url("live/s0.m3u8"), "-s", 0, "--duration", 4,
         "--json", out)
    d = load_json(out)
    assert d["etasks"] == 0 and d["estasks"] == 0
    assert d["tasks"] >= 3 * 2          # refreshed about every segment (1 s)
    assert d["stasks"] >= 3 * 3         # the window at start, then new segments
    assert d["nread_bytes"] > 3 * kbps * 1000 / 8 * 2


def test_hls_load_vod_whole_playlist(live, tmp_path):
    srs, media, kbps, _, _ = live
    # segments bigger than a socket buffer, so each download waits on the network several times
    seg = (b"\x47" + bytes(187)) * 2000
    vod = os.path.join(srs.html, "vod")
    os.makedirs(vod, exist_ok=True)
    for i in range(3):
        with open(os.path.join(vod, f"v{i}.ts"), "wb") as f:
            f.write(seg)
    with open(os.path.join(vod, "v.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n" +
                "".join(f"#EXTINF:2.0,\nv{i}.ts\n" for i in range(3)) + "#EXT-X-ENDLIST\n")
    with open(os.path.join(vod, "master.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nv.m3u8\n")
    out = str(tmp_path / "vod.json")
    tool("sb_hls_load", "--vod", "-c", 20, "-t", 2, "-d", 0, "-r", srs.http_url("vod/master.m3u8"),
         "-s", 0, "--duration", 60, "--json", out)
    d = load_json(out)
    assert d["tasks"] == 40 and d["etasks"] == 0
    assert d["stasks"] == 40 * 3 and d["estasks"] == 0
    # every byte of every body counted, though 20 clients download at once (a count read before a
    # download and written after it lost the others' bytes: HLS rates read 2-5x low under load)
    # (the playlists as served: with hls_ctx on, the server adds the session to the variant's URI)
    playlists = sum(os.path.getsize(os.path.join(vod, n)) for n in ("master.m3u8", "v.m3u8"))
    assert 40 * (playlists + 3 * len(seg)) <= d["nread_bytes"] <= 40 * (playlists + 200 + 3 * len(seg))


def test_publish_reports_its_rate(live):
    """The module's publishers (2) sent at about the file's bitrate; TERM still writes --json."""
    srs, media, kbps, pub, out = live
    pub.terminate()
    text, _ = pub.communicate(timeout=15)
    reports = [l for l in text.splitlines() if "[report]" in l]
    assert reports and " alive:2 " in reports[1], text[-2000:]
    d = load_json(out)
    assert d["tasks"] == 2 and d["etasks"] == 0 and d["clients"] == 2
    rate_kbps = d["nwrite_bytes"] * 8 / 1000 / d["duration"] / 2
    assert 0.7 * kbps < rate_kbps < 1.5 * kbps, (rate_kbps, kbps)
    # the lateness figures agree with each other (how late is the machine's to decide: a busy CI host
    # can hold a batch back half a second, which the rate check above already bounds)
    assert d["max_late_ms"] >= 0 and 0 <= d["late_publishers"] <= 2, d
    assert (d["late_publishers"] > 0) == (d["max_late_ms"] >= 500), d


# ------------------------------------------------------------------------------ pure parts
def test_parse_m3u8_segments_variants_and_garbage():
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.5,\na-1.ts\n#EXTINF:3.0,title\n/x/a-2.ts\n"
    segs, variants, target = sb_hls_load.parse_m3u8(text, "http://h:8080/live/a.m3u8")
    assert segs == [(2.5, "http://h:8080/live/a-1.ts"), (3.0, "http://h:8080/x/a-2.ts")]
    assert variants == [] and target == 3.0
    segs, variants, _ = sb_hls_load.parse_m3u8("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/i.m3u8\n",
                                               "http://h/live/m.m3u8")
    assert segs == [] and variants == ["http://h/live/v/i.m3u8"]
    with pytest.raises(ValueError):
        sb_hls_load.parse_m3u8("<html>", "http://h/")


def test_rtmp_url_and_client_index():
    u = RtmpUrl(common.client_url("rtmp://127.0.0.1:19350/live/app2/s{i}?vhost=v", 7))
    assert (u.host, u.port, u.app, u.stream) == ("127.0.0.1", 19350, "live/app2", "s7?vhost=v")
    assert u.tc_url == "rtmp://127.0.0.1:19350/live/app2"
    assert RtmpUrl("rtmp://h/live/x").port == 1935
    for bad in ("http://h/live/x", "rtmp://h/x", "rtmp:///live/x"):
        with pytest.raises(ValueError):
            RtmpUrl(bad)


def test_merge_sums_workers_and_aligns_samples():
    a = {"clients": 2, "threads": 2, "alive": 2, "nread_bytes": 100, "nwrite_bytes": 1, "tasks": 2,
         "etasks": 0, "stasks": 0, "estasks": 0, "nread_mbps": 1.0, "nwrite_mbps": 0.0, "duration": 3.0,
         "tduration": 1.0, "samples": [[10.2, 2, 50, 0], [11.2, 2, 100, 1]]}
    b = dict(a, clients=1, threads=1, alive=1, nread_bytes=30, tasks=1, etasks=1, tduration=4.0,
             samples=[[11.6, 1, 30, 0], [12.6, 1, 30, 0]])
    m = common.merge([a, b])
    assert (m["clients"], m["tasks"], m["etasks"], m["nread_bytes"]) == (3, 3, 1, 130)
    assert m["tduration"] == 2.0
    assert m["samples"] == [[11.0, 3, 130, 1]]  # only the second both workers sampled
    line = common.report_line(m, 1.04, 0.0)
    assert line.startswith(f"[report] [{m['pid']}] threads:3 alive:3 ") and "nread:1.04" in line


def test_profile_summary_from_raw_stacks():
    raw = ("<module> (srs/main/server.py:10);run (/x/site-packages/gevent/hub.py:5);"
           "write (/w/trunk/src/app/net.py:80) 30\n"
           "<module> (srs/main/server.py:10);flush (/w/trunk/src/app/source.py:7);"
           "write (/w/trunk/src/app/net.py:81) 50\n"
           "<module> (srs/main/server.py:10);flush (/w/trunk/src/app/source.py:7) 20\n"
           "garbage line\n")
    p = profile.top_functions(raw, 2, rate_hz=100, seconds=2)
    assert p["samples"] == 100 and p["active_pct"] == 50.0
    assert p["top"][0] == {"name": "write (app/net.py)", "self_pct": 80.0, "total_pct": 80.0}
    assert p["top"][1]["name"] == "flush (app/source.py)"
    assert p["top"][1]["self_pct"] == 20.0 and p["top"][1]["total_pct"] == 70.0


def test_read_pacer_sleeps_for_short_reads():
    pacer = ReadPacer(100_000)
    assert pacer.after_read(1000) == 0.0  # no rate known in the first second
    pacer.t0 -= 2.0                        # 2 s at 1000 + 1000 bytes: ~1000 B/s
    assert pacer.after_read(1000) == 1.0   # capped at 1 s
    assert pacer.after_read(200_000) == 0.0
    assert ReadPacer(0).after_read(1) == 0.0


def test_latency_stamp_roundtrip_and_summary():
    payload = bytes([0x27, 1, 0, 0, 0]) + b"frame"
    stamped = lat.stamp(payload, 1234.5)
    assert stamped.startswith(payload) and lat.read_stamp(stamped) == 1234.5
    # no stamp, too short, or a marker that is not ours: -1
    for bad in (payload, b"", b"SRSL", payload + b"XXXX" + b"\x00" * 8):
        assert lat.read_stamp(bad) == -1.0
    s = lat.summarize([float(x) for x in range(100, 0, -1)])
    assert (s["count"], s["min"], s["median"], s["p90"], s["p99"], s["max"]) == (100, 1, 50, 90, 99, 100)
    assert lat.summarize([7.0]) == {"count": 1, "min": 7.0, "median": 7.0, "p90": 7.0, "p99": 7.0, "max": 7.0}
    assert lat.summarize([])["count"] == 0


def test_window_rate_reads_either_column():
    samples = [[10.0, 5, 0, 0], [11.0, 5, 125000, 250000], [12.0, 4, 250000, 500000]]
    assert window_rate(samples, 10.0, 12.0) == (1.0, 4)
    assert window_rate(samples, 10.0, 12.0, column=3) == (2.0, 4)
    assert window_rate(samples[:1], 10.0, 12.0) == (0.0, 0)
