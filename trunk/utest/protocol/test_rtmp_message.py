"""RTMP message payloads: control/user-control tables, commands, metadata, SRS reply builders."""
from __future__ import annotations

import struct

import pytest

from srs.core import version
from srs.kernel.errors import Amf0DecodeError, RtmpError
from srs.protocol import amf0
from srs.protocol import rtmp_message as rm
from srs.protocol.rtmp_chunk import RawMessage


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def num(v: float) -> bytes:
    return b"\x00" + struct.pack(">d", v)


def s(text: str) -> bytes:
    raw = text.encode()
    return b"\x02" + struct.pack(">H", len(raw)) + raw


# ------------------------------------------------------------------------------ control
U32_TABLE = [(128, h("00000080")), (60000, h("0000ea60")), (2500000, h("002625a0")),
             (0xFFFFFFFF, h("ffffffff"))]


@pytest.mark.parametrize("value,wire", U32_TABLE)
def test_u32_control_both_ways(value, wire):
    for enc in (rm.set_chunk_size, rm.abort, rm.acknowledgement, rm.window_ack_size):
        assert enc(value) == wire
    assert rm.decode_u32(wire) == value


def test_u32_truncated():
    with pytest.raises(RtmpError):
        rm.decode_u32(b"\x00\x01")


def test_set_peer_bandwidth_both_ways():
    assert rm.set_peer_bandwidth(2500000, rm.BANDWIDTH_DYNAMIC) == h("002625a0 02")
    assert rm.decode_set_peer_bandwidth(h("002625a0 02")) == (2500000, 2)
    assert rm.set_peer_bandwidth(1000, rm.BANDWIDTH_HARD) == h("000003e8 00")
    with pytest.raises(RtmpError):
        rm.decode_set_peer_bandwidth(h("002625a0"))


USER_CONTROL_TABLE = [
    (rm.UserControl(rm.UC_STREAM_BEGIN, 1), h("0000 00000001")),
    (rm.UserControl(rm.UC_STREAM_EOF, 1), h("0001 00000001")),
    (rm.UserControl(rm.UC_STREAM_DRY, 1), h("0002 00000001")),
    (rm.UserControl(rm.UC_SET_BUFFER_LENGTH, 1, 3000), h("0003 00000001 00000bb8")),
    (rm.UserControl(rm.UC_STREAM_IS_RECORDED, 1), h("0004 00000001")),
    (rm.UserControl(rm.UC_PING_REQUEST, 0xd0f), h("0006 00000d0f")),
    (rm.UserControl(rm.UC_PING_RESPONSE, 0xd0f), h("0007 00000d0f")),
    (rm.UserControl(rm.UC_FMS_EVENT0, 5), h("001a 05")),
]


@pytest.mark.parametrize("uc,wire", USER_CONTROL_TABLE, ids=lambda v: repr(v)[:40])
def test_user_control_both_ways(uc, wire):
    assert uc.encode() == wire
    assert rm.UserControl.decode(wire) == uc


def test_user_control_helpers():
    assert rm.stream_begin(1) == h("0000 00000001")
    assert rm.stream_eof(2) == h("0001 00000002")
    assert rm.set_buffer_length(1, 1000) == h("0003 00000001 000003e8")
    assert rm.ping_response(7) == h("0007 00000007")


@pytest.mark.parametrize("wire", [b"", h("00"), h("0000 0000"), h("0003 00000001 0000"),
                                  h("001a")])
def test_user_control_truncated(wire):
    with pytest.raises(RtmpError):
        rm.UserControl.decode(wire)


# ------------------------------------------------------------------------------ commands
def test_command_round_trip_amf0():
    payload = rm.encode_command("play", 4, None, "livestream", -2000.0)
    assert payload == s("play") + num(4) + b"\x05" + s("livestream") + num(-2000)
    cmd = rm.decode_command(RawMessage(20, 0, 1, 8, payload))
    assert cmd == rm.Command("play", 4.0, None, ["livestream", -2000.0])
    assert cmd.encode() == payload
    assert cmd.arg(0) == "livestream" and cmd.arg(5, "x") == "x"


def test_command_amf3_skips_format_byte():
    payload = rm.encode_command("connect", 1, {"tcUrl": "rtmp://h/app"})
    cmd = rm.decode_command(RawMessage(17, 0, 0, 3, b"\x00" + payload))
    assert cmd.name == "connect" and cmd.command_object == {"tcUrl": "rtmp://h/app"}


def test_command_without_object_and_tid():
    cmd = rm.decode_command(RawMessage(20, 0, 0, 3, s("onBWDone")))
    assert cmd == rm.Command("onBWDone", 0.0, None, [])


@pytest.mark.parametrize("payload", [b"", num(1), s("x") + s("notanumber"), s("x") + b"\x01\x01",
                                     h("02 0010 61"), b"\xff\xff", s("play") + num(1) + b"\x03\x00\x01"])
def test_command_malformed(payload):
    with pytest.raises(RtmpError):      # Amf0DecodeError is an RtmpError too
        rm.decode_command(RawMessage(20, 0, 0, 3, payload))
    with pytest.raises(RtmpError):
        rm.decode_command(RawMessage(17, 0, 0, 3, b"\x00" + payload))


# ------------------------------------------------------------------------------ data/metadata
def test_set_data_frame_stripped_and_ecma_becomes_object():
    meta = {"width": 320.0, "height": 240.0, "encoder": "Lavf"}
    payload = rm.set_data_frame(meta)
    assert payload.startswith(s("@setDataFrame") + s("onMetaData") + b"\x08")
    values = rm.decode_data(payload)
    got = rm.metadata_of(values)
    assert got == meta and type(got) is dict
    out = rm.encode_metadata(got)
    assert out.startswith(s("onMetaData") + b"\x03")
    assert amf0.decode_all(out) == ["onMetaData", meta]
    # plain onMetaData with an object works too
    assert rm.metadata_of(rm.decode_data(out)) == meta


@pytest.mark.parametrize("values", [[], ["onCuePoint", {}], ["onMetaData"], ["onMetaData", 3.0],
                                    ["@setDataFrame", "onTextData", {}]])
def test_not_metadata(values):
    assert rm.metadata_of(values) is None


def test_decode_data_malformed():
    with pytest.raises(Amf0DecodeError):
        rm.decode_data(s("onMetaData") + b"\x03\x00\x01")


def test_amf3_data_leading_zero_skipped():
    payload = b"\x00" + rm.encode_metadata({"a": 1.0})
    assert rm.decode_data_raw(RawMessage(15, 0, 1, 5, payload)) == ["onMetaData", {"a": 1.0}]


# ------------------------------------------------------------------------------ SRS replies
def test_connect_result_fields():
    payload = rm.connect_result(3.0, "10.0.0.1", 1234, 107)
    name, tid, props, info = amf0.decode_all(payload)
    assert (name, tid) == ("_result", 1.0)
    assert props == {"fmsVer": "FMS/3,5,3,888", "capabilities": 127.0, "mode": 1.0}
    assert list(info)[:4] == ["level", "code", "description", "objectEncoding"]
    assert info["level"] == "status"
    assert info["code"] == "NetConnection.Connect.Success"
    assert info["description"] == "Connection succeeded"
    assert info["objectEncoding"] == 3.0
    data = info["data"]
    assert isinstance(data, amf0.EcmaArray)
    assert list(data) == ["version", "srs_sig", "srs_server", "srs_license", "srs_role", "srs_url",
                          "srs_version", "srs_site", "srs_email", "srs_copyright", "srs_primary",
                          "srs_authors", "srs_server_ip", "srs_pid", "srs_id"]
    assert data["version"] == "3,5,3,888"
    assert data["srs_server"] == version.SIGNATURE
    assert data["srs_role"] == "cluster"
    assert (data["srs_server_ip"], data["srs_pid"], data["srs_id"]) == ("10.0.0.1", 1234.0, 107.0)
    # no server ip -> field omitted, as SRS
    assert "srs_server_ip" not in amf0.decode_all(rm.connect_result())[3]["data"]


def test_simple_replies_exact_bytes():
    assert rm.fmle_start_result(2) == s("_result") + num(2) + b"\x05\x06"
    assert rm.call_null_result(3) == s("_result") + num(3) + b"\x05\x05"
    assert rm.create_stream_result(4, 1) == s("_result") + num(4) + b"\x05" + num(1)
    assert rm.on_bw_done() == s("onBWDone") + num(0) + b"\x05"
    assert rm.sample_access() == s("|RtmpSampleAccess") + b"\x01\x01\x01\x01"
    assert rm.on_status_data("NetStream.Data.Start") == (
        s("onStatus") + b"\x03" + b"\x00\x04code" + s("NetStream.Data.Start") + b"\x00\x00\x09")


def test_on_status_field_order():
    name, tid, obj, info = amf0.decode_all(
        rm.on_status(rm.PLAY_START, "Started playing stream.", details="stream",
                     clientid=rm.CLIENT_ID))
    assert (name, tid, obj) == ("onStatus", 0.0, None)
    assert list(info.items()) == [("level", "status"), ("code", "NetStream.Play.Start"),
                                  ("description", "Started playing stream."),
                                  ("details", "stream"), ("clientid", "ASAICiss")]
    fc, status = rm.publish_start_replies()
    assert amf0.decode_all(fc) == ["onFCPublish", 0.0, None,
                                   {"code": "NetStream.Publish.Start",
                                    "description": "Started publishing stream."}]
    assert amf0.decode_all(status)[3] == {"level": "status", "code": "NetStream.Publish.Start",
                                          "description": "Started publishing stream.",
                                          "clientid": "ASAICiss"}
    rej = amf0.decode_all(rm.connect_rejected("denied"))
    assert rej[3] == {"level": "error", "code": "NetConnection.Connect.Rejected",
                      "description": "denied"}


def test_client_commands():
    name, tid, obj = amf0.decode_all(rm.connect_command("rtmp://h/live", "live"))
    assert (name, tid) == ("connect", 1.0)
    assert obj["tcUrl"] == "rtmp://h/live" and obj["app"] == "live"
    assert obj["flashVer"] == "WIN 15,0,0,239" and obj["objectEncoding"] == 0.0
    assert amf0.decode_all(rm.connect_command("rtmp://h/live", "live", args={"k": "v"}))[3] == {
        "k": "v"}
    assert amf0.decode_all(rm.play_command("s")) == ["play", 0.0, None, "s"]
    assert amf0.decode_all(rm.play_command("s", start=-1000)) == ["play", 0.0, None, "s", -1000.0]
    assert amf0.decode_all(rm.play_command("s", reset=False)) == [
        "play", 0.0, None, "s", -2.0, -1.0, False]
    assert amf0.decode_all(rm.publish_command("s")) == ["publish", 0.0, None, "s", "live"]
