"""SRS's RTMP bandwidth test packets (SrsBandwidthPacket) and a client session that reports them.

Every packet is an AMF0 command ``name, 0, null, {data}`` over the stream chunk stream. The test
(server side in srs.app.rtmp.bandcheck, client side in srs.main.librtmp.bandwidth_check)::

    server                                   client
    onSrsBandCheckStartPlayBytes {limit}  ->
                                          <- onSrsBandCheckStartingPlayBytes
    onSrsBandCheckPlaying {0:..,1:..} x N ->          (for duration_ms, at most limit_kbps)
    onSrsBandCheckStopPlayBytes {bytes}   ->
                                          <- onSrsBandCheckStoppedPlayBytes
    onSrsBandCheckStartPublishBytes       ->
                                          <- onSrsBandCheckStartingPublishBytes
                                          <- onSrsBandCheckPublishing x N, then StopPublishBytes
    onSrsBandCheckStopPublishBytes        ->
                                          <- onSrsBandCheckStoppedPublishBytes (not from Flash)
    onSrsBandCheckFinished {kbps, bytes}  ->
                                          <- finalClientPacket (not from Flash)
"""
from __future__ import annotations

from typing import Any, Dict

from srs.kernel.message import MSG_AMF0_COMMAND
from srs.protocol import rtmp_message as rm
from srs.protocol.rtmp_chunk import CSID_OVER_STREAM
from srs.protocol.rtmp_session import Event
from srs.protocol.rtmp_stack_client import ClientSession

START_PLAY = "onSrsBandCheckStartPlayBytes"
STARTING_PLAY = "onSrsBandCheckStartingPlayBytes"
STOP_PLAY = "onSrsBandCheckStopPlayBytes"
STOPPED_PLAY = "onSrsBandCheckStoppedPlayBytes"
START_PUBLISH = "onSrsBandCheckStartPublishBytes"
STARTING_PUBLISH = "onSrsBandCheckStartingPublishBytes"
STOP_PUBLISH = "onSrsBandCheckStopPublishBytes"
STOPPED_PUBLISH = "onSrsBandCheckStoppedPublishBytes"
FINISHED = "onSrsBandCheckFinished"
FINAL = "finalClientPacket"
PLAYING = "onSrsBandCheckPlaying"
PUBLISHING = "onSrsBandCheckPublishing"

NAMES = frozenset((START_PLAY, STARTING_PLAY, STOP_PLAY, STOPPED_PLAY, START_PUBLISH, STARTING_PUBLISH,
                   STOP_PUBLISH, STOPPED_PUBLISH, FINISHED, FINAL, PLAYING, PUBLISHING))

# The filler strings of the data packets (SRS's text); packet k carries 2k-1 of them.
PLAY_FILLER = "SRS band check data from server's playing......"
PUBLISH_FILLER = "SRS band check data from server's publishing......"


def encode_packet(name: str, data: Dict[str, Any] | None = None) -> bytes:
    """The command payload: ``name, 0, null, {data}``."""
    return rm.encode_command(name, 0.0, None, dict(data or {}))


def filler(count: int, text: str) -> Dict[str, str]:
    """The data object of a Playing/Publishing packet: ``{"0": text, ..., str(count-1): text}``."""
    return {str(i): text for i in range(count)}


def packet_data(cmd: rm.Command) -> Dict[str, Any]:
    """The data object of a received bandwidth packet ({} when absent or not an object)."""
    data = cmd.arg(0)
    return data if isinstance(data, dict) else {}


def number(data: Dict[str, Any], key: str, default: float = 0.0) -> float:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return default
    return float(v)


class BandwidthCall(Event):
    """A bandwidth packet from the server: its command name and data object."""
    __slots__ = ("name", "data")

    def __init__(self, name: str, data: Dict[str, Any]):
        self.name = name
        self.data = data


class BandwidthClientSession(ClientSession):
    """A ClientSession that reports the server's bandwidth packets as BandwidthCall events
    (the plain client ignores calls it does not know) and can send them."""

    def _on_command(self, cmd: rm.Command, raw, events: list) -> None:
        if cmd.name in NAMES:
            events.append(BandwidthCall(cmd.name, packet_data(cmd)))
            return
        super()._on_command(cmd, raw, events)

    def send_bandwidth(self, name: str, data: Dict[str, Any] | None = None) -> None:
        self._send(MSG_AMF0_COMMAND, encode_packet(name, data), CSID_OVER_STREAM)
