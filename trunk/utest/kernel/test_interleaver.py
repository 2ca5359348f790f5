"""srs.kernel.interleaver: the audio and video of one stream back in timestamp order."""
from __future__ import annotations

from srs.kernel.interleaver import Interleaver
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message


def _msgs(kind, *ts):
    return [Message.make(kind, t, bytes((t & 0xFF,))) for t in ts]


def test_interleaver_orders_bundled_tracks():
    il = Interleaver(window_ms=1000)
    # a TS audio PES bundles 348 ms of AAC frames ahead of the video: nothing leaves until
    # both tracks have something queued, then everything in timestamp order
    assert il.push(_msgs(MSG_AUDIO, 0, 23, 46, 69, 92, 116, 139, 162, 185, 209, 232, 255, 278, 301, 325)) == []
    out = il.push(_msgs(MSG_VIDEO, 20, 60))
    assert [m.ts_ms for m in out] == [0, 20, 23, 46, 60]
    out = il.push(_msgs(MSG_VIDEO, 100, 140, 180, 220, 260, 300, 340))
    assert [m.ts_ms for m in out] == [69, 92, 100, 116, 139, 140, 162, 180, 185, 209, 220, 232,
                                      255, 260, 278, 300, 301, 325]
    assert [m.ts_ms for m in il.flush()] == [340]
    assert il.flush() == [] and il.queued == 0


def test_interleaver_window_expect_and_metadata():
    il = Interleaver(window_ms=1000)
    assert il.push(_msgs(MSG_VIDEO, 0, 40)) == []                 # audio may still come
    assert [m.ts_ms for m in il.push(_msgs(MSG_VIDEO, 1041))] == [0, 40]   # not after 1 s
    il.expect([MSG_VIDEO])                                        # the PMT/SDP has video only
    assert [m.ts_ms for m in il.push(_msgs(MSG_VIDEO, 1080))] == [1041, 1080]
    il.expect([])                                                 # nothing known: unchanged
    assert il.expected == {MSG_VIDEO}
    il = Interleaver()
    meta = Message.make(MSG_AMF0_DATA, 0, b"meta")
    assert il.push([meta]) == [meta]                              # never waits for a track
    assert il.push(_msgs(MSG_VIDEO, 0, 40)) == []
    out = il.push(_msgs(MSG_AUDIO, 0) + [meta])
    assert [m.kind for m in out] == [MSG_VIDEO, MSG_AUDIO, MSG_AMF0_DATA]   # 40 waits for audio
    # a source that restarts its clock keeps being interleaved (no running maximum)
    il = Interleaver(window_ms=1000)
    il.push(_msgs(MSG_AUDIO, 5000) + _msgs(MSG_VIDEO, 5000))
    il.flush()
    assert il.push(_msgs(MSG_AUDIO, 0, 23)) == []


def test_interleaver_holds_at_most_max_queued():
    """Video whose clock stands still while audio never comes (untrusted input) never opens the
    window: past ``max_queued`` messages the oldest leave anyway, in order."""
    il = Interleaver(window_ms=1000, max_queued=10)
    assert il.push(_msgs(MSG_VIDEO, *[7] * 10)) == []
    out = il.push(_msgs(MSG_VIDEO, 7, 7, 7))
    assert len(out) == 3 and il.queued == 10
    assert len(il.flush()) == 10 and il.queued == 0
