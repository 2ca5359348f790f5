"""The fan-out's encoder contract: what turns a merged-write batch into the bytes of one group.

A source groups its consumers by (key, timestamp base) and calls ``encode`` once per group per
tick; every member gets the same bytes. Who plays chooses the encoder, in one place per protocol:
the RTMP connection passes ``RtmpEncoder``, the HTTP live player (app/http/stream.py) passes FLV
tags (chunk-framed by the HTTP side) or a shared remux. The source knows no format names.
"""
from __future__ import annotations

from typing import List, Protocol

from srs.kernel import flv
from srs.kernel.message import Message
from srs.protocol.rtmp_chunk import ChunkEncoder


class Encoder(Protocol):
    """Bytes for a batch, timestamps shifted by ``base`` (the group's join point)."""

    def encode(self, batch: List[Message], base: int) -> bytes: ...


class SharedEncoder(Encoder, Protocol):
    """A stateful encoder whose bytes continue one stream for every member (a TS/AAC/MP3 remux):
    a member that joins late starts from ``join()``, not from the source's caches. ``refused`` is
    why it cannot serve this stream ("" while it can); the source then closes its members."""

    refused: str

    def join(self) -> bytes: ...


class RtmpEncoder:
    """RTMP chunks of one chunk size (message stream 1, as SRS's play stream)."""

    __slots__ = ("encode",)

    def __init__(self, chunk_size: int):
        # The bound method itself: the tick calls it without one more Python frame.
        self.encode = ChunkEncoder(chunk_size).encode_media


class FlvEncoder:
    """FLV tags without the file header (the HTTP side sends that, framed, before the first tick)."""

    __slots__ = ()

    encode = staticmethod(flv.encode_tags)
