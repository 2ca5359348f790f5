"""LiveSource fan-out on real sockets (gevent socketpairs): shared groups, jitter modes, mix_correct,
gop cache and the queue_length shrink. Bytes are decoded back with our FLV decoder."""
import gevent
import gevent.socket
import pytest

from srs.app.live.encoders import FlvEncoder
from srs.app.live.output import Output
from srs.app.live.source import Consumer, LiveSource, MixQueue, SourceOptions
from srs.kernel.flv import FlvDecoder, flv_header
from srs.kernel.message import Message

AVC_SH = bytes([0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0])
AAC_SH = bytes([0xAF, 0, 0x12, 0x10])


def video(ts, key=False):
    return Message.make(9, ts, bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + b"v" * 50)


def audio(ts):
    return Message.make(8, ts, bytes([0xAF, 1]) + b"a" * 20)


class Reader:
    """The far end of a socketpair: collects what the source sent to one consumer."""

    def __init__(self):
        self.a, self.b = gevent.socket.socketpair()
        self.output = Output(self.a, 1)
        self.data = bytearray()

    def consumer(self):
        return Consumer(1, self.output)

    def drain(self):
        gevent.sleep(0.05)
        self.b.setblocking(False)
        while True:
            try:
                d = self.b.recv(1 << 20)
            except BlockingIOError:
                break
            if not d:
                break
            self.data += d
        return FlvDecoder().receive_data(flv_header() + bytes(self.data))


def attach_flv(src, c):
    """As an HTTP/1.0 FLV player (raw tags, no chunk framing) attaches."""
    return src.attach(c, ("flv", False), FlvEncoder)


def source(**kw):
    kw.setdefault("mw_latency_ms", 0)
    return LiveSource("__defaultVhost__/live/s", SourceOptions(**kw))


def publish(src, msgs):
    for m in msgs:
        src.on_message(m)
    src.flush()


def stream(start=0, n=30):
    msgs = [Message.make(9, start, AVC_SH), Message.make(8, start, AAC_SH)]
    for i in range(n):
        msgs.append(video(start + i * 40, key=(i % 10 == 0)))
        msgs.append(audio(start + i * 40 + 5))
    return msgs


def test_players_from_same_keyframe_share_one_group_and_bytes():
    src = source()
    src.on_publish(100)
    publish(src, stream(n=12))
    r1, r2 = Reader(), Reader()
    attach_flv(src, r1.consumer())
    attach_flv(src, r2.consumer())
    assert len(src.groups) == 1
    publish(src, [video(480 + i * 40) for i in range(5)])
    m1, m2 = r1.drain(), r2.drain()
    assert [(m.kind, m.ts_ms) for m in m1] == [(m.kind, m.ts_ms) for m in m2]
    # The burst starts with the sequence headers and the last keyframe (gop cache), at timestamp 0.
    assert m1[0].seq_header and m1[1].seq_header
    first_video = next(m for m in m1 if m.is_video and not m.seq_header)
    assert first_video.keyframe and first_video.ts_ms == 0


def test_time_jitter_full_zero_off():
    raw = [video(5000, key=True), audio(5010), video(5040), video(9000), video(9040)]  # a 4 s jump
    got = {}
    for mode in ("full", "zero", "off"):
        src = source(time_jitter=mode, gop_cache=False)
        src.on_publish(1)
        r = Reader()
        attach_flv(src, r.consumer())
        publish(src, raw)
        got[mode] = [m.ts_ms for m in r.drain()]
    assert got["off"] == [5000, 5010, 5040, 9000, 9040]
    assert got["zero"][0] == 0 and got["zero"][-1] == 4040          # only the first timestamp removed
    assert got["full"] == [0, 10, 40, 50, 90]                        # the jump becomes 10 ms


def test_mix_correct_orders_audio_and_video():
    q = MixQueue()
    out = []
    for m in [video(0), video(40), audio(10), audio(30), video(80), audio(50)]:
        q.push(m)
        x = q.pop()
        while x is not None:
            out.append(x.ts_ms)
            x = q.pop()
    assert out == sorted(out)
    src = source(mix_correct=True, gop_cache=False, time_jitter="off")
    src.on_publish(1)
    r = Reader()
    attach_flv(src, r.consumer())
    publish(src, [video(0), video(40), audio(10), audio(30), video(80), audio(50), video(120), audio(90)])
    ts = [m.ts_ms for m in r.drain()]
    assert ts == sorted(ts) and len(ts) >= 5


def test_slow_consumer_is_cut_to_sequence_headers_and_others_unaffected():
    src = source(queue_length_s=1.0, gop_cache=False)
    src.on_publish(1)
    slow, fast = Reader(), Reader()
    slow.a.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
    slow_c = slow.consumer()
    attach_flv(src, slow_c)
    attach_flv(src, fast.consumer())
    big = [Message.make(9, i * 40, bytes([0x27, 1, 0, 0, 0]) + b"x" * 20000) for i in range(200)]
    for i in range(0, 200, 10):
        publish(src, big[i:i + 10])
        fast.drain()
    assert slow_c.drops >= 1 and slow_c.dropped_bytes > 0
    assert sum(1 for m in FlvDecoder().receive_data(flv_header() + bytes(fast.data)) if m.is_video) == 200


def test_republish_keeps_players_and_timestamps_monotonic():
    src = source()
    src.on_publish(1)
    r = Reader()
    attach_flv(src, r.consumer())
    publish(src, stream(start=1000, n=10))
    src.on_unpublish()
    assert src.consumers  # the player waits
    src.on_publish(2)
    publish(src, stream(start=0, n=10))
    ts = [m.ts_ms for m in r.drain() if m.is_video and not m.seq_header]
    assert len(ts) == 20 and all(b > a for a, b in zip(ts, ts[1:]))


def test_second_publisher_refused():
    from srs.kernel.errors import StreamBusy

    src = source()
    src.on_publish(1)
    with pytest.raises(StreamBusy):
        src.on_publish(2)
    assert src.publisher_cid == 1


def test_send_min_interval_paces_players():
    """send_min_interval 50: every player gets one message per 50 ms, whatever the publisher's pace."""
    import time

    src = source(gop_cache=False, send_min_interval_ms=50.0)
    src.on_publish(1)
    r = Reader()
    attach_flv(src, r.consumer())
    t0 = time.monotonic()
    for i in range(6):
        src.on_message(video(i * 40, key=(i == 0)))
    gevent.sleep(0.02)
    assert len(r.drain()) <= 2  # not all at once
    while src.pacer is not None:
        gevent.sleep(0.01)
    elapsed = time.monotonic() - t0
    assert len(r.drain()) == 6
    assert elapsed >= 5 * 0.05 * 0.9


class RecordingHubOutput:
    """A hub output (the HLS/DVR/forward interface) that keeps what it is given."""

    def __init__(self, fail_at=None):
        self.fail_at = fail_at
        self.got = []

    def on_publish(self, src):
        pass

    def on_unpublish(self, src):
        pass

    def on_message(self, msg):
        if self.fail_at is not None and len(self.got) == self.fail_at:
            raise OSError("disk full")
        self.got.append(msg)


def test_failing_hub_output_is_removed_once_and_the_next_ones_get_every_message(caplog):
    """A hub of three outputs, the middle one raising at its third message: it is removed and logged
    once; the first and the third still receive every message, the one it failed on included."""
    import logging

    src = source()
    first, failing, third = RecordingHubOutput(), RecordingHubOutput(fail_at=2), RecordingHubOutput()
    for out in (first, failing, third):
        src.add_hub_output(out)
    src.on_publish(1)
    msgs = stream(n=10)
    with caplog.at_level(logging.ERROR):
        for m in msgs:
            src.on_message(m)
    assert first.got == msgs and third.got == msgs
    assert failing.got == msgs[:2]
    assert src.hub == [first, third]
    assert sum("failed; removed" in r.getMessage() for r in caplog.records) == 1


def test_a_batch_of_mw_max_msgs_goes_out_before_mw_latency():
    """SRS sends at most MW_MAX_MSGS (128) messages per merged write: with a 10 s mw_latency, a
    dense stream is sent every 128 messages, not held for 10 s."""
    from srs.core.performance import MW_MAX_MSGS

    src = source(mw_latency_ms=10000, gop_cache=False)
    src.on_publish(1)
    r = Reader()
    attach_flv(src, r.consumer())
    msgs = [audio(i) for i in range(2 * MW_MAX_MSGS + 44)]
    for m in msgs[:MW_MAX_MSGS - 1]:
        src.on_message(m)
    assert len(src.pending) == MW_MAX_MSGS - 1  # still waiting for mw_latency
    for m in msgs[MW_MAX_MSGS - 1:]:
        src.on_message(m)
    assert len(src.pending) == 44
    assert [m.ts_ms for m in r.drain()] == list(range(2 * MW_MAX_MSGS))
    src.flush()
    assert [m.ts_ms for m in r.drain()] == list(range(len(msgs)))


def test_gop_cache_max_frames_bounds_the_cache():
    """SRS 5's gop_cache_max_frames: the cache is cleared when it holds that many messages."""
    src = source(gop_cache_max_frames=6)
    src.on_publish(100)
    publish(src, stream(n=8))  # keyframe at 0, then 7 videos and 8 audios: over 6, cleared
    assert 0 < len(src.gop) <= 6
    unbounded = source(gop_cache_max_frames=0)
    unbounded.on_publish(100)
    publish(unbounded, stream(n=8))
    assert len(unbounded.gop) == 16 and unbounded.gop[0].keyframe


def test_a_join_sends_nothing_to_the_others_and_the_newcomer_gets_each_message_once():
    """Messages of the tick not yet sent when a player joins: the others get them at the tick, as
    always (a join is not a send to every player), and the newcomer gets its burst up to them, then
    them at the same tick: nothing twice, nothing missing."""
    src = source(mw_latency_ms=10_000)  # the tick comes only from flush() here
    src.on_publish(100)
    msgs = stream(n=12)  # keyframes at 0 and 400 ms; the tick's batch holds 360..445 ms, the keyframe inside
    for m in msgs[:-6]:
        src.on_message(m)
    src.flush()
    old = Reader()
    attach_flv(src, old.consumer())
    before = len(old.drain())
    for m in msgs[-6:-2]:  # 2 frames pending: the gop's tail
        src.on_message(m)
    assert src.pending
    new = Reader()
    attach_flv(src, new.consumer())
    assert len(old.drain()) == before  # the join wrote nothing to the player already there
    for m in msgs[-2:]:  # one more frame in the same batch, after the join
        src.on_message(m)
    src.flush()
    got = [(t.kind, t.ts_ms) for t in new.drain() if not t.seq_header]
    # the newcomer: the gop from its keyframe (400 ms) to the end, each message once, in order
    want = [(m.kind, m.ts_ms - 400) for m in msgs if not m.seq_header and m.ts_ms >= 400]
    assert got == want, got
    assert len(old.drain()) == before + 6
