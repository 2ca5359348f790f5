"""Sans-IO RTMP client session (SrsRtmpClient without sockets) for forward, edge, bench, tools.

Actions queue commands (``connect``, ``create_stream``, ``publish``, ``play``...) the way SRS's
client sends them; ``receive_data`` returns what the server said as events (ConnectResult,
StreamCreated, Status, Media, Close) and answers acknowledgements and pings itself.
Media goes out with ``send_media`` / ``send_media_batch``, or encode batches with ``.encoder``
and hand them to ``queue_bytes`` (so they stay behind any queued control bytes).
"""
from __future__ import annotations

import enum
import logging
from typing import Any

from srs.kernel.errors import RtmpError, SrsError
from srs.kernel.message import (MSG_AMF0_COMMAND, MSG_USER_CONTROL, MSG_WINDOW_ACK_SIZE, Message)
from srs.protocol import rtmp_message as rm
from srs.protocol.rtmp_chunk import CSID_OVER_CONNECTION, CSID_OVER_STREAM, csid_for_kind
from srs.protocol.rtmp_session import WINDOW_ACK_SIZE, Event, Media, Session

log = logging.getLogger(__name__)

__all__ = ["ClientSession", "ClientState", "ConnectResult", "StreamCreated", "Status", "Close",
           "Media"]


class ConnectResult(Event):
    """The answer to connect: ``ok`` with the ``_result`` info object, or a rejection."""
    __slots__ = ("ok", "info")

    def __init__(self, ok: bool, info: Any):
        self.ok = ok
        self.info = info


class StreamCreated(Event):
    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int):
        self.stream_id = stream_id


class Status(Event):
    """An onStatus (call or data message); ``info`` is the whole status object."""
    __slots__ = ("code", "level", "description", "info")

    def __init__(self, code: str, level: str, description: str, info: Any = None):
        self.code = code
        self.level = level
        self.description = description
        self.info = info


class Close(Event):
    """The server closed the session (a ``close`` call or a rejected connect)."""
    __slots__ = ()


class ClientState(enum.Enum):
    INIT = "init"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STREAM_CREATED = "stream-created"
    PUBLISHING = "publishing"   # publish sent; Status NetStream.Publish.Start confirms it
    PLAYING = "playing"         # play sent; Status NetStream.Play.Start confirms it
    CLOSED = "closed"


C = ClientState

# action -> {state it may be taken in: state after it}
_TRANSITIONS = {
    "connect": {C.INIT: C.CONNECTING},
    "create_stream": {C.CONNECTED: C.CONNECTED, C.STREAM_CREATED: C.STREAM_CREATED},
    "release_stream": {C.CONNECTED: C.CONNECTED, C.STREAM_CREATED: C.STREAM_CREATED},
    "fc_publish": {C.CONNECTED: C.CONNECTED, C.STREAM_CREATED: C.STREAM_CREATED},
    "publish": {C.STREAM_CREATED: C.PUBLISHING},
    "play": {C.STREAM_CREATED: C.PLAYING},
    "send_media": {C.PUBLISHING: C.PUBLISHING},
    "fc_unpublish": {C.PUBLISHING: C.CONNECTED},
    "call": {C.CONNECTED: C.CONNECTED, C.STREAM_CREATED: C.STREAM_CREATED,
             C.PUBLISHING: C.PUBLISHING, C.PLAYING: C.PLAYING},
    # server answers
    "connect_ok": {C.CONNECTING: C.CONNECTED},
    "connect_rejected": {C.CONNECTING: C.CLOSED},
    "stream_created": {C.CONNECTED: C.STREAM_CREATED, C.STREAM_CREATED: C.STREAM_CREATED},
}

# SRS's client transaction ids (SrsFMLEStartPacket: releaseStream 2, FCPublish 3; createStream 4)
_FIRST_TID = 2.0


class ClientSession(Session):
    """The client end of one RTMP connection, from the first chunk after the handshake."""

    def __init__(self, out_chunk_size: int = 60000, buffer_length_ms: int = 1000):
        super().__init__(out_chunk_size)
        self.state = C.INIT
        self.stream_id = 0
        self.server_info: Any = None     # info object of the connect _result
        self.play_buffer_ms = buffer_length_ms
        self._next_tid = _FIRST_TID
        self._pending: dict = {}         # transaction id -> command name awaiting _result
        self._chunk_size_sent = False

    def _transition(self, action: str) -> None:
        table = _TRANSITIONS[action]
        nxt = table.get(self.state)
        if nxt is None:
            raise SrsError(f"client: {action} not allowed in state {self.state.value}")
        self.state = nxt

    def _command(self, name: str, *args: Any, stream_id: int = 0, csid: int = CSID_OVER_CONNECTION,
                 expect_result: bool = True, command_object: Any = None) -> float:
        tid = self._next_tid
        self._next_tid += 1
        if expect_result:
            self._pending[tid] = name
        self._send(MSG_AMF0_COMMAND, rm.encode_command(name, tid, command_object, *args), csid,
                   stream_id)
        return tid

    def _announce_chunk_size(self) -> None:
        if not self._chunk_size_sent:
            self._chunk_size_sent = True
            self._send_chunk_size(self.out_chunk_size)

    # -------------------------------------------------------------- actions
    def connect(self, tc_url: str, app: str, page_url: str = "", swf_url: str = "",
                args: dict | None = None) -> None:
        """connect (tid 1) then Window Ack Size 2500000, as SrsRtmpClient::connect_app."""
        self._transition("connect")
        self._pending[1.0] = rm.CONNECT
        self._send(MSG_AMF0_COMMAND, rm.connect_command(tc_url, app, page_url, swf_url, args),
                   CSID_OVER_CONNECTION)
        self._send_control(MSG_WINDOW_ACK_SIZE, rm.window_ack_size(WINDOW_ACK_SIZE))

    def create_stream(self) -> float:
        self._transition("create_stream")
        return self._command(rm.CREATE_STREAM)

    def release_stream(self, stream: str) -> float:
        """FMLE-style publish preamble (forwarders send releaseStream + FCPublish first)."""
        self._transition("release_stream")
        return self._command(rm.RELEASE_STREAM, stream)

    def fc_publish(self, stream: str) -> float:
        self._transition("fc_publish")
        return self._command(rm.FC_PUBLISH, stream)

    def publish(self, stream: str, stream_id: int | None = None, kind: str = "live") -> None:
        """Set Chunk Size, then publish on the created stream."""
        self._transition("publish")
        sid = self.stream_id if stream_id is None else stream_id
        self.stream_id = sid
        self._announce_chunk_size()
        self._send(MSG_AMF0_COMMAND, rm.publish_command(stream, kind), CSID_OVER_STREAM, sid)

    def play(self, stream: str, stream_id: int | None = None, start: float = -2.0,
             duration: float = -1.0, reset: bool = True) -> None:
        """play, SetBufferLength, Set Chunk Size (SrsRtmpClient::play)."""
        self._transition("play")
        sid = self.stream_id if stream_id is None else stream_id
        self.stream_id = sid
        self._send(MSG_AMF0_COMMAND, rm.play_command(stream, start, duration, reset),
                   CSID_OVER_STREAM, sid)
        self._send_control(MSG_USER_CONTROL, rm.set_buffer_length(sid, self.play_buffer_ms))
        self._announce_chunk_size()

    def fc_unpublish(self, stream: str) -> float:
        """End an FMLE-style publish; the server answers onFCUnpublish, _result, onStatus."""
        self._transition("fc_unpublish")
        return self._command(rm.FC_UNPUBLISH, stream, stream_id=self.stream_id,
                             csid=CSID_OVER_STREAM, expect_result=False)

    def call(self, name: str, *args: Any, command_object: Any = None) -> float:
        """Any other command (e.g. _checkbw); its _result is not reported."""
        self._transition("call")
        return self._command(name, *args, command_object=command_object, expect_result=False)

    def send_media(self, msg: Message) -> None:
        self._transition("send_media")
        self._out.append(self.encoder.encode(msg.kind, msg.ts_ms, self.stream_id, msg.payload,
                                             csid_for_kind(msg.kind)))

    def send_media_batch(self, msgs, ts_base: int = 0) -> None:
        self._transition("send_media")
        self._out.append(self.encoder.encode_media(msgs, ts_base, self.stream_id))

    # -------------------------------------------------------------- server messages
    def _media_allowed(self) -> bool:
        return self.state is not C.INIT and self.state is not C.CLOSED

    def _on_command(self, cmd: rm.Command, raw, events: list) -> None:
        name = cmd.name
        if name == rm.RESULT or name == rm.ERROR:
            request = self._pending.pop(cmd.transaction_id, None)
            if request == rm.CONNECT:
                ok = name == rm.RESULT
                info = cmd.arg(0)
                self.server_info = info
                self._transition("connect_ok" if ok else "connect_rejected")
                events.append(ConnectResult(ok, info))
                if not ok:
                    events.append(Close())
            elif request == rm.CREATE_STREAM:
                if name == rm.ERROR:
                    raise RtmpError(f"createStream refused: {cmd.arg(0)!r}")
                sid = cmd.arg(0)
                if isinstance(sid, bool) or not isinstance(sid, (int, float)):
                    raise RtmpError(f"createStream _result without a stream id: {cmd!r}")
                self._transition("stream_created")
                self.stream_id = int(sid)
                events.append(StreamCreated(self.stream_id))
            else:
                log.info("client: %s for tid=%s (%s)", name, cmd.transaction_id, request)
        elif name == rm.ON_STATUS:
            self._on_status(cmd.arg(0), events)
        elif name == "close":
            self.state = C.CLOSED
            events.append(Close())
        else:
            # onBWDone, onFCPublish, onFCUnpublish, |RtmpSampleAccess...: nothing to do
            log.info("client: ignore %s", name)

    def _on_status(self, info: Any, events: list) -> None:
        if not isinstance(info, dict):
            raise RtmpError(f"onStatus without an info object: {info!r}")
        code = info.get("code", "")
        level = info.get("level", "")
        if code == rm.CONNECT_REJECTED and self.state is C.CONNECTING:
            self._pending.pop(1.0, None)
            self._transition("connect_rejected")
            events.append(ConnectResult(False, info))
            events.append(Close())
            return
        events.append(Status(code, level, info.get("description", ""), info))

    def _on_other_data(self, values: list, events: list) -> None:
        if len(values) >= 2 and values[0] == rm.ON_STATUS and isinstance(values[1], dict):
            info = values[1]
            events.append(Status(info.get("code", ""), info.get("level", ""),
                                 info.get("description", ""), info))
