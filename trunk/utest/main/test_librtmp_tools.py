"""srs-librtmp tools (srs_rtmp_dump, srs_ingest_flv, srs_ingest_rtmp, srs_flv_parser,
srs_flv_injecter, srs_detect_rtmp, srs_h264_raw_publish, srs_aac_raw_publish, srs_ingest_hls)
run as programs against the real server, checked with PyAV players and decoders."""
import json
import subprocess
import sys
import threading

import av
import pytest

from fixtures.srs_server import Player, SrsProcess, free_port, publish_bg, publish_flv
from srs.kernel.errors import CodecError
from srs.kernel.flv import FlvSeekIndex, encode_tags, flv_header, iter_flv_tags, scan_tags
from srs.main.librtmp.detect_rtmp import figures
from srs.main.librtmp.flv_injecter import inject
from srs.main.librtmp.ingest_hls import Clock90k, parse_m3u8
from srs.protocol import amf0

BODY = ("gop_cache on;\n"
        "hls { enabled on; hls_fragment 1; hls_window 60; hls_path {html}; }")


def tool(name, *args, timeout=40):
    """Run a tool to completion; returns the CompletedProcess (exit code checked)."""
    r = subprocess.run([sys.executable, "-m", f"srs.main.librtmp.{name}", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def start_tool(name, *args):
    return subprocess.Popen([sys.executable, "-m", f"srs.main.librtmp.{name}", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    return out, err


@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("librtmp")
    with SrsProcess(tmp, vhost_body=BODY.replace("{html}", str(tmp / "html"))) as s:
        yield s


def stream_of(url: str) -> str:
    """``app/stream`` of an rtmp://host:port/app/stream URL."""
    return "/".join(url.split("/")[-2:])


def start_player(srs, url, **kw):
    """A Player already waiting on ``url`` (the server answers play before any publisher)."""
    p = Player(url, read_timeout_s=kw.pop("read_timeout_s", 2.0), max_seconds=kw.pop("max_seconds", 20), **kw)
    p.start()
    assert srs.wait_players(stream_of(url))  # its play reached the server before the publisher starts
    return p


def decode_file(path):
    """(video frames, audio frames, width, height) of a media file, fully decoded."""
    v = a = w = h = 0
    with av.open(path) as c:
        for pkt in c.demux():
            for fr in pkt.decode():
                if pkt.stream.type == "video":
                    v += 1
                    w, h = fr.width, fr.height
                else:
                    a += 1
    return v, a, w, h


def remux(src, dst, fmt, kind):
    """Copy one elementary stream into a raw container: Annex-B .h264 or ADTS .aac."""
    with av.open(src) as inp, av.open(dst, "w", format=fmt) as out:
        st = [s for s in inp.streams if s.type == kind][0]
        o = out.add_stream_from_template(st)
        for pkt in inp.demux(st):
            if pkt.dts is not None:
                pkt.stream = o
                out.mux(pkt)
    return dst


@pytest.fixture(scope="module")
def raw_files(media_flv, media_dir):
    return (remux(media_flv.path, str(media_dir / "raw.h264"), "h264", "video"),
            remux(media_flv.path, str(media_dir / "raw.aac"), "adts", "audio"))


class SingleStreamPlayer(threading.Thread):
    """Decodes a one-stream (video-only or audio-only) live RTMP stream with PyAV.

    The RTMP FLV header announces audio and video, so FFmpeg's probe would wait for the absent
    stream until its open timeout; a short analyzeduration ends the probe with what is there."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.video_frames = self.audio_frames = self.width = self.height = self.sample_rate = 0
        self.codec = None
        self.pts = []
        self.error = None

    def run(self):
        try:
            with av.open(self.url, timeout=(10.0, 2.0), options={"analyzeduration": "200000"}) as c:
                streams = [s for s in c.streams if s.codec_context is not None]
                for pkt in c.demux(*streams):
                    if pkt.size == 0 or pkt.stream.codec_context is None:
                        continue
                    self.codec = pkt.stream.codec_context.name
                    for fr in pkt.decode():
                        if pkt.stream.type == "video":
                            self.video_frames += 1
                            self.width, self.height = fr.width, fr.height
                            self.pts.append(float(fr.pts * fr.time_base))
                        else:
                            self.audio_frames += 1
                            self.sample_rate = fr.sample_rate
        except Exception as e:  # noqa: BLE001 - a read timeout ends a live stream
            if not any(k in str(e).lower() for k in ("timed out", "end of file", "immediate exit")):
                self.error = str(e)


def start_single_player(srs, url):
    p = SingleStreamPlayer(url)
    p.start()
    assert srs.wait_players(stream_of(url))
    return p


def check_full_av(p, media, min_ratio=0.95):
    assert p.error is None, p.error
    assert (p.width, p.height) == (320, 240)
    assert p.vcodec == "h264" and p.acodec == "aac"
    assert p.video_frames >= media.video_frames * min_ratio, (p.video_frames, media.video_frames)
    assert p.audio_frames >= media.audio_frames * min_ratio * 0.9, (p.audio_frames, media.audio_frames)


# ---------------------------------------------------------------------------------- file tools
def test_flv_parser_lists_every_tag(media_flv):
    out = tool("flv_parser", media_flv.path).stdout
    lines = out.splitlines()
    video = [l for l in lines if "Video packet type=Video" in l]
    audio = [l for l in lines if "Audio packet type=Audio" in l]
    assert len(video) == media_flv.video_frames + 2  # + sequence header + end of sequence
    assert len(audio) == media_flv.audio_frames + 1
    assert "H.264(SH,I)" in video[0] and "dts=0, pts=0" in video[0]
    assert sum("H.264(Nalu,I)" in l for l in video) == media_flv.keyframes
    assert "AAC(44KHz,16bit,Stereo,SH)" in audio[0]
    assert any("Data packet type=Data" in l for l in lines) and "String onMetaData" in out
    assert "width: Number 320.0" in out
    assert out.count("first and last 16 bytes") == len(video) + len(audio) + 1
    assert "parse completed." in out


def test_flv_injecter_adds_keyframe_index(media_flv, tmp_path):
    out = str(tmp_path / "injected.flv")
    tool("flv_injecter", media_flv.path, out)
    data = open(out, "rb").read()
    tags = scan_tags(data)
    pos, kind, _ts, size = tags[0]
    assert kind == 18
    name, meta = amf0.decode_all(data[pos + 11:pos + 11 + size])
    assert name == "onMetaData" and meta["width"] == 320
    kf = meta["keyframes"]
    assert len(kf["times"]) == len(kf["filepositions"]) == media_flv.keyframes
    assert [round(t - kf["times"][0], 3) for t in kf["times"]] == [0.0, 1.0, 2.0, 3.0]
    starts = {p: (k, t) for p, k, t, _ in tags}
    for t, fp in zip(kf["times"], kf["filepositions"]):
        k, ts = starts[int(fp)]  # every position is a tag start in the output file
        assert k == 9 and data[int(fp) + 11] >> 4 == 1 and ts == round(t * 1000)
    # the rest of the file is unchanged, and still plays completely
    assert data.endswith(media_flv.data[-1000:])
    assert decode_file(out)[:1] == (media_flv.video_frames,)
    idx = FlvSeekIndex(data[:4096])
    assert idx.response_size(len(data), int(kf["filepositions"][2])) > 0
    # injecting twice replaces the index instead of growing it
    tool("flv_injecter", out, str(tmp_path / "twice.flv"))
    assert open(str(tmp_path / "twice.flv"), "rb").read() == data


# ---------------------------------------------------------------------------------- live tools
def test_ingest_flv_is_played(srs, media_flv):
    p = start_player(srs, srs.rtmp_url("live/ingestflv"))
    r = tool("ingest_flv", "-i", media_flv.path, "-y", srs.rtmp_url("live/ingestflv"), "--speed", 4)
    assert "publish stream success" in r.stdout
    p.join(20)
    check_full_av(p, media_flv)


def test_rtmp_dump_writes_a_playable_flv(srs, media_flv, tmp_path):
    out = str(tmp_path / "dump.flv")
    dump = start_tool("rtmp_dump", "-r", srs.rtmp_url("live/dump"), "-o", out, "--complex",
                      "--timeout", 2, "-p", "http://page", "-s", "http://swf")
    assert srs.wait_players("live/dump")
    publish_flv(media_flv.path, srs.rtmp_url("live/dump"), realtime=True, speed=4)
    stdout, _ = finish(dump)
    assert "complex handshake" in stdout and "play stream success" in stdout
    v, a, w, h = decode_file(out)
    assert (w, h) == (320, 240)
    assert v >= media_flv.video_frames * 0.95 and a >= media_flv.audio_frames * 0.85, (v, a)


def test_rtmp_dump_prints_packets_and_stops_at_duration(srs, media_flv):
    dump = start_tool("rtmp_dump", "-r", srs.rtmp_url("live/dumpp"), "--duration", 1, "--timeout", 3)
    assert srs.wait_players("live/dumpp")
    publish_flv(media_flv.path, srs.rtmp_url("live/dumpp"), realtime=True, speed=4)
    stdout, _ = finish(dump)
    assert "duration exceed, terminate." in stdout
    assert "H.264(SH,I)" in stdout and "AAC(44KHz,16bit,Stereo,SH)" in stdout
    assert stdout.count("Video packet") >= 25


def test_ingest_rtmp_relays(srs, media_flv):
    p = start_player(srs, srs.rtmp_url("live/relayed"))
    relay = start_tool("ingest_rtmp", "-i", srs.rtmp_url("live/relaysrc"), "-y", srs.rtmp_url("live/relayed"),
                       "--timeout", 2)
    assert srs.wait_players("live/relaysrc")  # the relay plays its input before anyone publishes it
    publish_flv(media_flv.path, srs.rtmp_url("live/relaysrc"), realtime=True, speed=4)
    stdout, _ = finish(relay)
    assert "publish output success" in stdout
    p.join(20)
    check_full_av(p, media_flv)


def test_detect_rtmp_prints_figures(srs, media_flv):
    # 6 s of publishing (3 loops at 2x): the tool is a fresh Python process that may take seconds to
    # start on a loaded machine, and it must play while the stream is live
    pub = publish_bg(media_flv.path, srs.rtmp_url("live/detect"), speed=2, loops=3)
    try:
        assert srs.wait_published("live/detect")
        r = tool("detect_rtmp", srs.rtmp_url("live/detect"), 1, 10)
    finally:
        pub.join(20)
    fig = json.loads(r.stderr.strip().splitlines()[-1])
    assert fig["code"] == 0, r.stdout + r.stderr
    assert fig["stream"] > 1000 and fig["play_kbps"] > 0 and fig["unit"] == "ms"
    assert fig["total"] == pytest.approx(fig["dns"] + fig["tcp_connect"] + fig["start_play"]
                                         + fig["first_packet"] + fig["last_packet"], abs=3)
    assert "play stream success" in r.stdout and "got packet: type=Video" in r.stdout


def test_detect_rtmp_reports_error_code_without_server():
    r = subprocess.run([sys.executable, "-m", "srs.main.librtmp.detect_rtmp",
                        f"rtmp://127.0.0.1:{free_port()}/live/none", "1", "2"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    fig = json.loads(r.stderr.strip().splitlines()[-1])
    assert fig["code"] != 0


def test_h264_raw_publish(srs, media_flv, raw_files):
    p = start_single_player(srs, srs.rtmp_url("live/rawh264"))
    r = tool("h264_raw_publish", raw_files[0], srs.rtmp_url("live/rawh264"), 25, "--speed", 4)
    assert "100 frames" in r.stdout and "0 dropped" in r.stdout
    p.join(20)
    assert p.error is None, p.error
    assert (p.width, p.height, p.codec) == (320, 240, "h264")
    assert p.video_frames == media_flv.video_frames
    assert all(b > a for a, b in zip(p.pts, p.pts[1:]))


def test_aac_raw_publish(srs, media_flv, raw_files):
    p = start_single_player(srs, srs.rtmp_url("live/rawaac"))
    tool("aac_raw_publish", raw_files[1], srs.rtmp_url("live/rawaac"), "--speed", 4)
    p.join(20)
    assert p.error is None, p.error
    assert p.codec == "aac" and p.sample_rate == 44100
    assert p.audio_frames >= media_flv.audio_frames - 2, (p.audio_frames, media_flv.audio_frames)


def test_ingest_hls_from_the_servers_own_hls(srs, media_flv):
    publish_flv(media_flv.path, srs.rtmp_url("live/hlssrc"), realtime=True, speed=4)
    m3u8 = srs.http_url("live/hlssrc.m3u8")
    p = start_player(srs, srs.rtmp_url("live/hlsout"), read_timeout_s=3.0)
    r = tool("ingest_hls", "-i", m3u8, "-y", srs.rtmp_url("live/hlsout"), "--speed", 4, "--timeout", 2)
    assert "publish stream success" in r.stdout and "segment #3" in r.stdout
    p.join(20)
    check_full_av(p, media_flv, min_ratio=0.9)


# ---------------------------------------------------------------------------------- pure pieces
def test_m3u8_parsing_and_clock():
    pl = parse_m3u8("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.5,\nlive/a-1.ts\n#EXTINF:2.0,no\n"
                    "http://h/b.ts?x=1\n#EXT-X-ENDLIST\n", "http://127.0.0.1:8080/x/live.m3u8")
    assert pl.segments == [(1.5, "http://127.0.0.1:8080/x/live/a-1.ts"), (2.0, "http://h/b.ts?x=1")]
    assert pl.target == 2.0 and pl.ended and not pl.variants
    master = parse_m3u8("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/v/1.m3u8\n", "http://h:1/m.m3u8")
    assert master.variants == ["http://h:1/v/1.m3u8"] and not master.segments
    with pytest.raises(ValueError):
        parse_m3u8("<html>", "http://h/")
    c = Clock90k()
    near_wrap = (1 << 33) - 90 * 100
    assert [c.ms(near_wrap), c.ms(near_wrap + 9000), c.ms(90 * 50), c.ms(near_wrap - 900)] == [0, 100, 150, 0]


def test_detect_figures_add_up():
    fig = json.loads(figures(0, 10.0, 10.001, 10.01, 10.02, 10.1, 13.1, 3040, 1000, 375_000))
    assert (fig["dns"], fig["tcp_connect"], fig["start_play"], fig["first_packet"], fig["last_packet"]) == \
        (1, 9, 10, 80, 3000)
    assert fig["total"] == 3100 and fig["delay"] == 40 and fig["play_kbps"] == 375_000 * 8 // 3100
    # stages never reached count as zero-length
    fig = json.loads(figures(1011, 10.0, 10.001, 0, 0, 0, 11.0, 0, 0, 0))
    assert fig["code"] == 1011 and fig["first_packet"] == 0 and fig["last_packet"] == 999


def test_injecter_creates_metadata_when_missing(media_flv):
    msgs = [m for m in iter_flv_tags(media_flv.data) if m.kind != 18]
    data = flv_header() + encode_tags(msgs)
    out = inject(data)
    tags = scan_tags(out)
    assert tags[0][1] == 18 and len(tags) == len(msgs) + 1
    _, meta = amf0.decode_all(out[tags[0][0] + 11:tags[0][0] + 11 + tags[0][3]])
    assert [out[int(p) + 11] >> 4 for p in meta["keyframes"]["filepositions"]] == [1] * media_flv.keyframes
    assert out.endswith(data[13:])
    with pytest.raises(CodecError):
        inject(b"FLX\x01\x05")
