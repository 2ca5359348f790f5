"""Sans-IO RTMP sessions after the handshake: bytes in -> events, actions -> bytes out.

The one import point for the app: ``ServerSession`` (rtmp_stack_server), ``ClientSession``
(rtmp_stack_client) and their events (rtmp_session). Typical server loop::

    session = ServerSession(out_chunk_size=60000)
    for event in session.receive_data(sock.recv(...)):
        if isinstance(event, ConnectRequest): ... session.accept_connect(ip, pid, cid)
        elif isinstance(event, PlayRequest): ... session.start_play()
        ...
    sock.sendall(session.data_to_send())

Process the events of one call in order: replies queue in the order the actions are taken.
Media for players is encoded with ``session.encoder.encode_media(batch, base, stream_id)``
after draining ``data_to_send()`` (or queued behind it with ``queue_bytes``).
"""
from __future__ import annotations

from srs.protocol.rtmp_session import (PEER_BANDWIDTH, WINDOW_ACK_SIZE, CloseStream,
                                       ConnectRequest, CreateStream, DeleteStream, Event,
                                       FCPublish, FCUnpublish, GetStreamLength, Media, Pause,
                                       Play2, PlayRequest, PublishRequest, ReleaseStream, Session,
                                       UnknownCall, split_aggregate)
from srs.protocol.rtmp_stack_client import (ClientSession, ClientState, Close, ConnectResult,
                                            Status, StreamCreated)
from srs.protocol.rtmp_stack_server import ServerSession, ServerState

__all__ = [
    "PEER_BANDWIDTH", "WINDOW_ACK_SIZE", "Event", "Session", "split_aggregate",
    # server side
    "ServerSession", "ServerState", "ConnectRequest", "CreateStream", "ReleaseStream",
    "FCPublish", "PublishRequest", "PlayRequest", "Pause", "FCUnpublish", "CloseStream",
    "DeleteStream", "Media", "UnknownCall", "GetStreamLength", "Play2",
    # client side
    "ClientSession", "ClientState", "ConnectResult", "StreamCreated", "Status", "Close",
]
