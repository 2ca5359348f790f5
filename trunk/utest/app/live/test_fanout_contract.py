"""The fan-out contract (issue 12 §3): players attach with the encoder their protocol chooses, one
group per (key, timestamp base) or one shared remux per key; every hub output kind is a HubOutput,
and a failing hub output does not cost the others a message.

Real sockets (AF_UNIX socketpairs): the tick's sends are non-blocking and land in the peer's buffer
before ``flush`` returns, so each reader takes what is there without waiting."""
import logging

import gevent.socket
import pytest

from srs.app.abr.ladder import AbrLadder
from srs.app.cluster.edge import EdgeForwardOutput
from srs.app.cluster.forward import ForwardHub
from srs.app.dvr.plan import Dvr
from srs.app.ffmpeg.exec import Exec
from srs.app.ffmpeg.transcode import Encoder as TranscodeOutput
from srs.app.hds.muxer import HdsStream
from srs.app.hls.muxer import HlsStream
from srs.app.http.stream import attach_player
from srs.app.live.encoders import RtmpEncoder
from srs.app.live.source import HubOutput
from srs.app.snapshot.cache import SnapshotOutput
from srs.app.live.output import Output
from srs.app.live.source import Consumer, LiveSource, SourceOptions
from srs.kernel.flv import FlvDecoder
from srs.kernel.message import Message
from srs.protocol.http import BodyDecoder
from srs.protocol.rtmp_chunk import ChunkDecoder

AVC_SH = bytes([0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0])
AAC_SH = bytes([0xAF, 0, 0x12, 0x10])


def stream(start=0, n=30):
    msgs = [Message.make(9, start, AVC_SH), Message.make(8, start, AAC_SH)]
    for i in range(n):
        key = i % 10 == 0
        msgs.append(Message.make(9, start + i * 40, bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + b"v" * 50))
        msgs.append(Message.make(8, start + i * 40 + 5, bytes([0xAF, 1]) + b"a" * 20))
    return msgs


class Player:
    """A consumer on one end of a socketpair; ``take()`` returns all bytes sent to it so far."""

    def __init__(self, cid):
        self.a, self.b = gevent.socket.socketpair()
        self.b.setblocking(False)
        self.consumer = Consumer(cid, Output(self.a, cid))
        self.data = bytearray()

    def take(self) -> bytes:
        while True:
            try:
                d = self.b.recv(1 << 20)
            except BlockingIOError:
                return bytes(self.data)
            if not d:
                return bytes(self.data)
            self.data += d


def new_source():
    src = LiveSource("__defaultVhost__/live/s", SourceOptions(mw_latency_ms=0))
    src.on_publish(1)
    return src


def publish(src, msgs):
    for m in msgs:
        src.on_message(m)
    src.flush()


def test_each_protocol_attaches_with_its_encoder_and_equal_players_share_a_group(media_flv):
    msgs = FlvDecoder().receive_data(media_flv.data)   # 4 s of H.264 + AAC, a keyframe a second
    half = len(msgs) // 2
    src = new_source()
    publish(src, msgs[:half])
    rtmp_a, rtmp_b, rtmp_big, flv_chunked, flv_raw, ts_a, ts_b = (Player(i) for i in range(1, 8))
    for p, size in ((rtmp_a, 128), (rtmp_b, 128), (rtmp_big, 4096)):
        src.attach(p.consumer, ("rtmp", size), lambda size=size: RtmpEncoder(size))
    attach_player(src, flv_chunked.consumer, "flv", True, 0)
    attach_player(src, flv_raw.consumer, "flv", False, 0)
    attach_player(src, ts_a.consumer, "ts", True, 0)
    attach_player(src, ts_b.consumer, "ts", True, 0)
    groups = {g.key: len(g.members) for g in src.groups.values()}
    base = src.gop[0].ts_ms
    assert groups == {(("rtmp", 128), base): 2, (("rtmp", 4096), base): 1, (("flv", True), base): 1,
                      (("flv", False), base): 1, (("ts", True), None): 2}
    publish(src, msgs[half:])

    # RTMP: byte-identical for one chunk size; decodes to the same timeline as FLV.
    assert rtmp_a.take() == rtmp_b.take() != rtmp_big.take()
    rtmp_ts = [(m.type, m.ts_ms) for m in ChunkDecoder().receive_data(rtmp_a.take())]
    # HTTP/1.1 FLV: the raw FLV bytes, chunk-framed by the HTTP side (protocol.http.chunk).
    raw = flv_raw.take()
    body = BodyDecoder(True, None)
    assert body.receive_data(flv_chunked.take()) == raw and not body.done
    flv_ts = [(m.kind, m.ts_ms) for m in FlvDecoder().receive_data(raw)]  # the file header included
    assert rtmp_ts == flv_ts and flv_ts[0][1] == 0 and len(flv_ts) > len(msgs) - half
    # TS: one remux for both players, so the same bytes (and continuity counters).
    ts = ts_a.take()
    assert ts == ts_b.take() and ts
    payload = BodyDecoder(True, None).receive_data(ts)
    assert len(payload) % 188 == 0 and payload[::188] == b"\x47" * (len(payload) // 188)

    for p in (rtmp_a, rtmp_b, rtmp_big, flv_chunked, flv_raw, ts_a, ts_b):
        src.remove_consumer(p.consumer)
    assert src.groups == {} and src.consumers == []


def test_a_refused_shared_encoder_closes_its_players_and_refuses_newcomers(caplog):
    """.mp3 of an AAC stream: the shared remux refuses it; its player is closed by the source, and a
    player that attaches later is closed at once, without bytes."""
    src = new_source()
    early, late = Player(1), Player(2)
    attach_player(src, early.consumer, "mp3", True, 0)
    with caplog.at_level(logging.WARNING):
        publish(src, stream(n=3))
        assert early.consumer.output.closed
        attach_player(src, late.consumer, "mp3", True, 0)
    assert late.consumer.output.closed and late.take() == b""
    why = "the stream's audio is AAC, .mp3 needs MP3 audio"
    assert [r.getMessage() for r in caplog.records if "closed:" in r.getMessage()] == [
        f"player cid=1 of {src.url} closed: {why}", f"player cid=2 of {src.url} closed: {why}"]


@pytest.mark.parametrize("cls", [HlsStream, Dvr, HdsStream, ForwardHub, EdgeForwardOutput,
                                 TranscodeOutput, Exec, SnapshotOutput, AbrLadder])
def test_every_hub_output_kind_is_a_HubOutput(cls):
    assert issubclass(cls, HubOutput)


class Recorder:
    """A HubOutput that keeps what it is given; it may fail at start or at its n-th message."""

    def __init__(self, fail_publish=False, fail_at=None):
        self.fail_publish = fail_publish
        self.fail_at = fail_at
        self.got = []
        self.publishes = 0

    def on_publish(self, src):
        self.publishes += 1
        if self.fail_publish:
            raise OSError("cannot create the directory")

    def on_message(self, msg):
        if self.fail_at is not None and len(self.got) == self.fail_at:
            raise OSError("disk full")
        self.got.append(msg)

    def on_unpublish(self, src):
        pass


def test_hub_output_failures_are_isolated(caplog):
    """A hub output that fails to start is logged and kept; one that fails on a message is removed,
    and every other output - before and after it in the hub - still gets that same message."""
    src = LiveSource("__defaultVhost__/live/s", SourceOptions(mw_latency_ms=0))
    bad_start, first, failing, last = Recorder(fail_publish=True), Recorder(), Recorder(fail_at=3), Recorder()
    for out in (bad_start, first, failing, last):
        assert isinstance(out, HubOutput)
        src.add_hub_output(out)
    msgs = stream(n=5)
    with caplog.at_level(logging.ERROR):
        src.on_publish(1)
        publish(src, msgs)
    assert [o.publishes for o in (bad_start, first, failing, last)] == [1, 1, 1, 1]
    assert bad_start.got == first.got == last.got == msgs
    assert failing.got == msgs[:3]
    assert src.hub == [bad_start, first, last]
    logged = [r.getMessage() for r in caplog.records]
    assert sum("Recorder.on_publish failed" in m for m in logged) == 1
    assert sum("failed; removed" in m for m in logged) == 1
