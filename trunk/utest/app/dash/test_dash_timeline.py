"""The DASH writer's availabilityStartTime when a play starts with a burst of past media.

A stream that reaches the writer through a play (an ABR worker's renditions, the source copy) starts
with media from the past: the origin's GOP cache, then what the worker read while it probed the input
and started its encoders, all in one burst 1-2 s late on a loaded machine; after that, frames come in
real time. availabilityStartTime is the wall-clock instant of media time 0, so the MPD must end its
window at ``now - AST`` (where a player puts the live edge) once the burst is over. Taken from the
first sample (late), it made every segment look 2 s younger than it is: dash.js, ``liveDelay`` behind
that edge, sat at the window's old end, the window slid past it on a quality switch ("gap in the
manifest") and playback stalled (utest/app/abr/test_abr_dash.py under load).
"""
from __future__ import annotations

import re

from fixtures.hub_host import looped
from srs.app.config.conf import Config
from srs.app.dash.muxer import DashStream
from srs.kernel.flv import iter_flv_tags
from srs.kernel.mpd import iso_time

T0 = 1_700_000_000_000    # the wall-clock instant of the stream's media time 0
BURST_MS = 1500           # media the play delivers in one go at its start (GOP cache, probe)
LATE_MS = 500             # and that burst arrives this late (the worker's start)


class _Source:
    url = "__defaultVhost__/live/livestream"


def test_ast_is_the_stream_start_not_the_late_first_sample(tmp_path, media_flv):
    vc = Config.parse_text("listen 1935; vhost __defaultVhost__ { dash { enabled on; dash_fragment 1; "
                           "dash_window_size 4; dash_path %s; } }" % tmp_path)
    now = [T0]
    dash = DashStream(_Source(), "__defaultVhost__", config=lambda: vc, clock=lambda: now[0], cwd=str(tmp_path))
    dash.on_publish(None)
    for msg in looped(list(iter_flv_tags(media_flv.data)), 3):  # 12 s, a keyframe a second
        now[0] = T0 + max(msg.ts_ms, BURST_MS + LATE_MS)  # the burst at once, late; then real time
        dash.on_message(msg)
    assert dash.ast_ms == T0  # not the first sample's T0 + BURST_MS + LATE_MS

    text = open(dash.mpd_path).read()
    assert 'availabilityStartTime="%s"' % iso_time(T0) in text
    # the window ends at the live edge: the last MPD was written when its newest segment was cut
    publish = re.search(r'publishTime="([^"]+)"', text).group(1)
    ends = [int(t) + int(d) for t, d in re.findall(r'<S t="(\d+)" d="(\d+)"/>', text)]
    assert publish == iso_time(T0 + max(ends))
    assert len(ends) == 2 * 4 and min(ends) > 8000  # the real window, after the burst


def test_ast_restarts_with_a_republish(tmp_path, media_flv):
    """A republish restarts the timeline and the estimate: the old stream's instant is not kept."""
    vc = Config.parse_text("listen 1935; vhost __defaultVhost__ { dash { enabled on; dash_fragment 1; "
                           "dash_path %s; } }" % tmp_path)
    now = [T0]
    dash = DashStream(_Source(), "__defaultVhost__", config=lambda: vc, clock=lambda: now[0], cwd=str(tmp_path))
    msgs = list(iter_flv_tags(media_flv.data))
    for start in (T0, T0 + 60_000):
        dash.on_publish(None)
        for msg in msgs:
            now[0] = start + msg.ts_ms
            dash.on_message(msg)
        assert dash.ast_ms == start
        dash.on_unpublish(None)
