"""HLS hub output, the playlist: m3u8 bytes as SRS writes them, segments tiling the stream and decoding,
the window and cleanup, path templates and entry prefix, [timestamp] with hls_ts_floor, discontinuities.

The output is driven directly with the Messages of the fixture FLVs (4 s, 25 fps, 1 s GOPs), as a
LiveSource would; every segment is checked by decoding it with PyAV. The pure playlist functions
are tested in utest/kernel/test_m3u8.py.
"""
from __future__ import annotations

import os
import time

from fixtures.hls_output import CID, cc_check, conf, decode_ts, files, new_source, parse_m3u8, publish, ts_paths
from fixtures.hub_host import T0, VHOST, coded, hls_host, looped
from srs.kernel.message import MSG_VIDEO


def test_av_segments_m3u8_bytes_and_decoding(tmp_path, media_flv, av_msgs):
    host = hls_host(conf(tmp_path), str(tmp_path))
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
    host = hls_host(conf(tmp_path, "hls_window 5;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 5))
    head, entries = parse_m3u8(tmp_path / "live" / "livestream.m3u8")
    durations = [e["duration"] for e in entries]
    assert int(sum(durations)) > 5 and int(sum(durations[1:])) <= 5  # SRS's window rule
    assert head["seq"] == out.segments[0].seq > 0
    on_disk = files(tmp_path, ".ts")
    assert on_disk == sorted(str(tmp_path / "live" / e["uri"]) for e in entries)

    keep = tmp_path / "keep"
    host = hls_host(conf(keep, "hls_window 5; hls_cleanup off;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 5))
    assert len(files(keep, ".ts")) == out.seq > len(out.segments)


def test_paths_templates_and_entry_prefix(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path, "hls_m3u8_file [vhost]/[app]/[stream]/index.m3u8; "
                     "hls_ts_file [vhost]/[app]/[stream]/[2006][01][02]-[15][04][05]-[999]-[timestamp]-[seq].ts; "
                     "hls_entry_prefix http://cdn.example.com/hls;"), str(tmp_path), top="utc_time on;")
    out = publish(host, av_msgs)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(T0 / 1000)) + "-000-%d" % T0
    m3u8 = tmp_path / VHOST / "live" / "livestream" / "index.m3u8"
    _, entries = parse_m3u8(m3u8)
    assert entries[0]["uri"] == ("http://cdn.example.com/hls/%s/live/livestream/%s-0.ts" % (VHOST, stamp))
    assert os.path.exists(out.segments[0].path)


def test_ts_floor_timestamps_increase_by_one(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path, "hls_ts_floor on; hls_ts_file [app]/[stream]-[timestamp].ts;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))
    stamps = [int(os.path.basename(s.path).split("-")[1][:-3]) for s in out.segments]
    first = T0 // 2000 - 1
    assert stamps == list(range(first, first + len(stamps)))


def test_republish_discontinuity_and_continuity(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path), str(tmp_path))
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
    host = hls_host(conf(tmp_path), str(tmp_path))
    msgs = looped(av_msgs, 2)
    sh = [m for m in av_msgs if m.seq_header]
    mid = next(i for i, m in enumerate(msgs) if m.ts_ms >= 3000)
    msgs[mid:mid] = [m.with_ts(msgs[mid].ts_ms) for m in sh]
    out = publish(host, msgs)
    assert [s.discontinuity for s in out.segments] == [True, False, False, False]
