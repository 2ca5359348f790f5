"""LL-HLS playlist text (kernel/m3u8_ll.py) against RFC 8216bis: parts, preload hint, server control,
delta updates, the blocking-reload condition and the validation of the client's query parameters."""
from __future__ import annotations

import pytest

from srs.kernel.m3u8 import Segment
from srs.kernel.m3u8_ll import (LlRequestError, Part, parse_directives, part_uri, parts_to_keep, render_ll,
                                satisfied)


def _segments(n, ms=1000):
    segs = []
    for seq in range(n):
        s = Segment(seq, seq * ms, f"/h/a-{seq}.m4s", f"a-{seq}.m4s")
        s.duration_ms, s.map_uri = ms, "a-init0.mp4"
        segs.append(s)
    return segs


def _parts(msn, durations):
    return [Part(msn, i, d, i == 0, part_uri(f"a-{msn}.m4s", i)) for i, d in enumerate(durations)]


def test_part_uri_beside_its_segment():
    assert part_uri("a-12.m4s", 3) == "a-12.part3.m4s"
    assert part_uri("live/x-1.mp4", 0) == "live/x-1.mp4.part0.m4s"


def test_playlist_lists_parts_then_segment_and_hints_the_next_part():
    segs = _segments(2)
    parts = _parts(1, [333, 333, 334]) + _parts(2, [333])
    lines = render_ll(segs, parts, 2, part_uri("a-2.m4s", 1), 0.333, 1.0).decode().splitlines()
    assert lines[:6] == [
        "#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:1",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,PART-HOLD-BACK=0.999",
        "#EXT-X-PART-INF:PART-TARGET=0.333", "#EXT-X-MEDIA-SEQUENCE:0"]
    assert lines[6:] == [
        '#EXT-X-MAP:URI="a-init0.mp4"', "#EXTINF:1.00000,", "a-0.m4s",
        '#EXT-X-PART:DURATION=0.33300,URI="a-1.part0.m4s",INDEPENDENT=YES',
        '#EXT-X-PART:DURATION=0.33300,URI="a-1.part1.m4s"',
        '#EXT-X-PART:DURATION=0.33400,URI="a-1.part2.m4s"',
        "#EXTINF:1.00000,", "a-1.m4s",
        '#EXT-X-PART:DURATION=0.33300,URI="a-2.part0.m4s",INDEPENDENT=YES',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a-2.part1.m4s"']
    # the spec's bounds: PART-HOLD-BACK at least twice PART-TARGET, CAN-SKIP-UNTIL at least 6 target durations
    hold = float(lines[3].split("PART-HOLD-BACK=")[1])
    assert hold >= 2 * 0.333
    assert float(lines[3].split("CAN-SKIP-UNTIL=")[1].split(",")[0]) >= 6 * 1


def test_delta_update_skips_only_segments_older_than_can_skip_until():
    segs = _segments(10)
    full = render_ll(segs, [], 10, "a-10.part0.m4s", 0.333, 1.0).decode().splitlines()
    delta = render_ll(segs, [], 10, "a-10.part0.m4s", 0.333, 1.0, skip=True).decode().splitlines()
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=4" in delta
    uris = [ln for ln in delta if ln.endswith(".m4s") and not ln.startswith("#")]
    # 6 s (CAN-SKIP-UNTIL) of segments stay; the MAP is repeated for the first one listed
    assert uris == [f"a-{i}.m4s" for i in range(4, 10)]
    assert delta[delta.index("#EXT-X-SKIP:SKIPPED-SEGMENTS=4") + 1] == '#EXT-X-MAP:URI="a-init0.mp4"'
    assert "#EXT-X-MEDIA-SEQUENCE:0" in delta  # the media sequence is the full playlist's
    assert not [ln for ln in full if ln.startswith("#EXT-X-SKIP")]
    # a short playlist has nothing to skip
    short = render_ll(_segments(3), [], 3, "", 0.333, 1.0, skip=True).decode()
    assert "#EXT-X-SKIP" not in short and "PRELOAD-HINT" not in short


def test_parts_are_kept_for_three_target_durations():
    segs = _segments(6)
    parts = [p for msn in range(7) for p in _parts(msn, [500, 500])]
    kept = parts_to_keep(segs, parts, 6, 1.0)
    assert sorted({p.msn for p in kept}) == [3, 4, 5, 6]


def test_blocking_condition():
    # segment 5 being written with 2 parts, 4 the last complete
    assert satisfied(4, None, 4, 5, 2)
    assert not satisfied(5, None, 4, 5, 2)
    assert satisfied(5, 1, 4, 5, 2)
    assert not satisfied(5, 2, 4, 5, 2)
    assert satisfied(4, 7, 4, 5, 2)     # any part of a complete segment
    assert not satisfied(6, 0, 4, 5, 2)


@pytest.mark.parametrize("query", [
    {"_HLS_msn": "abc"}, {"_HLS_msn": "-1"}, {"_HLS_msn": "1e3"}, {"_HLS_msn": "99999999999"},
    {"_HLS_msn": "4294967296"}, {"_HLS_msn": ""}, {"_HLS_msn": "٣"}, {"_HLS_part": "1"},
    {"_HLS_msn": "1", "_HLS_part": "x"}, {"_HLS_msn": "1", "_HLS_part": "1000001"}, {"_HLS_skip": "NO"},
])
def test_garbage_directives_are_400(query):
    with pytest.raises(LlRequestError) as e:
        parse_directives(query)
    assert e.value.status == 400


def test_directives_parsed():
    assert parse_directives({}) == (None, None, False)
    assert parse_directives({"_HLS_msn": "7", "_HLS_part": "2"}) == (7, 2, False)
    assert parse_directives({"_HLS_skip": "YES"}) == (None, None, True)
    assert parse_directives({"_HLS_msn": "0", "_HLS_skip": "v2"}) == (0, None, True)


def test_target_duration_rounds_to_nearest_and_skip_crosses_discontinuities():
    segs = _segments(10)
    segs[0].duration_ms = 1023
    segs[0].discontinuity = True
    text = render_ll(segs, [], 10, "", 0.333, 1.0, skip=True).decode()
    assert "#EXT-X-TARGETDURATION:1\n" in text  # 1.023 rounds to 1 (RFC 8216bis §4.4.3.1)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=4" in text and "#EXT-X-DISCONTINUITY" not in text
