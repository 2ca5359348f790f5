"""kernel/m3u8: HLS path templates, segment and key URIs, and the playlist text, as pure functions.

The HLS hub output that uses them is tested end to end in utest/app/hls/test_hls_*.py.
"""
from __future__ import annotations

import pytest

from srs.kernel.m3u8 import FloorClock, Segment, dirname, key_uri, render, segment_uri, shrink, target_duration


def segment(seq, duration_ms, uri=None):
    s = Segment(seq, seq * 2000, "/h/live/s-%d.ts" % seq, uri or "s-%d.ts" % seq)
    s.duration_ms = duration_ms
    return s


@pytest.mark.parametrize("path,expected", [("/h/live/a.ts", "/h/live"), ("/a.ts", "/"), ("a.ts", ""),
                                           ("live/a.m3u8", "live")])
def test_dirname(path, expected):
    assert dirname(path) == expected


def test_segment_uri_rules():
    assert segment_uri("/h/live/a-1.ts", "/h/live", "live/a.m3u8", "http://cdn/") == "http://cdn/a-1.ts"
    assert segment_uri("/h/live/a-1.ts", "/h/live", "live/a.m3u8", "http://cdn") == "http://cdn/live/a-1.ts"
    assert segment_uri("/h/live/a-1.ts", "/h/live", "live/a.m3u8", "") == "a-1.ts"
    assert segment_uri("/h/other/a-1.ts", "/h/live", "live/a.m3u8", "") == "h/other/a-1.ts"


def test_key_uri_rules():
    assert key_uri("live/s-0.key", "https://k.example.com", "/h/live/s-0.key", "/h/live") == \
        "https://k.example.com/live/s-0.key"
    assert key_uri("live/s-0.key", "https://k.example.com/", "/h/live/s-0.key", "/h/live") == \
        "https://k.example.com/live/s-0.key"
    assert key_uri("live/s-0.key", "", "/h/live/s-0.key", "/h/live") == "s-0.key"
    assert key_uri("s-0.key", "", "/keys/s-0.key", "/h/live") == "s-0.key"


def test_render_bytes_as_srs_writes_them():
    segs = [segment(7, 2000), segment(8, 2345)]
    segs[0].discontinuity = True
    assert render(segs, 2.0) == (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-MEDIA-SEQUENCE:7\n"
                                 b"#EXT-X-TARGETDURATION:3\n#EXT-X-DISCONTINUITY\n"
                                 b"#EXTINF:2.000, no desc\ns-7.ts\n#EXTINF:2.345, no desc\ns-8.ts\n")


def test_target_duration_is_never_below_an_extinf():
    assert target_duration([segment(0, 2000), segment(1, 4100)], 3.0) == 5
    assert target_duration([segment(0, 1000)], 2.5) == 3
    assert target_duration([], 2.0) == 2


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


def test_shrink_keeps_the_window_by_srs_rule():
    segs = [segment(i, 2000) for i in range(6)]
    removed = shrink(segs, 5)  # from the newest: 2, 4, 6 s -> int(6) > 5 at seq 3, the oldest kept
    assert [s.seq for s in removed] == [0, 1, 2] and [s.seq for s in segs] == [3, 4, 5]
    assert shrink(segs, 60) == [] and len(segs) == 3


def test_floor_clock_counts_up_by_one_per_segment():
    clock = FloorClock()
    assert clock.next(10_000, 1.0) == 9 and clock.next(10_000, 1.0) == 10 and clock.deviation == 0
    assert clock.next(10_000, 1.0) == 11 and clock.deviation == 1
    assert clock.extra_s(2.0) == pytest.approx(0.6)
    clock.accept = 40  # too far ahead of the wall clock: jump back
    assert clock.next(10_000, 1.0) == 9 and clock.deviation == -1
