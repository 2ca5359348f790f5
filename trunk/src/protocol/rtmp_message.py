"""RTMP message payloads: protocol control, user control, AMF0 commands and data, SRS's replies.

Everything here is payload bytes <-> values; chunking is rtmp_chunk's job and which message is
sent when is rtmp_stack's. The reply builders reproduce SRS's packets field for field
(srs_rtmp_stack.cpp: SrsConnectAppResPacket, SrsOnStatusCallPacket, SrsFMLEStartResPacket...).
"""
from __future__ import annotations

import struct
from typing import Any

from srs.core import version
from srs.kernel.errors import (ERROR_RTMP_AMF0_DECODE, ERROR_RTMP_MESSAGE_DECODE, Amf0DecodeError,
                               RtmpError)
from srs.kernel.message import MSG_AMF3_COMMAND, MSG_AMF3_DATA
from srs.protocol import amf0

# ---------------------------------------------------------------------------- names and codes
CONNECT = "connect"
CREATE_STREAM = "createStream"
CLOSE_STREAM = "closeStream"
DELETE_STREAM = "deleteStream"
PLAY = "play"
PLAY2 = "play2"
PAUSE = "pause"
PUBLISH = "publish"
RELEASE_STREAM = "releaseStream"
FC_PUBLISH = "FCPublish"
FC_UNPUBLISH = "FCUnpublish"
GET_STREAM_LENGTH = "getStreamLength"
RESULT = "_result"
ERROR = "_error"
ON_STATUS = "onStatus"
ON_BW_DONE = "onBWDone"
ON_FC_PUBLISH = "onFCPublish"
ON_FC_UNPUBLISH = "onFCUnpublish"
CHECK_BW = "_checkbw"
SET_DATAFRAME = "@setDataFrame"
ON_METADATA = "onMetaData"
SAMPLE_ACCESS = "|RtmpSampleAccess"

LEVEL_STATUS = "status"
LEVEL_ERROR = "error"
CONNECT_SUCCESS = "NetConnection.Connect.Success"
CONNECT_REJECTED = "NetConnection.Connect.Rejected"
PLAY_RESET = "NetStream.Play.Reset"
PLAY_START = "NetStream.Play.Start"
PAUSE_NOTIFY = "NetStream.Pause.Notify"
UNPAUSE_NOTIFY = "NetStream.Unpause.Notify"
PUBLISH_START = "NetStream.Publish.Start"
DATA_START = "NetStream.Data.Start"
UNPUBLISH_SUCCESS = "NetStream.Unpublish.Success"
# SRS's fixed client id in onStatus replies (RTMP_SIG_CLIENT_ID)
CLIENT_ID = "ASAICiss"
FMS_VERSION = "3,5,3,888"
SRS_ROLE = "cluster"

# Set Peer Bandwidth limit types
BANDWIDTH_HARD = 0
BANDWIDTH_SOFT = 1
BANDWIDTH_DYNAMIC = 2

# User control event types
UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_STREAM_DRY = 2
UC_SET_BUFFER_LENGTH = 3
UC_STREAM_IS_RECORDED = 4
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7
UC_FMS_EVENT0 = 0x1A  # FMS-specific event with a 1-byte argument (SRS decodes it)

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_PEER_BW = struct.Struct(">IB")
_UC = struct.Struct(">HI")
_UC_BUFLEN = struct.Struct(">HII")


# ---------------------------------------------------------------------------- protocol control
def encode_u32(value: int) -> bytes:
    """Payload of Set Chunk Size (1), Abort (2), Acknowledgement (3), Window Ack Size (5)."""
    return _U32.pack(value & 0xFFFFFFFF)


def decode_u32(payload: bytes, what: str = "control message") -> int:
    if len(payload) < 4:
        raise RtmpError(f"{what}: payload of {len(payload)} bytes, need 4",
                        code=ERROR_RTMP_MESSAGE_DECODE)
    return _U32.unpack_from(payload, 0)[0]


set_chunk_size = encode_u32
abort = encode_u32
acknowledgement = encode_u32
window_ack_size = encode_u32


def set_peer_bandwidth(size: int, limit_type: int = BANDWIDTH_DYNAMIC) -> bytes:
    return _PEER_BW.pack(size & 0xFFFFFFFF, limit_type)


def decode_set_peer_bandwidth(payload: bytes) -> tuple:
    """-> (size, limit_type)."""
    if len(payload) < 5:
        raise RtmpError(f"set peer bandwidth: payload of {len(payload)} bytes, need 5",
                        code=ERROR_RTMP_MESSAGE_DECODE)
    return _PEER_BW.unpack_from(payload, 0)


class UserControl:
    """User control message (type 4): ``event`` and its 4-byte ``data`` (a stream id or a
    timestamp); SetBufferLength also carries ``extra`` = buffer length in ms."""

    __slots__ = ("event", "data", "extra")

    def __init__(self, event: int, data: int = 0, extra: int = 0):
        self.event = event
        self.data = data
        self.extra = extra

    def encode(self) -> bytes:
        if self.event == UC_SET_BUFFER_LENGTH:
            return _UC_BUFLEN.pack(self.event, self.data & 0xFFFFFFFF, self.extra & 0xFFFFFFFF)
        if self.event == UC_FMS_EVENT0:
            return _U16.pack(self.event) + bytes((self.data & 0xFF,))
        return _UC.pack(self.event, self.data & 0xFFFFFFFF)

    @classmethod
    def decode(cls, payload: bytes) -> "UserControl":
        n = len(payload)
        if n < 2:
            raise RtmpError("user control: payload shorter than 2 bytes",
                            code=ERROR_RTMP_MESSAGE_DECODE)
        event = _U16.unpack_from(payload, 0)[0]
        if event == UC_FMS_EVENT0:
            if n < 3:
                raise RtmpError("user control: truncated FMS event", code=ERROR_RTMP_MESSAGE_DECODE)
            return cls(event, payload[2])
        if n < 6:
            raise RtmpError(f"user control event {event}: payload of {n} bytes, need 6",
                            code=ERROR_RTMP_MESSAGE_DECODE)
        data = _U32.unpack_from(payload, 2)[0]
        extra = 0
        if event == UC_SET_BUFFER_LENGTH:
            if n < 10:
                raise RtmpError("user control SetBufferLength: payload shorter than 10 bytes",
                                code=ERROR_RTMP_MESSAGE_DECODE)
            extra = _U32.unpack_from(payload, 6)[0]
        return cls(event, data, extra)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, UserControl)
                and (self.event, self.data, self.extra) == (other.event, other.data, other.extra))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UserControl(event={self.event}, data={self.data}, extra={self.extra})"


def stream_begin(stream_id: int) -> bytes:
    return UserControl(UC_STREAM_BEGIN, stream_id).encode()


def stream_eof(stream_id: int) -> bytes:
    return UserControl(UC_STREAM_EOF, stream_id).encode()


def set_buffer_length(stream_id: int, ms: int) -> bytes:
    return UserControl(UC_SET_BUFFER_LENGTH, stream_id, ms).encode()


def ping_response(timestamp: int) -> bytes:
    return UserControl(UC_PING_RESPONSE, timestamp).encode()


# ---------------------------------------------------------------------------- commands
class Command:
    """An AMF0 command: ``name``, ``transaction_id``, ``command_object`` (None = null), ``args``."""

    __slots__ = ("name", "transaction_id", "command_object", "args")

    def __init__(self, name: str, transaction_id: float = 0.0, command_object: Any = None,
                 args: list | None = None):
        self.name = name
        self.transaction_id = transaction_id
        self.command_object = command_object
        self.args = [] if args is None else args

    def arg(self, index: int, default: Any = None) -> Any:
        return self.args[index] if index < len(self.args) else default

    def encode(self) -> bytes:
        return encode_command(self.name, self.transaction_id, self.command_object, *self.args)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Command) and self.name == other.name
                and self.transaction_id == other.transaction_id
                and self.command_object == other.command_object and self.args == other.args)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Command({self.name!r}, tid={self.transaction_id}, "
                f"object={self.command_object!r}, args={self.args!r})")


def _amf_payload(raw) -> Any:
    """The AMF0 part of a command/data payload: AMF3 commands (17) start with a 0x00 selector."""
    payload = raw.payload
    if raw.type == MSG_AMF3_COMMAND or (raw.type == MSG_AMF3_DATA and payload[:1] == b"\x00"):
        return memoryview(payload)[1:]
    return payload


def decode_command(raw) -> Command:
    """Decode a command message (type 20, or 17 with its leading format byte skipped)."""
    try:
        values = amf0.decode_all(_amf_payload(raw))
    except Amf0DecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:  # defensive: never an untyped error
        raise Amf0DecodeError(f"command: {e}") from e
    if not values or not isinstance(values[0], str):
        raise RtmpError("command: first value is not a command name", code=ERROR_RTMP_AMF0_DECODE)
    name = values[0]
    tid = values[1] if len(values) > 1 else 0.0
    if isinstance(tid, bool) or not isinstance(tid, (int, float)):
        raise RtmpError(f"command {name!r}: transaction id is not a number",
                        code=ERROR_RTMP_AMF0_DECODE)
    obj = values[2] if len(values) > 2 else None
    return Command(name, float(tid), obj, values[3:])


def encode_command(name: str, tid: float, command_object: Any = None, *args: Any) -> bytes:
    return amf0.encode(name, float(tid), command_object, *args)


def decode_data(payload) -> list:
    """All AMF0 values of a data message (type 18) payload."""
    try:
        return amf0.decode_all(payload)
    except Amf0DecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:
        raise Amf0DecodeError(f"data message: {e}") from e


def decode_data_raw(raw) -> list:
    """As decode_data, for a RawMessage of type 18 or 15."""
    return decode_data(_amf_payload(raw))


def metadata_of(values: list) -> dict | None:
    """The onMetaData object of a decoded data message, ``@setDataFrame`` stripped as SRS does;
    None when the message is not metadata. An ECMA array becomes a plain object (SRS copies it
    into an AMF0 object)."""
    if values and values[0] == SET_DATAFRAME:
        values = values[1:]
    if len(values) < 2 or values[0] != ON_METADATA:
        return None
    obj = values[1]
    if not isinstance(obj, dict):
        return None
    return dict(obj)


def encode_metadata(obj: dict) -> bytes:
    """The payload SRS stores and sends for metadata: ``"onMetaData", {object}``."""
    return amf0.encode(ON_METADATA, dict(obj))


def set_data_frame(obj: dict) -> bytes:
    """What a publisher sends: ``"@setDataFrame", "onMetaData", ECMA array``."""
    return amf0.encode(SET_DATAFRAME, ON_METADATA, amf0.EcmaArray(obj))


# ---------------------------------------------------------------------------- SRS replies
def connect_result(object_encoding: float = 0.0, server_ip: str | None = None, pid: int = 0,
                   cid: int = 0, tid: float = 1.0) -> bytes:
    """connect ``_result`` (SrsConnectAppResPacket as filled by response_connect_app)."""
    props = {"fmsVer": "FMS/" + FMS_VERSION, "capabilities": 127.0, "mode": 1.0}
    data = amf0.EcmaArray()
    data["version"] = FMS_VERSION
    data["srs_sig"] = version.KEY
    data["srs_server"] = version.SIGNATURE
    data["srs_license"] = version.LICENSE
    data["srs_role"] = SRS_ROLE
    data["srs_url"] = version.URL
    data["srs_version"] = version.VERSION
    data["srs_site"] = version.WEB
    data["srs_email"] = version.EMAIL
    data["srs_copyright"] = version.COPYRIGHT
    data["srs_primary"] = version.PRIMARY
    data["srs_authors"] = version.AUTHORS
    if server_ip:
        data["srs_server_ip"] = server_ip
    data["srs_pid"] = float(pid)
    data["srs_id"] = float(cid)
    info = {"level": LEVEL_STATUS, "code": CONNECT_SUCCESS,
            "description": "Connection succeeded", "objectEncoding": float(object_encoding),
            "data": data}
    return encode_command(RESULT, tid, props, info)


def connect_rejected(description: str) -> bytes:
    return on_status(CONNECT_REJECTED, description, LEVEL_ERROR)


def on_bw_done() -> bytes:
    return encode_command(ON_BW_DONE, 0.0, None)


def create_stream_result(tid: float, stream_id: int) -> bytes:
    return encode_command(RESULT, tid, None, float(stream_id))


def fmle_start_result(tid: float) -> bytes:
    """``_result`` of releaseStream / FCPublish / FCUnpublish: null, undefined."""
    return encode_command(RESULT, tid, None, amf0.UNDEFINED)


def call_null_result(tid: float) -> bytes:
    """SRS's answer to calls it does not implement (_checkbw, getStreamLength...)."""
    return encode_command(RESULT, tid, None, None)


def on_status(code: str, description: str, level: str = LEVEL_STATUS, name: str = ON_STATUS,
              **extra: Any) -> bytes:
    """An onStatus-style call: ``name, 0, null, {level, code, description, **extra}``.

    ``level=None`` omits the level, as SRS's onFCPublish/onFCUnpublish do.
    """
    info: dict = {}
    if level is not None:
        info["level"] = level
    info["code"] = code
    info["description"] = description
    info.update(extra)
    return encode_command(name, 0.0, None, info)


def on_status_data(code: str) -> bytes:
    """Data message (type 18) ``onStatus, {code}`` (SrsOnStatusDataPacket)."""
    return amf0.encode(ON_STATUS, {"code": code})


def sample_access(audio: bool = True, video: bool = True) -> bytes:
    """Data message (type 18) ``|RtmpSampleAccess, audio, video``."""
    return amf0.encode(SAMPLE_ACCESS, bool(audio), bool(video))


def publish_start_replies() -> tuple:
    """(onFCPublish, onStatus) payloads of an FMLE/Haivision publish start."""
    return (on_status(PUBLISH_START, "Started publishing stream.", None, ON_FC_PUBLISH),
            on_status(PUBLISH_START, "Started publishing stream.", clientid=CLIENT_ID))


# ---------------------------------------------------------------------------- client requests
def connect_command(tc_url: str, app: str, page_url: str = "", swf_url: str = "",
                    args: dict | None = None, tid: float = 1.0) -> bytes:
    """connect as SRS's own client sends it (SrsRtmpClient::connect_app)."""
    obj = {"app": app, "flashVer": "WIN 15,0,0,239", "swfUrl": swf_url, "tcUrl": tc_url,
           "fpad": False, "capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0,
           "videoFunction": 1.0, "pageUrl": page_url, "objectEncoding": 0.0}
    if args is not None:
        return encode_command(CONNECT, tid, obj, dict(args))
    return encode_command(CONNECT, tid, obj)


def play_command(stream: str, start: float = -2.0, duration: float = -1.0, reset: bool = True,
                 tid: float = 0.0) -> bytes:
    """play with SRS's elision of default trailing arguments."""
    values: list = [stream]
    if start != -2 or duration != -1 or not reset:
        values.append(float(start))
    if duration != -1 or not reset:
        values.append(float(duration))
    if not reset:
        values.append(False)
    return encode_command(PLAY, tid, None, *values)


def publish_command(stream: str, kind: str = "live", tid: float = 0.0) -> bytes:
    return encode_command(PUBLISH, tid, None, stream, kind)
