"""Server and client sessions talking in memory: SRS's reply order, state rules, acks, aggregates."""
from __future__ import annotations

import struct

import pytest

from srs.kernel.errors import (ERROR_RTMP_AGGREGATE, ERROR_RTMP_REQ_CONNECT, ChunkError, RtmpError,
                               SrsError)
from srs.kernel.message import Message
from srs.protocol import amf0
from srs.protocol import rtmp_message as rm
from srs.protocol.rtmp_chunk import ChunkDecoder, ChunkEncoder
from srs.protocol.rtmp_stack import (CloseStream, ConnectRequest, CreateStream, DeleteStream,
                                     FCPublish, FCUnpublish, GetStreamLength, Media, Pause,
                                     PlayRequest, PublishRequest, ReleaseStream, ServerSession,
                                     ServerState, UnknownCall)
from srs.protocol.rtmp_stack_client import (ClientSession, ClientState, Close, ConnectResult,
                                            Status, StreamCreated)

TC_URL = "rtmp://127.0.0.1:1935/live"


class Wire:
    """Decodes what a session sent into readable tuples, as the peer would receive it."""

    def __init__(self):
        self.dec = ChunkDecoder()

    def read(self, data: bytes) -> list:
        out = []
        for m in self.dec.receive_data(data):
            if m.type in (20, 17):
                c = rm.decode_command(m)
                out.append((m.type, m.csid, m.stream_id, c.name, c.transaction_id,
                            c.command_object, c.args))
            elif m.type in (18, 15):
                out.append((m.type, m.csid, m.stream_id, rm.decode_data(m.payload)))
            elif m.type == 4:
                uc = rm.UserControl.decode(m.payload)
                out.append((4, m.csid, m.stream_id, uc.event, uc.data))
            elif m.type == 6:
                out.append((6, m.csid, m.stream_id, rm.decode_set_peer_bandwidth(m.payload)))
            elif m.type in (1, 3, 5):
                out.append((m.type, m.csid, m.stream_id, rm.decode_u32(m.payload)))
            else:
                out.append((m.type, m.csid, m.stream_id, m.ts_ms, m.payload))
        return out


def raw_command(name, tid, obj=None, *args, sid=0, csid=3, chunk=ChunkEncoder(128)) -> bytes:
    return chunk.encode(20, 0, sid, rm.encode_command(name, tid, obj, *args), csid)


def connected_server(**kw):
    """A server that accepted a client's connect; returns (server, client, wire)."""
    server = ServerSession(**kw)
    client = ClientSession()
    client.connect(TC_URL, "live")
    events = server.receive_data(client.data_to_send())
    assert isinstance(events[0], ConnectRequest)
    server.accept_connect("127.0.0.1", 4321, 107)
    wire = Wire()
    out = server.data_to_send()
    replies = wire.read(out)
    assert client.receive_data(out) == [ConnectResult(True, replies[3][6][0])]
    return server, client, wire


def answer(server, events):
    for e in events:
        if isinstance(e, ReleaseStream):
            server.reply_release_stream(e.tid)
        elif isinstance(e, FCPublish):
            server.reply_fcpublish(e.tid)
        elif isinstance(e, CreateStream):
            server.reply_create_stream(e.tid)


# ------------------------------------------------------------------------------ connect
def test_connect_reply_order_and_fields():
    server = ServerSession(out_chunk_size=4096)
    client = ClientSession()
    client.connect(TC_URL, "live", page_url="http://p/", swf_url="http://s.swf",
                   args={"srs_version": "1"})
    (ev,) = server.receive_data(client.data_to_send())
    assert isinstance(ev, ConnectRequest)
    assert ev.request.tc_url == TC_URL and ev.request.app == "live"
    assert ev.request.page_url == "http://p/" and ev.request.args == {"srs_version": "1"}
    assert ev.command.name == "connect" and ev.command.transaction_id == 1.0
    assert server.in_window_ack_size == 2500000          # client's Window Ack Size
    server.accept_connect("10.0.0.1", 99, 107)
    out = Wire().read(server.data_to_send())
    assert [o[:3] for o in out] == [(5, 2, 0), (6, 2, 0), (1, 2, 0), (20, 3, 0), (20, 3, 0)]
    assert out[0][3] == 2500000
    assert out[1][3] == (2500000, 2)
    assert out[2][3] == 4096
    assert out[3][3:5] == ("_result", 1.0)
    info = out[3][6][0]
    assert info["code"] == "NetConnection.Connect.Success"
    assert (info["data"]["srs_server_ip"], info["data"]["srs_pid"], info["data"]["srs_id"]) == (
        "10.0.0.1", 99.0, 107.0)
    assert out[4][3:6] == ("onBWDone", 0.0, None)
    assert server.encoder.chunk_size == 4096 and server.state is ServerState.CONNECTED


def test_reject_connect():
    server = ServerSession()
    client = ClientSession()
    client.connect(TC_URL, "live")
    server.receive_data(client.data_to_send())
    server.reject_connect("vhost disabled")
    out = server.data_to_send()
    (msg,) = Wire().read(out)
    assert msg[:4] == (20, 5, 0, "onStatus")
    assert msg[6][0] == {"level": "error", "code": "NetConnection.Connect.Rejected",
                         "description": "vhost disabled"}
    events = client.receive_data(out)
    assert events == [ConnectResult(False, msg[6][0]), Close()]
    assert server.state is ServerState.CLOSED and client.state is ClientState.CLOSED
    with pytest.raises(RtmpError):
        server.receive_data(raw_command("createStream", 2))


def test_connect_without_tcurl():
    with pytest.raises(RtmpError) as e:
        ServerSession().receive_data(raw_command("connect", 1, {"app": "live"}))
    assert e.value.code == ERROR_RTMP_REQ_CONNECT


# ------------------------------------------------------------------------------ FMLE publish
def test_fmle_publish_flow_and_unpublish():
    server, client, wire = connected_server()
    # ffmpeg / OBS order: releaseStream, FCPublish, createStream
    assert client.release_stream("livestream") == 2.0
    assert client.fc_publish("livestream") == 3.0
    assert client.create_stream() == 4.0
    events = server.receive_data(client.data_to_send())
    assert events == [ReleaseStream("livestream", 2.0), FCPublish("livestream", 3.0),
                      CreateStream(4.0)]
    answer(server, events)
    out = server.data_to_send()
    replies = wire.read(out)
    assert [r[:5] for r in replies] == [(20, 3, 0, "_result", 2.0), (20, 3, 0, "_result", 3.0),
                                        (20, 3, 0, "_result", 4.0)]
    assert replies[0][5:] == (None, [amf0.UNDEFINED])
    assert replies[2][5:] == (None, [1.0])
    assert client.receive_data(out) == [StreamCreated(1)]

    client.publish("livestream")
    events = server.receive_data(client.data_to_send())
    assert events == [PublishRequest("livestream", "fmle", 0.0, "live")]
    assert server.decoder.in_chunk_size == 60000       # client announced its chunk size
    server.start_fmle_publish()
    out = server.data_to_send()
    replies = wire.read(out)
    assert [r[:4] for r in replies] == [(20, 5, 1, "onFCPublish"), (20, 5, 1, "onStatus")]
    assert replies[0][6][0] == {"code": "NetStream.Publish.Start",
                                "description": "Started publishing stream."}
    assert replies[1][6][0] == {"level": "status", "code": "NetStream.Publish.Start",
                                "description": "Started publishing stream.",
                                "clientid": "ASAICiss"}
    assert [e.code for e in client.receive_data(out)] == ["NetStream.Publish.Start"]

    # metadata with @setDataFrame, then audio/video
    client.queue_bytes(client.encoder.encode(18, 0, 1, rm.set_data_frame({"width": 320.0}), 4))
    client.send_media(Message.make(9, 0, b"\x17\x00" + b"\x01" * 100))
    client.send_media(Message.make(8, 23, b"\xaf\x01" + b"a" * 200000))
    events = server.receive_data(client.data_to_send())
    assert [type(e) for e in events] == [Media, Media, Media]
    meta, video, audio = (e.message for e in events)
    assert meta.kind == 18 and meta.payload == rm.encode_metadata({"width": 320.0})
    assert video.kind == 9 and video.keyframe and video.seq_header and video.stream_id == 1
    assert audio.kind == 8 and audio.ts_ms == 23 and len(audio.payload) == 200002

    client.fc_unpublish("livestream")
    events = server.receive_data(client.data_to_send())
    assert events == [FCUnpublish("livestream", 5.0)]
    assert server.state is ServerState.CONNECTED
    out = server.data_to_send()
    replies = wire.read(out)
    assert [r[:5] for r in replies] == [(20, 5, 1, "onFCUnpublish", 0.0),
                                        (20, 3, 1, "_result", 5.0),
                                        (20, 5, 1, "onStatus", 0.0)]
    assert replies[0][6][0] == {"code": "NetStream.Unpublish.Success",
                                "description": "Stop publishing stream."}
    assert replies[1][6] == [amf0.UNDEFINED]
    assert replies[2][6][0] == {"level": "status", "code": "NetStream.Unpublish.Success",
                                "description": "Stream is now unpublished",
                                "clientid": "ASAICiss"}
    assert client.state is ClientState.CONNECTED

    # ffmpeg then deletes the stream; and may publish again on the same connection
    server_events = server.receive_data(raw_command("deleteStream", 0, None, 1.0))
    assert server_events == [DeleteStream(1.0, 0.0)]
    client.release_stream("again")
    client.create_stream()
    events = server.receive_data(client.data_to_send())
    answer(server, events)
    client.receive_data(server.data_to_send())
    client.publish("again")
    assert server.receive_data(client.data_to_send()) == [PublishRequest("again", "fmle", 0.0)]


def test_flash_and_haivision_publish_kinds():
    server, client, wire = connected_server()
    client.create_stream()
    answer(server, server.receive_data(client.data_to_send()))
    client.receive_data(server.data_to_send())
    client.publish("flashstream")
    assert server.receive_data(client.data_to_send()) == [
        PublishRequest("flashstream", "flash", 0.0)]
    server.start_flash_publish()
    replies = wire.read(server.data_to_send())
    assert [r[:4] for r in replies] == [(20, 5, 1, "onStatus")]
    assert replies[0][6][0]["code"] == "NetStream.Publish.Start"
    # Flash unpublishes with closeStream
    assert server.receive_data(raw_command("closeStream", 0, sid=1, csid=8)) == [CloseStream(0.0)]
    assert server.state is ServerState.CONNECTED

    # Haivision: createStream then FCPublish
    server, client, wire = connected_server()
    server.receive_data(raw_command("_checkbw", 2))
    server.receive_data(raw_command("createStream", 3))
    assert server.receive_data(raw_command("FCPublish", 4, None, "hv")) == [FCPublish("hv", 4.0)]
    assert server.receive_data(raw_command("publish", 5, None, "hv", "live", sid=1, csid=8)) == [
        PublishRequest("hv", "haivision", 5.0)]


def test_media_ignored_unless_publishing():
    server, client, wire = connected_server()
    data = ChunkEncoder(128).encode(9, 0, 1, b"\x17\x01\x00", 6)
    assert server.receive_data(data) == []


# ------------------------------------------------------------------------------ play
def play_session(start=-2.0):
    server, client, wire = connected_server()
    client.create_stream()
    answer(server, server.receive_data(client.data_to_send()))
    client.receive_data(server.data_to_send())
    client.play("livestream", start=start)
    events = server.receive_data(client.data_to_send())
    return server, client, wire, events


def test_play_flow_reply_order():
    server, client, wire, events = play_session()
    assert events == [PlayRequest("livestream", -2.0, -1.0, True, 0.0)]
    assert server.buffer_length_ms == 1000           # SetBufferLength from the client
    server.start_play(stream_name="livestream")
    out = server.data_to_send()
    replies = wire.read(out)
    assert replies[0] == (4, 2, 0, rm.UC_STREAM_BEGIN, 1)
    assert [r[:4] for r in replies[1:]] == [(20, 5, 1, "onStatus"), (20, 5, 1, "onStatus"),
                                            (18, 5, 1, ["|RtmpSampleAccess", True, True]),
                                            (18, 5, 1, ["onStatus",
                                                        {"code": "NetStream.Data.Start"}])]
    assert replies[1][6][0] == {"level": "status", "code": "NetStream.Play.Reset",
                                "description": "Playing and resetting stream.",
                                "details": "stream", "clientid": "ASAICiss"}
    assert replies[2][6][0] == {"level": "status", "code": "NetStream.Play.Start",
                                "description": "Started playing stream.",
                                "details": "stream", "clientid": "ASAICiss"}
    codes = [e.code for e in client.receive_data(out) if isinstance(e, Status)]
    assert codes == ["NetStream.Play.Reset", "NetStream.Play.Start", "NetStream.Data.Start"]

    # media batch from the server's encoder, queued behind the control replies
    msgs = [Message.make(18, 0, rm.encode_metadata({"duration": 0.0})),
            Message.make(9, 1000, b"\x17\x00" + bytes(5000)),
            Message.make(8, 1010, b"\xaf\x01" + bytes(300))]
    server.queue_bytes(server.encoder.encode_media(msgs, ts_base=1000, stream_id=1))
    got = client.receive_data(server.data_to_send())
    assert [(e.message.kind, e.message.ts_ms, e.message.payload) for e in got] == [
        (18, 0xFFFFFC18, msgs[0].payload), (9, 0, msgs[1].payload), (8, 10, msgs[2].payload)]


def test_ffmpeg_style_play_and_pause_and_close():
    server, client, wire = connected_server()
    server.receive_data(raw_command("createStream", 2))
    server.reply_create_stream(2)
    assert server.receive_data(raw_command("getStreamLength", 3, None, "s")) == [
        GetStreamLength("s", 3.0)]
    events = server.receive_data(raw_command("play", 4, None, "s", -2000.0, sid=1, csid=8))
    assert events == [PlayRequest("s", -2000.0, -1.0, True, 4.0)]
    wire.read(server.data_to_send())
    server.start_play()
    wire.read(server.data_to_send())
    # a second play while playing is ignored, as SRS does
    assert server.receive_data(raw_command("play", 5, None, "s", sid=1, csid=8)) == []

    assert server.receive_data(raw_command("pause", 0, None, True, 1234.0, sid=1, csid=8)) == [
        Pause(True, 1234.0)]
    server.on_pause(True)
    replies = wire.read(server.data_to_send())
    assert replies[0][3] == "onStatus" and replies[0][6][0]["code"] == "NetStream.Pause.Notify"
    assert replies[0][6][0]["description"] == "Paused stream."
    assert replies[1] == (4, 2, 0, rm.UC_STREAM_EOF, 1)
    server.receive_data(raw_command("pause", 0, None, False, 1234.0, sid=1, csid=8))
    server.on_pause(False)
    replies = wire.read(server.data_to_send())
    assert replies[0][6][0]["code"] == "NetStream.Unpause.Notify"
    assert replies[1] == (4, 2, 0, rm.UC_STREAM_BEGIN, 1)

    assert server.receive_data(raw_command("closeStream", 0, sid=1, csid=8)) == [CloseStream(0.0)]
    assert server.state is ServerState.CONNECTED
    # back to identify: play again directly
    assert server.receive_data(raw_command("play", 0, None, "t", sid=1, csid=8)) == [
        PlayRequest("t", -2.0, -1.0, True, 0.0)]


def test_play_error():
    server, client, wire, events = play_session()
    server.on_play_error("NetStream.Play.StreamNotFound", "no such stream")
    (r,) = wire.read(server.data_to_send())
    assert r[6][0] == {"level": "error", "code": "NetStream.Play.StreamNotFound",
                       "description": "no such stream"}


# ------------------------------------------------------------------------------ calls
def test_unknown_calls_answered_with_null_result():
    server, client, wire = connected_server()
    events = server.receive_data(raw_command("_checkbw", 5) + raw_command("FCSubscribe", 0, None,
                                                                           "s"))
    assert [type(e) for e in events] == [UnknownCall, UnknownCall]
    assert events[0].command.name == "_checkbw"
    replies = wire.read(server.data_to_send())
    assert replies == [(20, 3, 0, "_result", 5.0, None, [None])]   # tid 0 gets no answer
    # a _result from the client is never answered (no ping-pong)
    assert server.receive_data(raw_command("_result", 1, None, None)) == []
    assert server.data_to_send() == b""


def test_amf3_command_accepted():
    server = ServerSession()
    payload = b"\x00" + rm.connect_command(TC_URL, "live")
    events = server.receive_data(ChunkEncoder(128).encode(17, 0, 0, payload, 3))
    assert isinstance(events[0], ConnectRequest)


# ------------------------------------------------------------------------------ bad order
@pytest.mark.parametrize("name,args", [("publish", ("s",)), ("play", ("s",)),
                                       ("createStream", ()), ("releaseStream", ("s",)),
                                       ("_checkbw", ()), ("FCUnpublish", ("s",))])
def test_commands_before_connect_raise(name, args):
    with pytest.raises(RtmpError):
        ServerSession().receive_data(raw_command(name, 2, None, *args))


def test_out_of_order_commands_raise():
    server, client, wire = connected_server()
    with pytest.raises(RtmpError):
        server.receive_data(raw_command("connect", 1, {"tcUrl": TC_URL}))
    server, client, wire = connected_server()
    with pytest.raises(RtmpError):      # publish before createStream
        server.receive_data(raw_command("publish", 2, None, "s"))
    server, client, wire, _ = play_session()
    with pytest.raises(RtmpError):      # publish while playing
        server.receive_data(raw_command("publish", 0, None, "s", sid=1))
    server, client, wire = connected_server()
    server.receive_data(raw_command("createStream", 2))
    server.receive_data(raw_command("publish", 0, None, "s", sid=1))
    with pytest.raises(RtmpError):      # play while publishing
        server.receive_data(raw_command("play", 0, None, "s", sid=1))


def test_garbage_raises_typed_errors():
    with pytest.raises(ChunkError):
        ServerSession().receive_data(b"\xc3garbage")
    with pytest.raises(RtmpError):      # a command whose name is a number
        ServerSession().receive_data(ChunkEncoder(128).encode(20, 0, 0, amf0.encode(1.0), 3))
    with pytest.raises(RtmpError):      # truncated AMF0
        ServerSession().receive_data(ChunkEncoder(128).encode(20, 0, 0, b"\x02\x00\x09conn", 3))


def test_app_misuse_raises():
    server = ServerSession()
    with pytest.raises(SrsError):
        server.accept_connect()
    server, client, wire = connected_server()
    with pytest.raises(SrsError):
        server.accept_connect()
    with pytest.raises(SrsError):
        server.start_play()
    with pytest.raises(SrsError):
        server.start_fmle_publish()
    with pytest.raises(SrsError):
        client.publish("s")            # no stream created yet


# ------------------------------------------------------------------------------ aggregate
def flv_tag(mtype: int, ts: int, payload: bytes) -> bytes:
    head = (bytes([mtype]) + struct.pack(">I", len(payload))[1:] + struct.pack(">I", ts)[1:]
            + bytes([ts >> 24 & 0xFF]) + b"\x00\x00\x00")
    return head + payload + struct.pack(">I", 11 + len(payload))


def publishing_server():
    server, client, wire = connected_server()
    server.receive_data(raw_command("createStream", 2))
    server.receive_data(raw_command("publish", 0, None, "s", sid=1))
    return server


def test_aggregate_split_with_corrected_timestamps():
    server = publishing_server()
    body = (flv_tag(9, 1000, b"\x17\x01video") + flv_tag(8, 1020, b"\xaf\x01audio")
            + flv_tag(18, 1030, rm.set_data_frame({"a": 1.0})) + flv_tag(9, 0x1000000 + 5, b"\x27x"))
    events = server.receive_data(ChunkEncoder(128).encode(22, 5000, 1, body, 6))
    got = [(e.message.kind, e.message.ts_ms, e.message.payload, e.message.stream_id)
           for e in events]
    assert got == [(9, 5000, b"\x17\x01video", 1), (8, 5020, b"\xaf\x01audio", 1),
                   (18, 5030, rm.encode_metadata({"a": 1.0}), 1),
                   (9, 5000 + 0x1000000 + 5 - 1000, b"\x27x", 1)]
    assert events[0].message.keyframe


@pytest.mark.parametrize("body", [b"\x09\x00", flv_tag(9, 0, b"abc")[:-1],
                                  flv_tag(9, 0, b"abc") + b"\x08\x00\x00\x10"])
def test_aggregate_malformed(body):
    server = publishing_server()
    with pytest.raises(RtmpError) as e:
        server.receive_data(ChunkEncoder(128).encode(22, 0, 1, body, 6))
    assert e.value.code == ERROR_RTMP_AGGREGATE


# ------------------------------------------------------------------------------ acks and pings
def test_server_acknowledges_after_window():
    server = ServerSession()
    enc = ChunkEncoder(128)
    # the peer's window: 1000 bytes (SRS acks at half of it)
    first = enc.encode(5, 0, 0, rm.window_ack_size(1000), 2)
    server.receive_data(first)
    assert server.data_to_send() == b""
    filler = enc.encode(3, 0, 0, rm.acknowledgement(1), 2) * 40    # 16 bytes each, ignored
    events = server.receive_data(filler)
    assert events == []
    (ack,) = Wire().read(server.data_to_send())
    total = len(first) + len(filler)
    assert total >= 500 and ack == (3, 2, 0, total)
    assert server.peer_acked_bytes == 1
    server.receive_data(filler[:100])
    assert server.data_to_send() == b""             # not another half window yet


def test_client_acknowledges_server_window():
    server, client, wire = connected_server(window_ack_size=4096)
    client.create_stream()
    answer(server, server.receive_data(client.data_to_send()))
    client.receive_data(server.data_to_send())
    client.play("s")
    server.receive_data(client.data_to_send())
    server.start_play()
    server.queue_bytes(server.encoder.encode_media(
        [Message.make(9, i, b"\x27\x01" + bytes(1000)) for i in range(5)], stream_id=1))
    sent = server.data_to_send()
    client.receive_data(sent)
    acks = [m for m in Wire().read(client.data_to_send()) if m[0] == 3]
    assert acks and acks[-1][3] == client.decoder.bytes_received
    assert server.receive_data(b"") == []


def test_ping_request_gets_response():
    server, client, wire = connected_server()
    ping = ChunkEncoder(128).encode(4, 0, 0, rm.UserControl(rm.UC_PING_REQUEST, 0xABCD).encode(), 2)
    assert server.receive_data(ping) == []
    assert wire.read(server.data_to_send()) == [(4, 2, 0, rm.UC_PING_RESPONSE, 0xABCD)]
    # and the client answers the server's pings too
    server.queue_bytes(server.encoder.encode(4, 0, 0, rm.UserControl(6, 7).encode(), 2))
    client.receive_data(server.data_to_send())
    assert Wire().read(client.data_to_send()) == [(4, 2, 0, rm.UC_PING_RESPONSE, 7)]


def test_librtmp_fresh_fmt1_ping():
    server = ServerSession()
    assert server.receive_data(bytes.fromhex("42000000000006040006 00000d0f".replace(" ", ""))) == []
    assert Wire().read(server.data_to_send()) == [(4, 2, 0, rm.UC_PING_RESPONSE, 0xd0f)]


def test_set_out_chunk_size():
    server, client, wire = connected_server()
    server.set_out_chunk_size(128)
    assert wire.read(server.data_to_send()) == [(1, 2, 0, 128)]
    assert server.encoder.chunk_size == 128
    with pytest.raises(ChunkError):
        server.set_out_chunk_size(0)
