"""SRS bandwidth-test packets: bytes both ways, and both sessions surfacing them."""
from __future__ import annotations

import pytest

from srs.kernel.errors import Amf0DecodeError, RtmpError
from srs.kernel.message import MSG_AMF0_COMMAND
from srs.protocol import amf0
from srs.protocol import rtmp_bandwidth as bw
from srs.protocol import rtmp_message as rm
from srs.protocol import rtmp_stack as stack
from srs.protocol.rtmp_chunk import CSID_OVER_STREAM, ChunkEncoder

# onSrsBandCheckStartPlayBytes, 0, null, {limit_kbps: 4000}
START_PLAY = (b"\x02\x00\x1conSrsBandCheckStartPlayBytes" b"\x00" + b"\x00" * 8 + b"\x05"
              b"\x03\x00\x0alimit_kbps\x00\x40\xaf\x40\x00\x00\x00\x00\x00\x00\x00\x09")


def test_packet_table_both_ways():
    assert bw.encode_packet(bw.START_PLAY, {"limit_kbps": 4000}) == START_PLAY
    name, tid, null, data = amf0.decode_all(START_PLAY)
    assert (name, tid, null, data) == (bw.START_PLAY, 0.0, None, {"limit_kbps": 4000.0})
    cmd = rm.Command(name, tid, null, [data])
    assert bw.packet_data(cmd) == {"limit_kbps": 4000.0} and bw.number(bw.packet_data(cmd), "limit_kbps") == 4000
    assert bw.packet_data(rm.Command(name, 0.0, None, [])) == {} and bw.number({"a": "x"}, "a", 7) == 7
    assert bw.filler(3, "d") == {"0": "d", "1": "d", "2": "d"}


def _chunk(payload: bytes, stream_id: int = 0) -> bytes:
    return ChunkEncoder(128).encode(MSG_AMF0_COMMAND, 0, stream_id, payload, CSID_OVER_STREAM)


def _connected_client() -> bw.BandwidthClientSession:
    cs = bw.BandwidthClientSession()
    cs.connect("rtmp://127.0.0.1/app?key=k", "app")
    cs.data_to_send()
    evs = cs.receive_data(_chunk(rm.connect_result(), 0))
    assert isinstance(evs[0], stack.ConnectResult) and evs[0].ok
    return cs


def test_client_session_reports_bandwidth_calls_and_sends_them():
    cs = _connected_client()
    big = bw.encode_packet(bw.PLAYING, bw.filler(41, bw.PLAY_FILLER))  # many chunks
    evs = cs.receive_data(_chunk(START_PLAY) + _chunk(big) + _chunk(rm.on_bw_done()))
    assert [type(e).__name__ for e in evs] == ["BandwidthCall", "BandwidthCall"]
    assert evs[0] == bw.BandwidthCall(bw.START_PLAY, {"limit_kbps": 4000.0})
    assert len(evs[1].data) == 41

    # what the client sends, the server session reports as plain calls (tid 0: no _result)
    ss = stack.ServerSession()
    ss.receive_data(_connect_bytes())
    ss.accept_connect()
    ss.data_to_send()
    cs.send_bandwidth(bw.STARTING_PLAY)
    cs.send_bandwidth(bw.PUBLISHING, bw.filler(5, bw.PUBLISH_FILLER))
    evs = ss.receive_data(cs.data_to_send())
    assert [(type(e).__name__, e.command.name) for e in evs] == [("UnknownCall", bw.STARTING_PLAY),
                                                                ("UnknownCall", bw.PUBLISHING)]
    assert bw.packet_data(evs[1].command) == bw.filler(5, bw.PUBLISH_FILLER)
    assert ss.data_to_send() == b""


def _connect_bytes() -> bytes:
    obj = {"app": "app", "tcUrl": "rtmp://127.0.0.1/app?key=k"}
    return ChunkEncoder(128).encode(MSG_AMF0_COMMAND, 0, 0, rm.encode_command("connect", 1.0, obj), 3)


@pytest.mark.parametrize("payload", [
    START_PLAY[:20],                         # truncated name
    START_PLAY[:-5],                         # truncated object
    b"\x00" + b"\x00" * 8,                   # not a command name
])
def test_malformed_packets_raise_typed(payload):
    cs = _connected_client()
    with pytest.raises((Amf0DecodeError, RtmpError)):
        cs.receive_data(_chunk(payload))
