"""HLS hub output: reaping, window, m3u8 bytes, codecs, republish, AES-128, disk errors, hooks, dispose.

The output is driven directly with the Messages of the fixture FLVs (4 s, 25 fps, 1 s GOPs), as a
LiveSource would; every segment is checked by decoding it with PyAV.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import av
import gevent
import pytest

from fixtures.api_server import ApiServer
from srs.app.config.conf import Config
from srs.app.hls.muxer import HlsManager, HlsStream, split_url
from srs.kernel.m3u8 import FloorClock, Segment, build_timestamp, key_uri, render, segment_uri, shrink
from srs.app.http.hooks import HttpHooks
from srs.app.live.source import LiveSource, SourceOptions, SourceRegistry
from srs.app.api.statistic import Statistic
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AMF0_DATA, MSG_VIDEO, Message

URL = "__defaultVhost__/live/livestream"
VHOST = "__defaultVhost__"
CID = 777
T0 = 1_700_000_000_000


class Host:
    """What the Server hands the HlsManager (app.ports), made of real parts: the Config (the test
    may swap it, as a reload does), HttpHooks, a connection table, a SourceRegistry, a cwd and a
    clock the test moves (``clock=None``: the wall clock)."""

    def __init__(self, hls_block: str, cwd: str, hooks_block: str = "", top: str = ""):
        self.config = Config.parse_text(f"listen 1935; {top} vhost {VHOST} {{ hls {{ {hls_block} }} {hooks_block} }}")
        self.cwd = cwd
        self.statistic = Statistic()
        self.hooks = HttpHooks(timeout_s=5.0, cwd=cwd)
        self.connections = {}
        self.sources = SourceRegistry(lambda vhost: SourceOptions())
        self.clock = T0
        self.hls = HlsManager(config=lambda: self.config, clock=self.now_ms, hooks=self.hooks,
                              connections=self.connections, sources=self.sources, cwd=cwd)

    def now_ms(self) -> int:
        return int(time.time() * 1000) if self.clock is None else self.clock


def conf(path, extra=""):
    """An hls block: fragment 2 s, window 60 s unless ``extra`` sets them."""
    names = {d.strip().split()[0] for d in extra.split(";") if d.strip()}
    defaults = "".join(f"{k} {v}; " for k, v in (("hls_fragment", 2), ("hls_window", 60)) if k not in names)
    return f"enabled on; hls_path {path}; {defaults}{extra}"


def is_eos(m: Message) -> bool:
    return m.kind == MSG_VIDEO and len(m.payload) > 1 and m.payload[1] == 2


def looped(msgs, n, base=0):
    """The fixture ``n`` times back to back as one publish (headers once, no end-of-sequence)."""
    video = any(m.kind == MSG_VIDEO for m in msgs)
    period = max(m.ts_ms for m in msgs) + (40 if video else 23)
    out = []
    for i in range(n):
        for m in msgs:
            if is_eos(m) or (i and (m.kind == MSG_AMF0_DATA or m.seq_header)):
                continue
            out.append(m.with_ts(base + i * period + m.ts_ms))
    return out


def coded(msgs, kind):
    return sum(1 for m in msgs if m.kind == kind and not m.seq_header and not is_eos(m) and m.payload)


@pytest.fixture(scope="module")
def av_msgs(media_flv):
    return list(iter_flv_tags(media_flv.data))


def new_source(cid=CID) -> LiveSource:
    src = LiveSource(URL, SourceOptions())
    src.publisher_cid = cid
    return src


def publish(host, messages, source=None, unpublish=True) -> HlsStream:
    src = source or new_source()
    out = host.hls.output_for(src, VHOST)
    assert isinstance(out, HlsStream)
    out.on_publish(src)
    for m in messages:
        out.on_message(m)
    if unpublish:
        out.on_unpublish(src)
    return out


def parse_m3u8(path):
    """-> (header dict, [entry dict(duration, uri, disc, key)]) and checks the line grammar."""
    with open(path, "rb") as f:
        text = f.read().decode()
    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-ALLOW-CACHE:YES"]
    head = {"seq": int(lines[3].split(":")[1]), "target": int(lines[4].split(":")[1])}
    assert lines[3].startswith("#EXT-X-MEDIA-SEQUENCE:") and lines[4].startswith("#EXT-X-TARGETDURATION:")
    entries, disc, key = [], False, None
    for line in lines[5:]:
        if line == "#EXT-X-DISCONTINUITY":
            disc = True
        elif line.startswith("#EXT-X-KEY:"):
            key = line
        elif line.startswith("#EXTINF:"):
            assert line.endswith(", no desc")
            dur = line[len("#EXTINF:"):-len(", no desc")]
            assert len(dur.split(".")[1]) == 3
            entries.append({"duration": float(dur), "disc": disc, "key": key})
            disc, key = False, None
        else:
            entries[-1]["uri"] = line
    assert "#EXT-X-ENDLIST" not in text
    for e in entries:
        assert head["target"] >= e["duration"], (head, e)
    return head, entries


def decode_ts(path):
    info = {"video": 0, "audio": 0, "vcodec": None, "acodec": None, "first_key": None}
    with av.open(path) as c:
        if c.streams.video:
            info["vcodec"] = c.streams.video[0].codec_context.name
        if c.streams.audio:
            info["acodec"] = c.streams.audio[0].codec_context.name
        for frame in c.decode(*(c.streams.video[:1] + c.streams.audio[:1])):
            if isinstance(frame, av.VideoFrame):
                if info["first_key"] is None:
                    info["first_key"] = frame.key_frame
                info["video"] += 1
            else:
                info["audio"] += 1
    return info


def cc_check(paths):
    """TS packets are whole, and continuity counters run on across the files in order."""
    last = {}
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        assert len(data) % 188 == 0 and data
        assert data[0] == 0x47 and ((data[1] & 0x1F) << 8 | data[2]) == 0, "segment starts with PAT"
        for i in range(0, len(data), 188):
            pid = (data[i + 1] & 0x1F) << 8 | data[i + 2]
            if data[i + 3] & 0x10:
                cc = data[i + 3] & 0x0F
                if pid in last:
                    assert cc == (last[pid] + 1) % 16, (p, i, pid)
                last[pid] = cc


def files(root, suffix):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if n.endswith(suffix)]
    return sorted(out)


def ts_paths(stream):
    return [s.path for s in stream.segments]


# ---------------------------------------------------------------------------------------------
def test_av_segments_m3u8_bytes_and_decoding(tmp_path, media_flv, av_msgs):
    host = Host(conf(tmp_path), str(tmp_path))
    msgs = looped(av_msgs, 2)
    out = publish(host, msgs)
    durations = [s.duration_ms for s in out.segments]
    assert len(durations) == 4
    for d in durations[:-1]:
        assert abs(d - 2000) <= 200
    media = [m.ts_ms for m in msgs if m.kind in (8, 9) and not m.seq_header]
    assert sum(durations) == max(media) - min(media)  # segments tile the stream
    m3u8 = tmp_path / "live" / "livestream.m3u8"
    expected = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-MEDIA-SEQUENCE:0\n"
                "#EXT-X-TARGETDURATION:3\n#EXT-X-DISCONTINUITY\n"
                + "".join("#EXTINF:%.3f, no desc\nlivestream-%d.ts\n" % (d / 1000.0, i)
                          for i, d in enumerate(durations)))
    assert m3u8.read_bytes() == expected.encode()
    parse_m3u8(m3u8)
    assert files(tmp_path, ".tmp") == [] and files(tmp_path, ".temp") == []
    totals = {"video": 0, "audio": 0}
    for p in ts_paths(out):
        info = decode_ts(p)
        assert (info["vcodec"], info["acodec"]) == ("h264", "aac")
        assert info["first_key"] is True
        totals["video"] += info["video"]
        totals["audio"] += info["audio"]
    assert totals["video"] == 2 * media_flv.video_frames == coded(msgs, MSG_VIDEO)
    assert totals["audio"] == coded(msgs, 8)
    cc_check(ts_paths(out))


def test_window_shrinks_and_cleanup_deletes(tmp_path, av_msgs):
    host = Host(conf(tmp_path, "hls_window 5;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 5))
    head, entries = parse_m3u8(tmp_path / "live" / "livestream.m3u8")
    durations = [e["duration"] for e in entries]
    assert int(sum(durations)) > 5 and int(sum(durations[1:])) <= 5  # SRS's window rule
    assert head["seq"] == out.segments[0].seq > 0
    on_disk = files(tmp_path, ".ts")
    assert on_disk == sorted(str(tmp_path / "live" / e["uri"]) for e in entries)

    keep = tmp_path / "keep"
    host = Host(conf(keep, "hls_window 5; hls_cleanup off;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 5))
    assert len(files(keep, ".ts")) == out.seq > len(out.segments)


def test_audio_only_reaps_by_aof_ratio(tmp_path, media_flv_audio_only):
    msgs = list(iter_flv_tags(media_flv_audio_only.data))
    for ratio, target in ((1.0, 2000), (2.0, 4000)):
        root = tmp_path / str(ratio)
        host = Host(conf(root, f"hls_aof_ratio {ratio};"), str(tmp_path))
        feed = looped(msgs, 3)
        out = publish(host, feed)
        for s in out.segments[:-1]:
            assert abs(s.duration_ms - target) <= target * 0.1, out.segments
        total = 0
        for p in ts_paths(out):
            info = decode_ts(p)
            assert (info["vcodec"], info["acodec"]) == (None, "aac")
            total += info["audio"]
        # Everything up to the end of the last kept segment; a tail < 100 ms is dropped at close.
        end = out.segments[-1].start_ms + out.segments[-1].duration_ms
        frames = [m.ts_ms for m in feed if m.kind == 8 and not m.seq_header]
        assert total in (sum(1 for t in frames if t < end), sum(1 for t in frames if t <= end))
        assert total >= coded(feed, 8) - 5
        parse_m3u8(root / "live" / "livestream.m3u8")
        cc_check(ts_paths(out))


def test_video_only(tmp_path, media_flv_video_only):
    msgs = list(iter_flv_tags(media_flv_video_only.data))
    host = Host(conf(tmp_path), str(tmp_path))
    out = publish(host, msgs)
    assert [s.duration_ms for s in out.segments][:1] == [2000]
    total = 0
    for p in ts_paths(out):
        info = decode_ts(p)
        assert (info["vcodec"], info["acodec"]) == ("h264", None)
        total += info["video"]
    assert total == media_flv_video_only.video_frames


def test_mp3_audio(tmp_path, media_flv_mp3):
    msgs = list(iter_flv_tags(media_flv_mp3.data))
    host = Host(conf(tmp_path), str(tmp_path))
    out = publish(host, msgs)
    totals = [0, 0]
    for p in ts_paths(out):
        info = decode_ts(p)
        assert info["vcodec"] == "h264" and info["acodec"].startswith("mp3")
        totals[0] += info["video"]
        totals[1] += info["audio"]
    assert totals[0] == media_flv_mp3.video_frames
    assert totals[1] == coded(msgs, 8)


def test_codec_switches_vn_an(tmp_path, av_msgs):
    host = Host(conf(tmp_path / "vn", "hls_vcodec vn;"), str(tmp_path))
    out = publish(host, av_msgs)
    assert {(i["vcodec"], i["acodec"]) for i in map(decode_ts, ts_paths(out))} == {(None, "aac")}
    host = Host(conf(tmp_path / "an", "hls_acodec an;"), str(tmp_path))
    out = publish(host, av_msgs)
    assert {(i["vcodec"], i["acodec"]) for i in map(decode_ts, ts_paths(out))} == {("h264", None)}


def test_republish_discontinuity_and_continuity(tmp_path, av_msgs):
    host = Host(conf(tmp_path), str(tmp_path))
    first = publish(host, av_msgs)
    n1 = len(first.segments)
    second = publish(host, av_msgs, source=new_source(CID + 1))  # a new LiveSource, same URL
    assert second is first  # the stream state outlives the source
    head, entries = parse_m3u8(tmp_path / "live" / "livestream.m3u8")
    assert [e["disc"] for e in entries] == [True] + [False] * (n1 - 1) + [True] + [False] * (len(entries) - n1 - 1)
    assert [s.seq for s in second.segments] == list(range(len(entries)))
    cc_check(ts_paths(second))  # counters run on across the republish
    for p in ts_paths(second):
        assert decode_ts(p)["first_key"] is True


def test_repeated_sequence_header_is_not_a_discontinuity(tmp_path, av_msgs):
    host = Host(conf(tmp_path), str(tmp_path))
    msgs = looped(av_msgs, 2)
    sh = [m for m in av_msgs if m.seq_header]
    mid = next(i for i, m in enumerate(msgs) if m.ts_ms >= 3000)
    msgs[mid:mid] = [m.with_ts(msgs[mid].ts_ms) for m in sh]
    out = publish(host, msgs)
    assert [s.discontinuity for s in out.segments] == [True, False, False, False]


def test_wait_keyframe_on_and_off(tmp_path, av_msgs):
    host = Host(conf(tmp_path / "k", "hls_fragment 1.5;"), str(tmp_path))
    msgs = looped(av_msgs, 2)
    keys = {m.ts_ms for m in msgs if m.kind == MSG_VIDEO and m.keyframe and not m.seq_header}
    out = publish(host, msgs)
    for s in out.segments[1:]:
        assert s.start_ms in keys  # every reap at a keyframe...
    for s in out.segments[:-1]:
        assert 1900 <= s.duration_ms <= 2100  # ...the second one after 1.5 s (1 s GOPs)
    host = Host(conf(tmp_path / "nk", "hls_fragment 1.5; hls_wait_keyframe off;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))
    for s in out.segments[:-1]:
        assert 1500 <= s.duration_ms <= 1560


def test_close_keep_rule_drops_short_and_overlong(tmp_path, av_msgs):
    host = Host(conf(tmp_path), str(tmp_path))
    short = [m for m in av_msgs if m.ts_ms < 60]
    out = publish(host, short)
    assert out.segments == [] and out.seq == 0
    assert files(tmp_path, ".ts") == [] and files(tmp_path, ".tmp") == []
    assert not (tmp_path / "live" / "livestream.m3u8").exists()

    # One keyframe then 4 s without: longer than 2 * hls_td_ratio * hls_fragment (2 s) -> dropped.
    root = tmp_path / "long"
    host = Host(conf(root, "hls_fragment 1; hls_td_ratio 1; hls_aof_ratio 100;"), str(tmp_path))
    seen_key = []
    msgs = []
    for m in av_msgs:
        if m.kind == MSG_VIDEO and m.keyframe and not m.seq_header:
            if seen_key:
                m = Message(m.kind, m.ts_ms, m.payload, keyframe=False)
            seen_key.append(m)
        msgs.append(m)
    out = publish(host, msgs)
    assert out.segments == [] and out.seq == 0 and files(root, ".ts") == []


def test_paths_templates_and_entry_prefix(tmp_path, av_msgs):
    host = Host(conf(tmp_path, "hls_m3u8_file [vhost]/[app]/[stream]/index.m3u8; "
                     "hls_ts_file [vhost]/[app]/[stream]/[2006][01][02]-[15][04][05]-[999]-[timestamp]-[seq].ts; "
                     "hls_entry_prefix http://cdn.example.com/hls;"), str(tmp_path), top="utc_time on;")
    out = publish(host, av_msgs)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(T0 / 1000)) + "-000-%d" % T0
    m3u8 = tmp_path / VHOST / "live" / "livestream" / "index.m3u8"
    _, entries = parse_m3u8(m3u8)
    assert entries[0]["uri"] == ("http://cdn.example.com/hls/%s/live/livestream/%s-0.ts" % (VHOST, stamp))
    assert os.path.exists(out.segments[0].path)
    assert segment_uri("/h/live/a-1.ts", "/h/live", "live/a.m3u8", "http://cdn/") == "http://cdn/a-1.ts"
    assert segment_uri("/h/live/a-1.ts", "/h/live", "live/a.m3u8", "") == "a-1.ts"
    assert segment_uri("/h/other/a-1.ts", "/h/live", "live/a.m3u8", "") == "h/other/a-1.ts"
    assert build_timestamp("[2006]-[01]-[02] [15]:[04]:[05].[999]", 86_400_123, utc=True) == "1970-01-02 00:00:00.123"
    assert split_url("v/app/sub/stream") == ("v", "app/sub", "stream")


def test_ts_floor_timestamps_increase_by_one(tmp_path, av_msgs):
    host = Host(conf(tmp_path, "hls_ts_floor on; hls_ts_file [app]/[stream]-[timestamp].ts;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))
    stamps = [int(os.path.basename(s.path).split("-")[1][:-3]) for s in out.segments]
    first = T0 // 2000 - 1
    assert stamps == list(range(first, first + len(stamps)))
    clock = FloorClock()
    assert clock.next(10_000, 1.0) == 9 and clock.next(10_000, 1.0) == 10 and clock.deviation == 0


def test_aes128_keys(tmp_path, av_msgs):
    host = Host(conf(tmp_path, "hls_keys on; hls_fragments_per_key 2; hls_key_file_path %s;" % tmp_path),
                str(tmp_path))
    msgs = looped(av_msgs, 2)
    out = publish(host, msgs)
    m3u8 = tmp_path / "live" / "livestream.m3u8"
    head, entries = parse_m3u8(m3u8)
    assert [e["key"] for e in entries] == [
        '#EXT-X-KEY:METHOD=AES-128,URI="livestream-0.key",IV=0x%032x' % 0, None,
        '#EXT-X-KEY:METHOD=AES-128,URI="livestream-2.key",IV=0x%032x' % 2, None]
    keys = {seq: (tmp_path / "live" / ("livestream-%d.key" % seq)).read_bytes() for seq in (0, 2)}
    assert all(len(k) == 16 for k in keys.values()) and keys[0] != keys[2]
    for seg in out.segments:
        data = open(seg.path, "rb").read()
        assert len(data) % 16 == 0 and not (data[0] == 0x47 and data[188] == 0x47)  # not clear TS
    if shutil.which("openssl"):
        total = 0
        for seg in out.segments:
            clear = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", keys[seg.key_seq].hex(),
                                    "-iv", seg.iv.hex(), "-in", seg.path], capture_output=True, timeout=10)
            assert clear.returncode == 0, clear.stderr
            plain = tmp_path / ("clear-%d.ts" % seg.seq)
            plain.write_bytes(clear.stdout)
            info = decode_ts(str(plain))
            assert info["first_key"] is True
            total += info["video"]
        assert total == coded(msgs, MSG_VIDEO)
    # ffmpeg's HLS demuxer fetches the key and decrypts: the playlist lines are right too.
    # (A copy closed with ENDLIST: on the live playlist ffmpeg would wait for more segments.)
    vod = tmp_path / "live" / "vod.m3u8"
    vod.write_bytes(m3u8.read_bytes() + b"#EXT-X-ENDLIST\n")
    with av.open(str(vod), options={"allowed_extensions": "ALL"}) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == coded(msgs, MSG_VIDEO)


def test_key_uri_rules():
    assert key_uri("live/s-0.key", "https://k.example.com", "/h/live/s-0.key", "/h/live") == \
        "https://k.example.com/live/s-0.key"
    assert key_uri("live/s-0.key", "https://k.example.com/", "/h/live/s-0.key", "/h/live") == \
        "https://k.example.com/live/s-0.key"
    assert key_uri("live/s-0.key", "", "/h/live/s-0.key", "/h/live") == "s-0.key"
    assert key_uri("s-0.key", "", "/keys/s-0.key", "/h/live") == "s-0.key"


def test_key_line_survives_window_shift():
    segs = []
    for seq in range(3, 6):
        s = Segment(seq, seq * 2000, "/x/%d.ts" % seq, "%d.ts" % seq)
        s.duration_ms = 2000
        s.key_seq, s.key_uri, s.iv = 2, "k-2.key", (2).to_bytes(16, "big")
        segs.append(s)
    text = render(segs, 3.0).decode()
    assert text.count("#EXT-X-KEY") == 1 and text.index("#EXT-X-KEY") < text.index("#EXTINF")
    assert shrink(segs, 60) == [] and len(segs) == 3


def test_unwritable_path_continue_recovers(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = Host(conf(blocker / "hls"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))  # never raises
    assert out.errors > 0 and out.segments == [] and out.seq == 0

    root = tmp_path / "hls"
    host = Host(conf(root), str(tmp_path))
    msgs = looped(av_msgs, 4)
    src = new_source()
    out = host.hls.output_for(src, VHOST)
    out.on_publish(src)
    live = root / "live"
    state = "ok"
    for m in msgs:
        if state == "ok" and m.ts_ms >= 4500:        # the disk goes away
            state = "gone"
            live.rename(root / "live.bak")
            live.write_bytes(b"not a dir")
        elif state == "gone" and m.ts_ms >= 9500:    # and comes back
            state = "back"
            live.unlink()
            (root / "live.bak").rename(live)
        out.on_message(m)
    out.on_unpublish(src)
    assert out.active is False and out.errors > 0
    _, entries = parse_m3u8(live / "livestream.m3u8")
    assert [e["uri"] for e in entries] == ["livestream-%d.ts" % s.seq for s in out.segments]
    assert [s.seq for s in out.segments] == list(range(len(out.segments)))
    assert len(out.segments) >= 5
    for p in ts_paths(out):
        assert os.path.exists(p) and decode_ts(p)["first_key"] is True
    assert files(tmp_path, ".tmp") == []


def test_unwritable_path_ignore_disables_until_republish(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = Host(conf(blocker / "hls", "hls_on_error ignore;"), str(tmp_path))
    src = new_source()
    out = host.hls.output_for(src, VHOST)
    out.on_publish(src)
    assert out.active is False and out.errors == 1  # the m3u8 dir cannot be made
    for m in av_msgs:
        out.on_message(m)
    assert out.errors == 1
    out.on_unpublish(src)
    host.config = Config.parse_text(f"listen 1935; vhost {VHOST} {{ hls {{ {conf(tmp_path / 'ok')} }} }}")
    out = publish(host, av_msgs, source=src)
    assert out.active is False and len(out.segments) == 2


def test_disconnect_kicks_the_publisher(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = Host(conf(blocker / "hls", "hls_on_error disconnect;"), str(tmp_path))

    class Conn:  # a PublisherConnection (app.ports), as the server's connection table holds it
        ip = "10.1.2.3"
        req = None

        def __init__(self):
            self.kicks = 0

        def kick(self):
            self.kicks += 1
    conn = host.connections[CID] = Conn()
    out = publish(host, av_msgs)
    assert conn.kicks == 1 and out.active is False
    # a publisher already gone from the table: HLS stops, nothing to kick, nothing raised
    host2 = Host(conf(blocker / "hls2", "hls_on_error disconnect;"), str(tmp_path))
    out2 = publish(host2, av_msgs, source=new_source(CID + 5))
    assert out2.active is False and conn.kicks == 1


@pytest.fixture(scope="module")
def hook_srv():
    with ApiServer() as s:
        yield s


def test_on_hls_and_notify_hooks(tmp_path, media_flv, hook_srv):
    """on_hls after every segment and on_hls_notify GETs, from a real server process to the real receiver.
    (The hooks worker runs in the server process; this test only reads what the receiver got.)"""
    import re
    import time

    from fixtures.srs_server import SrsProcess, publish_flv

    hook_srv.clear()
    body = (f"hls {{ enabled on; hls_fragment 2; hls_window 60; hls_path {tmp_path}/html; }}\n"
            f"http_hooks {{ enabled on; on_hls {hook_srv.url('/api/v1/hls')}; "
            f"on_hls_notify {hook_srv.url('/api/v1/hls/[app]/[stream]/[ts_url]')}; }}")
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"), realtime=True, speed=4.0, loops=2)
        m3u8_path = tmp_path / "html" / "live" / "livestream.m3u8"
        deadline = time.monotonic() + 30
        while True:
            seqs = [int(n) for n in re.findall(r"livestream-(\d+)\.ts", m3u8_path.read_text())]
            got = hook_srv.received()
            on_hls = [r["body"] for r in got if r["body"].get("action") == "on_hls"]
            notify = [r for r in got if r["body"].get("action") == "on_hls_notify"]
            # one consistent view: the playlist and the hooks name the same segments (the unpublish may
            # close one more segment between the two reads; the next round then sees it in both)
            if (seqs and [b["seq_no"] for b in on_hls] == seqs and len(notify) == len(seqs)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert [b["seq_no"] for b in on_hls] == seqs, (on_hls, seqs)
    first = on_hls[0]
    assert first["vhost"] == "__defaultVhost__" and first["app"] == "live" and first["stream"] == "livestream"
    assert isinstance(first["client_id"], int) and 1.5 <= first["duration"] <= 2.5
    assert first["file"] == f"{tmp_path}/html/live/livestream-{seqs[0]}.ts" and first["cwd"] == str(tmp_path)
    assert first["m3u8"] == f"{tmp_path}/html/live/livestream.m3u8" and first["m3u8_url"] == "live/livestream.m3u8"
    assert first["url"] == f"live/livestream-{seqs[0]}.ts"
    assert [r["body"]["path"] for r in notify] == ["/live/livestream/livestream-%d.ts" % n for n in seqs]


def test_dispose_after_idle_and_at_stop(tmp_path, av_msgs):
    host = Host(conf(tmp_path, "hls_dispose 2;"), str(tmp_path))
    out = publish(host, av_msgs)
    manager = host.hls
    assert files(tmp_path, ".ts") and (tmp_path / "live" / "livestream.m3u8").exists()
    manager.check_dispose(T0 + 1500)
    assert files(tmp_path, ".ts")
    manager.check_dispose(T0 + 2500)
    assert files(tmp_path, ".ts") == [] and not (tmp_path / "live" / "livestream.m3u8").exists()
    assert out.segments == []
    manager.stop()

    # The timer greenlet, on the wall clock; and hls_dispose 0 keeps the files at stop.
    root = tmp_path / "timer"
    host = Host(conf(root, "hls_dispose 0.2;"), str(tmp_path))
    host.clock = None
    out = publish(host, av_msgs)
    assert files(root, ".ts")
    gevent.sleep(0.6)
    assert files(root, ".ts") == []
    host.hls.stop()
    assert host.hls.timer is None

    keep = tmp_path / "keep"
    host = Host(conf(keep), str(tmp_path))
    out = publish(host, av_msgs, unpublish=False)
    host.hls.stop()  # closes the open segment, keeps the files (no hls_dispose)
    assert not out.active and len(files(keep, ".ts")) == len(out.segments) == 2


def test_factory_and_registry_wiring(tmp_path, av_msgs):
    host = Host(conf(tmp_path), str(tmp_path))
    off = Host("enabled off;", str(tmp_path))
    assert off.hls.output_for(new_source(), VHOST) is None

    registry = SourceRegistry(lambda vhost: SourceOptions())
    registry.hub_factories.append(host.hls.output_for)
    for cid in (1, 2):  # publish twice; the registry drops the idle source in between
        src = registry.fetch_or_create(URL, VHOST)
        src.on_publish(cid)
        for m in av_msgs:
            src.on_message(m)
        src.on_unpublish()
        assert registry.get(URL) is None
        if src.timer is not None:
            src.timer.kill()
    stream = host.hls.streams[URL]
    assert [s.seq for s in stream.segments] == [0, 1, 2, 3]
    assert [s.discontinuity for s in stream.segments] == [True, False, True, False]
    cc_check(ts_paths(stream))


def test_reload_attaches_restarts_and_detaches(tmp_path, av_msgs):
    host = Host("enabled off;", str(tmp_path))
    registry = host.sources
    registry.hub_factories.append(host.hls.output_for)
    src = registry.fetch_or_create(URL, VHOST)
    src.on_publish(CID)
    msgs = looped(av_msgs, 3)
    thirds = [msgs[:len(msgs) // 3], msgs[len(msgs) // 3:2 * len(msgs) // 3], msgs[2 * len(msgs) // 3:]]
    for m in thirds[0]:
        src.on_message(m)
    assert not [o for o in src.hub if isinstance(o, HlsStream)]

    def set_conf(block):
        host.config = Config.parse_text(f"listen 1935; vhost {VHOST} {{ hls {{ {block} }} }}")
        host.hls.on_reload()

    set_conf(conf(tmp_path / "a"))           # turned on while publishing
    out = next(o for o in src.hub if isinstance(o, HlsStream))
    for m in thirds[1]:
        src.on_message(m)
    set_conf(conf(tmp_path / "b"))           # settings changed: restart in the new place
    assert next(o for o in src.hub if isinstance(o, HlsStream)) is out
    for m in thirds[2]:
        src.on_message(m)
    assert files(tmp_path / "a", ".ts") and files(tmp_path / "b", ".ts")
    assert out.segments[-1].path.startswith(str(tmp_path / "b"))
    set_conf("enabled off;")                 # turned off: detached, the open segment closed
    assert not [o for o in src.hub if isinstance(o, HlsStream)] and not out.active
    for p in ts_paths(out):
        info = decode_ts(p)
        assert info["vcodec"] == "h264" and info["first_key"] is True
    src.on_unpublish()
    if src.timer is not None:
        src.timer.kill()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_full_disk_drops_the_segment_and_goes_on(tmp_path, av_msgs):
    live = tmp_path / "live"
    live.mkdir()
    (live / "livestream-1.ts.tmp").symlink_to("/dev/full")  # writes to it fail with ENOSPC
    host = Host(conf(tmp_path), str(tmp_path))
    out = publish(host, looped(av_msgs, 3))
    assert out.errors > 0
    assert [s.seq for s in out.segments] == list(range(len(out.segments)))  # the number is reused
    assert len(out.segments) >= 4
    _, entries = parse_m3u8(live / "livestream.m3u8")
    assert [e["uri"] for e in entries] == [os.path.basename(s.path) for s in out.segments]
    for p in ts_paths(out):
        assert os.path.isfile(p) and not os.path.islink(p) and decode_ts(p)["first_key"] is True
    assert files(tmp_path, ".tmp") == []
