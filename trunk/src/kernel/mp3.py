"""Messages -> raw MP3 frames (HTTP live ``.mp3``), optionally after SRS's empty ID3v2 tag."""
from __future__ import annotations

from srs.kernel.codec import ACODEC_MP3
from srs.kernel.message import MSG_AUDIO, Message

# What SRS's SrsMp3Encoder::write_header sends first: an ID3v2.3 tag holding one empty frame.
ID3_HEADER = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10


class Mp3Muxer:
    def __init__(self):
        self.dropped = 0

    @staticmethod
    def header() -> bytes:
        return ID3_HEADER

    def on_message(self, msg: Message) -> bytes:
        payload = msg.payload
        if msg.kind != MSG_AUDIO or len(payload) < 2:
            return b""
        if payload[0] >> 4 != ACODEC_MP3:
            self.dropped += 1
            return b""
        return payload[1:]

    def on_messages(self, msgs) -> bytes:
        return b"".join([self.on_message(m) for m in msgs])
