"""Sans-IO RTMP server session (SRS's SrsRtmpServer + SrsProtocol without sockets).

``receive_data`` parses chunks, answers what needs no decision (acknowledgements, pings, the
FMLE unpublish sequence, null ``_result`` for calls SRS does not implement) and returns the rest
as events; the app answers those with actions (``accept_connect``, ``start_play``...), each
queueing SRS's exact replies in SRS's order. ``data_to_send`` drains everything queued.

Which command is valid when is a table: ``(state, command) -> next state``. A command the table
does not know for the current state raises RtmpError when it is a stream-structure command
(connect twice, publish before createStream, play while publishing...); any other command is a
plain call, answered like SRS with a null ``_result`` when its transaction id is not zero.
"""
from __future__ import annotations

import enum
import logging

from srs.kernel.errors import RtmpError, SrsError
from srs.kernel.message import (MSG_AMF0_COMMAND, MSG_AMF0_DATA, MSG_SET_PEER_BANDWIDTH,
                                MSG_USER_CONTROL, MSG_WINDOW_ACK_SIZE)
from srs.protocol import rtmp_message as rm
from srs.protocol.request import Request
from srs.protocol.rtmp_chunk import CSID_OVER_CONNECTION, CSID_OVER_STREAM
from srs.protocol.rtmp_session import (PEER_BANDWIDTH, WINDOW_ACK_SIZE, CloseStream,
                                       ConnectRequest, CreateStream, DeleteStream, FCPublish,
                                       FCUnpublish, GetStreamLength, Pause, Play2, PlayRequest,
                                       PublishRequest, ReleaseStream, Session, UnknownCall)

log = logging.getLogger(__name__)


class ServerState(enum.Enum):
    WAIT_CONNECT = "wait-connect"
    CONNECTED = "connected"            # identify: waiting for createStream/play/releaseStream...
    STREAM_CREATED = "stream-created"
    PLAYING = "playing"
    PUBLISHING = "publishing"
    CLOSED = "closed"


S = ServerState

# Commands that shape the session; out of place they are a protocol error, not a call.
_STRUCTURAL = frozenset((rm.CONNECT, rm.CREATE_STREAM, rm.PLAY, rm.PUBLISH, rm.RELEASE_STREAM,
                         rm.FC_PUBLISH, rm.FC_UNPUBLISH, rm.PAUSE, rm.CLOSE_STREAM,
                         rm.DELETE_STREAM))

# (state, command) -> next state. Commands SRS ignores in a state map to that same state and
# their handler does nothing (e.g. a second play while playing).
_TRANSITIONS = {
    (S.WAIT_CONNECT, rm.CONNECT): S.CONNECTED,

    (S.CONNECTED, rm.RELEASE_STREAM): S.CONNECTED,
    (S.CONNECTED, rm.FC_PUBLISH): S.CONNECTED,
    (S.CONNECTED, rm.FC_UNPUBLISH): S.CONNECTED,
    (S.CONNECTED, rm.CREATE_STREAM): S.STREAM_CREATED,
    (S.CONNECTED, rm.PLAY): S.PLAYING,
    (S.CONNECTED, rm.PAUSE): S.CONNECTED,
    (S.CONNECTED, rm.CLOSE_STREAM): S.CONNECTED,
    (S.CONNECTED, rm.DELETE_STREAM): S.CONNECTED,

    (S.STREAM_CREATED, rm.CREATE_STREAM): S.STREAM_CREATED,
    (S.STREAM_CREATED, rm.RELEASE_STREAM): S.STREAM_CREATED,
    (S.STREAM_CREATED, rm.FC_PUBLISH): S.STREAM_CREATED,
    (S.STREAM_CREATED, rm.FC_UNPUBLISH): S.STREAM_CREATED,
    (S.STREAM_CREATED, rm.PLAY): S.PLAYING,
    (S.STREAM_CREATED, rm.PUBLISH): S.PUBLISHING,
    (S.STREAM_CREATED, rm.PAUSE): S.STREAM_CREATED,
    (S.STREAM_CREATED, rm.CLOSE_STREAM): S.CONNECTED,
    (S.STREAM_CREATED, rm.DELETE_STREAM): S.CONNECTED,

    (S.PLAYING, rm.PAUSE): S.PLAYING,
    (S.PLAYING, rm.PLAY): S.PLAYING,
    (S.PLAYING, rm.CLOSE_STREAM): S.CONNECTED,
    (S.PLAYING, rm.DELETE_STREAM): S.CONNECTED,

    (S.PUBLISHING, rm.FC_UNPUBLISH): S.CONNECTED,
    (S.PUBLISHING, rm.CLOSE_STREAM): S.CONNECTED,
    (S.PUBLISHING, rm.DELETE_STREAM): S.CONNECTED,
    (S.PUBLISHING, rm.RELEASE_STREAM): S.PUBLISHING,
    (S.PUBLISHING, rm.FC_PUBLISH): S.PUBLISHING,
}

# States in which each action may be taken (anything else is a bug in the caller).
_CONNECTED_STATES = frozenset((S.CONNECTED, S.STREAM_CREATED, S.PLAYING, S.PUBLISHING))
_ACTION_STATES = {
    "reply_create_stream": _CONNECTED_STATES,
    "reply_release_stream": _CONNECTED_STATES,
    "reply_fcpublish": _CONNECTED_STATES,
    "start_fmle_publish": frozenset((S.PUBLISHING,)),
    "start_flash_publish": frozenset((S.PUBLISHING,)),
    "start_play": frozenset((S.PLAYING,)),
    "on_pause": frozenset((S.PLAYING,)),
    "on_play_error": _CONNECTED_STATES,
    "redirect": _CONNECTED_STATES,  # H14: origin cluster RTMP 302
    "set_out_chunk_size": frozenset((S.WAIT_CONNECT,)) | _CONNECTED_STATES,
}


def _text(v) -> str:
    return v if isinstance(v, str) else ""


def _number(v, default: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return default
    return float(v)


class ServerSession(Session):
    """The server end of one RTMP connection, from the first chunk after the handshake."""

    def __init__(self, out_chunk_size: int = 60000, window_ack_size: int = WINDOW_ACK_SIZE,
                 ip: str = ""):
        super().__init__(out_chunk_size)
        self.window_ack_size = window_ack_size
        self.ip = ip
        self.state = S.WAIT_CONNECT
        self.request: Request | None = None
        self.stream_id = 1              # the id given by reply_create_stream
        self.publish_kind = ""
        self.publish_stream = ""
        self._connect_pending = False
        self._fmle_start = False        # releaseStream/FCPublish before createStream
        self._haivision = False         # FCPublish after createStream

    # -------------------------------------------------------------- commands in
    def _media_allowed(self) -> bool:
        return self.state is S.PUBLISHING

    def _on_command(self, cmd: rm.Command, raw, events: list) -> None:
        name = cmd.name
        nxt = _TRANSITIONS.get((self.state, name))
        if nxt is None:
            if name in _STRUCTURAL or self.state is S.WAIT_CONNECT or self.state is S.CLOSED:
                raise RtmpError(f"unexpected {name!r} in state {self.state.value}")
            self._on_call(cmd, events)
            return
        prev = self.state
        self.state = nxt
        getattr(self, "_cmd_" + name)(cmd, prev, events)

    def _on_call(self, cmd: rm.Command, events: list) -> None:
        name = cmd.name
        if name in (rm.RESULT, rm.ERROR, rm.ON_STATUS):
            log.info("ignore %s from client, tid=%s", name, cmd.transaction_id)
            return
        if cmd.transaction_id > 0:
            self._send(MSG_AMF0_COMMAND, rm.call_null_result(cmd.transaction_id),
                       CSID_OVER_CONNECTION)
        if name == rm.GET_STREAM_LENGTH:
            events.append(GetStreamLength(_text(cmd.arg(0)), cmd.transaction_id))
        elif name == rm.PLAY2:
            events.append(Play2(cmd))
        else:
            events.append(UnknownCall(cmd))

    def _cmd_connect(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        try:
            self.request = Request.from_connect(cmd.command_object, cmd.arg(0), self.ip)
        except Exception:
            self.state = S.CLOSED
            raise
        self._connect_pending = True
        log.info("connect app, tcUrl=%s", self.request.tc_url)
        events.append(ConnectRequest(self.request, cmd))

    def _cmd_releaseStream(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is S.PUBLISHING:
            return
        if prev is S.CONNECTED:
            self._fmle_start = True
        events.append(ReleaseStream(_text(cmd.arg(0)), cmd.transaction_id))

    def _cmd_FCPublish(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is S.PUBLISHING:
            return
        if prev is S.CONNECTED:
            self._fmle_start = True
        elif not self._fmle_start:
            self._haivision = True
        events.append(FCPublish(_text(cmd.arg(0)), cmd.transaction_id))

    def _cmd_createStream(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        events.append(CreateStream(cmd.transaction_id))

    def _cmd_publish(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        kind = "fmle" if self._fmle_start else ("haivision" if self._haivision else "flash")
        self.publish_kind = kind
        self.publish_stream = _text(cmd.arg(0))
        events.append(PublishRequest(self.publish_stream, kind, cmd.transaction_id,
                                     _text(cmd.arg(1)) or "live"))

    def _cmd_play(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is S.PLAYING:
            log.info("ignore play while playing")
            return
        reset = cmd.arg(3, True)
        if not isinstance(reset, bool):
            reset = bool(_number(reset, 1.0))
        events.append(PlayRequest(_text(cmd.arg(0)), _number(cmd.arg(1), -2.0),
                                  _number(cmd.arg(2), -1.0), reset, cmd.transaction_id))

    def _cmd_pause(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is not S.PLAYING:
            log.info("ignore pause when not playing")
            return
        events.append(Pause(bool(cmd.arg(0, False)), _number(cmd.arg(1), 0.0)))

    def _cmd_FCUnpublish(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        tid = cmd.transaction_id
        if prev is not S.PUBLISHING:
            # Before publishing SRS takes it as an FMLE start packet and answers _result.
            self._send(MSG_AMF0_COMMAND, rm.fmle_start_result(tid), CSID_OVER_CONNECTION)
            return
        sid = self.stream_id
        self._send(MSG_AMF0_COMMAND,
                   rm.on_status(rm.UNPUBLISH_SUCCESS, "Stop publishing stream.", None,
                                rm.ON_FC_UNPUBLISH), CSID_OVER_STREAM, sid)
        self._send(MSG_AMF0_COMMAND, rm.fmle_start_result(tid), CSID_OVER_CONNECTION, sid)
        self._send(MSG_AMF0_COMMAND,
                   rm.on_status(rm.UNPUBLISH_SUCCESS, "Stream is now unpublished",
                                clientid=rm.CLIENT_ID), CSID_OVER_STREAM, sid)
        self._end_publish()
        events.append(FCUnpublish(_text(cmd.arg(0)), tid))

    def _cmd_closeStream(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is S.PUBLISHING:
            self._end_publish()
        events.append(CloseStream(cmd.transaction_id))

    def _cmd_deleteStream(self, cmd: rm.Command, prev: ServerState, events: list) -> None:
        if prev is S.PUBLISHING:
            self._end_publish()
        events.append(DeleteStream(_number(cmd.arg(0), 0.0), cmd.transaction_id))

    def _end_publish(self) -> None:
        # back to identify: the same connection may publish again (SRS's republish loop)
        self._fmle_start = False
        self._haivision = False

    # -------------------------------------------------------------- actions
    def _require(self, action: str) -> None:
        if self.state not in _ACTION_STATES[action]:
            raise SrsError(f"{action} not allowed in state {self.state.value}")

    def accept_connect(self, server_ip: str | None = None, pid: int = 0, cid: int = 0,
                       object_encoding: float | None = None) -> None:
        """Window Ack Size -> Set Peer Bandwidth (dynamic) -> Set Chunk Size -> _result ->
        onBWDone."""
        if not self._connect_pending:
            raise SrsError(f"accept_connect without a pending connect (state {self.state.value})")
        self._connect_pending = False
        if object_encoding is None:
            object_encoding = self.request.object_encoding if self.request else 0.0
        self._send_control(MSG_WINDOW_ACK_SIZE, rm.window_ack_size(self.window_ack_size))
        self._send_control(MSG_SET_PEER_BANDWIDTH,
                           rm.set_peer_bandwidth(PEER_BANDWIDTH, rm.BANDWIDTH_DYNAMIC))
        self._send_chunk_size(self.out_chunk_size)
        self._send(MSG_AMF0_COMMAND, rm.connect_result(object_encoding, server_ip, pid, cid),
                   CSID_OVER_CONNECTION)
        self._send(MSG_AMF0_COMMAND, rm.on_bw_done(), CSID_OVER_CONNECTION)

    def reject_connect(self, description: str) -> None:
        """onStatus NetConnection.Connect.Rejected; the app closes the connection after sending."""
        if not self._connect_pending:
            raise SrsError(f"reject_connect without a pending connect (state {self.state.value})")
        self._connect_pending = False
        self._send(MSG_AMF0_COMMAND, rm.connect_rejected(description), CSID_OVER_STREAM)
        self.state = S.CLOSED

    def reply_create_stream(self, tid: float, stream_id: int = 1) -> None:
        self._require("reply_create_stream")
        self.stream_id = stream_id
        self._send(MSG_AMF0_COMMAND, rm.create_stream_result(tid, stream_id), CSID_OVER_CONNECTION)

    def reply_release_stream(self, tid: float) -> None:
        self._require("reply_release_stream")
        self._send(MSG_AMF0_COMMAND, rm.fmle_start_result(tid), CSID_OVER_CONNECTION)

    def reply_fcpublish(self, tid: float) -> None:
        self._require("reply_fcpublish")
        self._send(MSG_AMF0_COMMAND, rm.fmle_start_result(tid), CSID_OVER_CONNECTION)

    def start_fmle_publish(self, stream_id: int | None = None) -> None:
        """onFCPublish + onStatus NetStream.Publish.Start (FMLE and Haivision encoders)."""
        self._require("start_fmle_publish")
        sid = self.stream_id if stream_id is None else stream_id
        fc, status = rm.publish_start_replies()
        self._send(MSG_AMF0_COMMAND, fc, CSID_OVER_STREAM, sid)
        self._send(MSG_AMF0_COMMAND, status, CSID_OVER_STREAM, sid)

    def start_flash_publish(self, stream_id: int | None = None) -> None:
        """onStatus NetStream.Publish.Start only."""
        self._require("start_flash_publish")
        sid = self.stream_id if stream_id is None else stream_id
        self._send(MSG_AMF0_COMMAND, rm.publish_start_replies()[1], CSID_OVER_STREAM, sid)

    def start_play(self, stream_id: int | None = None, stream_name: str = "") -> None:
        """StreamBegin -> Play.Reset -> Play.Start -> |RtmpSampleAccess -> Data.Start."""
        self._require("start_play")
        sid = self.stream_id if stream_id is None else stream_id
        self._send_control(MSG_USER_CONTROL, rm.stream_begin(sid))
        self._send(MSG_AMF0_COMMAND,
                   rm.on_status(rm.PLAY_RESET, "Playing and resetting stream.", details="stream",
                                clientid=rm.CLIENT_ID), CSID_OVER_STREAM, sid)
        self._send(MSG_AMF0_COMMAND,
                   rm.on_status(rm.PLAY_START, "Started playing stream.", details="stream",
                                clientid=rm.CLIENT_ID), CSID_OVER_STREAM, sid)
        self._send(MSG_AMF0_DATA, rm.sample_access(True, True), CSID_OVER_STREAM, sid)
        self._send(MSG_AMF0_DATA, rm.on_status_data(rm.DATA_START), CSID_OVER_STREAM, sid)
        log.info("start play stream=%s, sid=%d", stream_name, sid)

    def on_pause(self, is_pause: bool, stream_id: int | None = None) -> None:
        """Pause.Notify + StreamEOF, or Unpause.Notify + StreamBegin."""
        self._require("on_pause")
        sid = self.stream_id if stream_id is None else stream_id
        if is_pause:
            self._send(MSG_AMF0_COMMAND, rm.on_status(rm.PAUSE_NOTIFY, "Paused stream."),
                       CSID_OVER_STREAM, sid)
            self._send_control(MSG_USER_CONTROL, rm.stream_eof(sid))
        else:
            self._send(MSG_AMF0_COMMAND, rm.on_status(rm.UNPAUSE_NOTIFY, "Unpaused stream."),
                       CSID_OVER_STREAM, sid)
            self._send_control(MSG_USER_CONTROL, rm.stream_begin(sid))

    def on_play_error(self, code: str, description: str, stream_id: int | None = None) -> None:
        """onStatus at level error (e.g. NetStream.Play.StreamNotFound)."""
        self._require("on_play_error")
        sid = self.stream_id if stream_id is None else stream_id
        self._send(MSG_AMF0_COMMAND, rm.on_status(code, description, rm.LEVEL_ERROR),
                   CSID_OVER_STREAM, sid)

    def redirect(self, tc_url: str, url: str) -> None:
        """H14: RTMP 302 of SRS 3's origin cluster: onStatus (stream 0) at level error, code
        NetConnection.Connect.Rejected, description "RTMP 302 Redirect", ``ex: {code: 302,
        redirect: tcUrl, redirect2: full rtmp url}``; the app closes after the client answers."""
        self._require("redirect")
        ex = {"code": 302.0, "redirect": tc_url, "redirect2": url}
        self._send(MSG_AMF0_COMMAND, rm.on_status(rm.CONNECT_REJECTED, "RTMP 302 Redirect", rm.LEVEL_ERROR, ex=ex),
                   CSID_OVER_STREAM, 0)

    def set_out_chunk_size(self, n: int) -> None:
        """Announce a new outgoing chunk size (vhost chunk_size) and encode with it from now on."""
        self._require("set_out_chunk_size")
        self._send_chunk_size(n)
