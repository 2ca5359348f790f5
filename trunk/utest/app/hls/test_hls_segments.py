"""HLS hub output, the segments: reaping (audio-only by hls_aof_ratio, video-only, at keyframes or
not), codecs (AAC, MP3, vn/an), and the close rule that drops too short and overlong segments.

Every segment is decoded with PyAV and its frames counted against what was published.
"""
from __future__ import annotations

from fixtures.hls_output import cc_check, conf, decode_ts, files, parse_m3u8, publish, ts_paths
from fixtures.hub_host import coded, hls_host, looped
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_VIDEO, Message


def test_audio_only_reaps_by_aof_ratio(tmp_path, media_flv_audio_only):
    msgs = list(iter_flv_tags(media_flv_audio_only.data))
    for ratio, target in ((1.0, 2000), (2.0, 4000)):
        root = tmp_path / str(ratio)
        host = hls_host(conf(root, f"hls_aof_ratio {ratio};"), str(tmp_path))
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
    host = hls_host(conf(tmp_path), str(tmp_path))
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
    host = hls_host(conf(tmp_path), str(tmp_path))
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
    host = hls_host(conf(tmp_path / "vn", "hls_vcodec vn;"), str(tmp_path))
    out = publish(host, av_msgs)
    assert {(i["vcodec"], i["acodec"]) for i in map(decode_ts, ts_paths(out))} == {(None, "aac")}
    host = hls_host(conf(tmp_path / "an", "hls_acodec an;"), str(tmp_path))
    out = publish(host, av_msgs)
    assert {(i["vcodec"], i["acodec"]) for i in map(decode_ts, ts_paths(out))} == {("h264", None)}


def test_wait_keyframe_on_and_off(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path / "k", "hls_fragment 1.5;"), str(tmp_path))
    msgs = looped(av_msgs, 2)
    keys = {m.ts_ms for m in msgs if m.kind == MSG_VIDEO and m.keyframe and not m.seq_header}
    out = publish(host, msgs)
    for s in out.segments[1:]:
        assert s.start_ms in keys  # every reap at a keyframe...
    for s in out.segments[:-1]:
        assert 1900 <= s.duration_ms <= 2100  # ...the second one after 1.5 s (1 s GOPs)
    host = hls_host(conf(tmp_path / "nk", "hls_fragment 1.5; hls_wait_keyframe off;"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))
    for s in out.segments[:-1]:
        assert 1500 <= s.duration_ms <= 1560


def test_close_keep_rule_drops_short_and_overlong(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path), str(tmp_path))
    short = [m for m in av_msgs if m.ts_ms < 60]
    out = publish(host, short)
    assert out.segments == [] and out.seq == 0
    assert files(tmp_path, ".ts") == [] and files(tmp_path, ".tmp") == []
    assert not (tmp_path / "live" / "livestream.m3u8").exists()

    # One keyframe then 4 s without: longer than 2 * hls_td_ratio * hls_fragment (2 s) -> dropped.
    root = tmp_path / "long"
    host = hls_host(conf(root, "hls_fragment 1; hls_td_ratio 1; hls_aof_ratio 100;"), str(tmp_path))
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
