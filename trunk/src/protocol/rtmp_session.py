"""What the RTMP server and client sessions share: events, acknowledgements, pings, media.

``Session`` owns the chunk decoder/encoder of one connection and the output queue. Each
``receive_data`` call parses chunks, handles the protocol-control traffic itself (the peer's
window ack size, pings, Set Peer Bandwidth; Set Chunk Size and Abort were applied by the
decoder), splits aggregate messages into FLV tags, normalises metadata (``@setDataFrame`` is
stripped, the object re-encoded as ``onMetaData, {object}`` as SRS stores it) and hands commands
to the subclass. Acknowledgements go out once half of the peer's window arrived, as SRS does.
"""
from __future__ import annotations

import logging

from srs.kernel.errors import ERROR_RTMP_AGGREGATE, RtmpError
from srs.kernel.message import (MSG_ACK, MSG_AGGREGATE, MSG_AMF0_COMMAND, MSG_AMF0_DATA,
                                MSG_AMF3_COMMAND, MSG_AMF3_DATA, MSG_AUDIO, MSG_SET_PEER_BANDWIDTH,
                                MSG_USER_CONTROL, MSG_VIDEO, MSG_WINDOW_ACK_SIZE, Message)
from srs.protocol import rtmp_message as rm
from srs.protocol.request import Request
from srs.protocol.rtmp_chunk import (CSID_PROTOCOL_CONTROL, DEFAULT_CHUNK_SIZE, ChunkDecoder,
                                     ChunkEncoder)

log = logging.getLogger(__name__)

# SRS's defaults (srs_app_rtmp_conn.cpp): window ack size and peer bandwidth sent after connect
WINDOW_ACK_SIZE = 2500000
PEER_BANDWIDTH = 2500000

_MSG_SET_CHUNK_SIZE = 1
_MASK32 = 0xFFFFFFFF


# ------------------------------------------------------------------------------------- events
class Event:
    """Base of session events: slots only, printable and comparable by value (for tests)."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class ConnectRequest(Event):
    """connect: answer with accept_connect or reject_connect."""
    __slots__ = ("request", "command")

    def __init__(self, request: Request, command: rm.Command):
        self.request = request
        self.command = command


class CreateStream(Event):
    """createStream: answer with reply_create_stream(tid)."""
    __slots__ = ("tid",)

    def __init__(self, tid: float):
        self.tid = tid


class ReleaseStream(Event):
    """releaseStream (FMLE, ffmpeg, OBS): answer with reply_release_stream(tid)."""
    __slots__ = ("stream", "tid")

    def __init__(self, stream: str, tid: float):
        self.stream = stream
        self.tid = tid


class FCPublish(Event):
    """FCPublish: answer with reply_fcpublish(tid)."""
    __slots__ = ("stream", "tid")

    def __init__(self, stream: str, tid: float):
        self.stream = stream
        self.tid = tid


class PublishRequest(Event):
    """publish: ``kind`` is "fmle" (releaseStream/FCPublish came first), "haivision" (FCPublish
    after createStream) or "flash"; answer with start_fmle_publish (fmle, haivision) or
    start_flash_publish."""
    __slots__ = ("stream", "kind", "tid", "type")

    def __init__(self, stream: str, kind: str, tid: float = 0.0, type: str = "live"):
        self.stream = stream
        self.kind = kind
        self.tid = tid
        self.type = type


class PlayRequest(Event):
    """play: answer with start_play or on_play_error. start -2 = live or recorded, -1 = live
    only (ffmpeg sends -2000 / -1000 in ms); duration -1 = until the end."""
    __slots__ = ("stream", "start", "duration", "reset", "tid")

    def __init__(self, stream: str, start: float = -2.0, duration: float = -1.0,
                 reset: bool = True, tid: float = 0.0):
        self.stream = stream
        self.start = start
        self.duration = duration
        self.reset = reset
        self.tid = tid


class Pause(Event):
    """pause while playing: answer with on_pause(is_pause)."""
    __slots__ = ("is_pause", "time_ms")

    def __init__(self, is_pause: bool, time_ms: float):
        self.is_pause = is_pause
        self.time_ms = time_ms


class FCUnpublish(Event):
    """FMLE unpublish; the session already queued onFCUnpublish + _result + Unpublish.Success.
    The connection is back to identify: the client may publish again."""
    __slots__ = ("stream", "tid")

    def __init__(self, stream: str, tid: float):
        self.stream = stream
        self.tid = tid


class CloseStream(Event):
    """closeStream: a player stops (back to identify), or a Flash publisher unpublishes."""
    __slots__ = ("tid",)

    def __init__(self, tid: float = 0.0):
        self.tid = tid


class DeleteStream(Event):
    __slots__ = ("stream_id", "tid")

    def __init__(self, stream_id: float = 0.0, tid: float = 0.0):
        self.stream_id = stream_id
        self.tid = tid


class Media(Event):
    """Audio, video, or onMetaData (re-encoded as ``onMetaData, {object}``) to publish/play."""
    __slots__ = ("message",)

    def __init__(self, message: Message):
        self.message = message


class UnknownCall(Event):
    """A call SRS does not implement (_checkbw, FCSubscribe, receiveAudio...); already answered
    with a null _result when its transaction id is not zero."""
    __slots__ = ("command",)

    def __init__(self, command: rm.Command):
        self.command = command


class GetStreamLength(Event):
    """getStreamLength (JW Player, ffmpeg): already answered with a null _result."""
    __slots__ = ("stream", "tid")

    def __init__(self, stream: str, tid: float):
        self.stream = stream
        self.tid = tid


class Play2(Event):
    """play2 (bitrate switching): not supported; answered like a call and otherwise ignored."""
    __slots__ = ("command",)

    def __init__(self, command: rm.Command):
        self.command = command


# ------------------------------------------------------------------------------- shared base
def split_aggregate(raw) -> list:
    """The FLV tags inside an aggregate message (type 22) as ``(type, ts_ms, payload)``.

    As SRS's on_aggregate: the first sub-tag's timestamp is mapped onto the aggregate's and the
    others keep their distance to it; the trailing previous-tag-size of each tag is skipped.
    """
    data = raw.payload
    n = len(data)
    p = 0
    delta = None
    out = []
    while p < n:
        if p + 11 > n:
            raise RtmpError(f"aggregate: truncated tag header at {p}", code=ERROR_RTMP_AGGREGATE)
        mtype = data[p]
        size = (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]
        ts = ((data[p + 4] << 16) | (data[p + 5] << 8) | data[p + 6] | (data[p + 7] << 24))
        ts &= 0x7FFFFFFF
        p += 11
        if p + size + 4 > n:
            raise RtmpError(f"aggregate: tag of {size} bytes overruns the message",
                            code=ERROR_RTMP_AGGREGATE)
        if delta is None:
            delta = raw.ts_ms - ts
        out.append((mtype, (ts + delta) & _MASK32, data[p:p + size]))
        p += size + 4
    return out


class Session:
    """What both ends do alike: chunking, acknowledgements, pings, media and metadata."""

    def __init__(self, out_chunk_size: int):
        self.decoder = ChunkDecoder()
        # The peer reads 128-byte chunks until we send Set Chunk Size.
        self.encoder = ChunkEncoder(DEFAULT_CHUNK_SIZE)
        self.out_chunk_size = out_chunk_size
        self.in_window_ack_size = 0   # the peer's window: we acknowledge every half of it
        self.peer_bandwidth = 0
        self.peer_acked_bytes = 0     # the last sequence number the peer acknowledged
        self.buffer_length_ms = 0     # from the peer's SetBufferLength
        self._acked_at = 0
        self._out: list = []

    # -------------------------------------------------------------- output
    def data_to_send(self) -> bytes:
        """Everything queued so far (replies, acks, control), in order; then the queue is empty."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def queue_bytes(self, data: bytes) -> None:
        """Queue bytes already encoded with ``.encoder`` (e.g. a media batch) after the rest."""
        self._out.append(data)

    def _send(self, mtype: int, payload: bytes, csid: int, stream_id: int = 0) -> None:
        self._out.append(self.encoder.encode(mtype, 0, stream_id, payload, csid))

    def _send_control(self, mtype: int, payload: bytes) -> None:
        self._send(mtype, payload, CSID_PROTOCOL_CONTROL, 0)

    def _send_chunk_size(self, n: int) -> None:
        """Announce and switch the outgoing chunk size (the announcement itself is 4 bytes)."""
        self._send_control(_MSG_SET_CHUNK_SIZE, rm.set_chunk_size(n))
        self.encoder.set_chunk_size(n)
        self.out_chunk_size = n

    # -------------------------------------------------------------- input
    def receive_data(self, data) -> list:
        events: list = []
        for raw in self.decoder.receive_data(data):
            self._on_raw(raw, events)
        self._maybe_ack()
        return events

    def _maybe_ack(self) -> None:
        # SRS acknowledges once half the peer's window arrived (response_acknowledgement_message):
        # early enough that a peer waiting for a full window never stalls.
        window = self.in_window_ack_size
        if window <= 0:
            return
        received = self.decoder.bytes_received
        if received - self._acked_at < window // 2:
            return
        self._acked_at = received
        self._send_control(MSG_ACK, rm.acknowledgement(received & _MASK32))

    def _on_raw(self, raw, events: list) -> None:
        t = raw.type
        if t == MSG_VIDEO or t == MSG_AUDIO:
            if self._media_allowed():
                events.append(Media(Message.make(t, raw.ts_ms, raw.payload, raw.stream_id)))
            else:
                log.info("ignore media type=%d before publish/play", t)
        elif t == MSG_AMF0_COMMAND or t == MSG_AMF3_COMMAND:
            self._on_command(rm.decode_command(raw), raw, events)
        elif t == MSG_AMF0_DATA or t == MSG_AMF3_DATA:
            if self._media_allowed():
                self._on_data(rm.decode_data_raw(raw), raw.ts_ms, raw.stream_id, events)
            else:
                log.info("ignore data message before publish/play")
        elif t == MSG_AGGREGATE:
            if self._media_allowed():
                self._on_aggregate(raw, events)
        elif t == MSG_USER_CONTROL:
            uc = rm.UserControl.decode(raw.payload)
            if uc.event == rm.UC_PING_REQUEST:
                self._send_control(MSG_USER_CONTROL, rm.ping_response(uc.data))
            elif uc.event == rm.UC_SET_BUFFER_LENGTH:
                self.buffer_length_ms = uc.extra
            self._on_user_control(uc, events)
        elif t == MSG_WINDOW_ACK_SIZE:
            size = rm.decode_u32(raw.payload, "window ack size")
            if 0 < size <= 0x7FFFFFFF:
                self.in_window_ack_size = size
            else:
                log.warning("ignore window ack size %d", size)
        elif t == MSG_ACK:
            self.peer_acked_bytes = rm.decode_u32(raw.payload, "acknowledgement")
        elif t == MSG_SET_PEER_BANDWIDTH:
            self.peer_bandwidth = rm.decode_set_peer_bandwidth(raw.payload)[0]
        # set chunk size and abort were applied by the decoder; shared objects are not supported

    def _on_data(self, values: list, ts_ms: int, stream_id: int, events: list) -> None:
        metadata = rm.metadata_of(values)
        if metadata is not None:
            events.append(Media(Message(MSG_AMF0_DATA, ts_ms, rm.encode_metadata(metadata),
                                        stream_id)))
        else:
            self._on_other_data(values, events)

    def _on_aggregate(self, raw, events: list) -> None:
        for mtype, ts, payload in split_aggregate(raw):
            if mtype == MSG_AUDIO or mtype == MSG_VIDEO:
                events.append(Media(Message.make(mtype, ts, payload, raw.stream_id)))
            elif mtype == MSG_AMF0_DATA:
                self._on_data(rm.decode_data(payload), ts, raw.stream_id, events)

    # -------------------------------------------------------------- hooks
    def _media_allowed(self) -> bool:
        return True

    def _on_command(self, cmd: rm.Command, raw, events: list) -> None:
        raise NotImplementedError

    def _on_other_data(self, values: list, events: list) -> None:
        log.info("ignore data message %r", values[0] if values else None)

    def _on_user_control(self, uc: rm.UserControl, events: list) -> None:
        pass
