"""Shared remuxers for HTTP TS/AAC/MP3 live players.

One remuxer per source, format and framing (chunked or not) is the ``SharedEncoder`` of one group
of the source (``LiveSource.attach(..., shared=True)``); unlike an FLV/RTMP encoder it is
stateful: it turns each merged-write batch into TS packets (or ADTS / MP3 frames) once, and every
player of that group gets the same bytes, so the TS continuity counters are right for all of them.
The TS remuxer writes PAT/PMT before every keyframe and keeps the bytes since the last keyframe, so a
player that joins later (``join()``) starts with PAT/PMT + a keyframe, continuing the same counter
sequence as everyone else.

The PMT names the stream's real audio codec: a TS remux created before the publisher's first
audio message (a player waiting for the stream) holds the messages since the last keyframe until
an audio message tells the codec, or until TS_AUDIO_WAIT_MS of video came without any (then the
TS has no audio track). ``.aac`` and ``.mp3`` carry only their own codec: a player whose stream
turns out to have other audio, or no audio in TS_AUDIO_WAIT_MS of video, is told so in the log
and closed (``audio_mismatch`` lets the HTTP handler refuse it up front when the codec is known).
"""
from __future__ import annotations

import logging
from typing import List, Optional

from srs.app.live.encoders import SharedEncoder
from srs.app.live.source import Consumer, LiveSource
from srs.kernel.aac import AdtsMuxer
from srs.kernel.codec import ACODEC_AAC, ACODEC_MP3
from srs.kernel.flv_to_ts import FlvToTs
from srs.kernel.message import Message
from srs.kernel.mp3 import Mp3Muxer
from srs.protocol.http import chunk

log = logging.getLogger(__name__)

# Seconds of audio an AAC/MP3 player gets at once when it joins (SRS's fast_cache).
MAX_AUDIO_BURST_MSGS = 400
TS_AUDIO_WAIT_MS = 3000      # video this long without audio: TS without audio, .aac/.mp3 closed
MAX_PENDING_MSGS = 3000      # bound on what a TS remux holds while the audio codec is unknown
TS_AUDIO = {ACODEC_AAC: "aac", ACODEC_MP3: "mp3"}
AUDIO_ONLY = {"aac": ACODEC_AAC, "mp3": ACODEC_MP3}
CODEC_NAMES = {ACODEC_AAC: "AAC", ACODEC_MP3: "MP3"}


def audio_mismatch(codec_id: Optional[int], fmt: str) -> str:
    """Why an ``.aac``/``.mp3`` player cannot get a stream with audio ``codec_id`` ("" if it can,
    or if the codec is not known yet)."""
    want = AUDIO_ONLY.get(fmt)
    if want is None or codec_id is None or codec_id == want:
        return ""
    have = CODEC_NAMES.get(codec_id, f"FLV sound format {codec_id}")
    return f"the stream's audio is {have}, .{fmt} needs {CODEC_NAMES[want]} audio"


def _frame(data: bytes, chunked: bool) -> bytes:
    return chunk(data) if chunked else data


class RemuxEncoder:
    """A ``SharedEncoder``: one remuxer per source, format and framing; ``refused`` says why it
    cannot serve this stream (the source then closes its players)."""

    __slots__ = ("fmt", "chunked", "remuxer", "since_key", "burst_limit", "url", "pending",
                 "video_since_ms", "refused", "audio_seen")

    def __init__(self, fmt: str, chunked: bool, source: LiveSource, fast_cache_s: float):
        self.fmt = fmt
        self.chunked = chunked
        self.url = source.url
        self.since_key: List[bytes] = []
        self.burst_limit = int(fast_cache_s * 50) if fmt != "ts" else 0
        self.pending: Optional[List[Message]] = None   # TS: held until the audio codec is known
        self.video_since_ms: Optional[int] = None
        self.refused = ""                               # .aac/.mp3: why this stream cannot play
        self.audio_seen = False
        if fmt == "ts":
            self.remuxer = None
            if source.audio_codec_id is not None:
                self._start_ts(source.audio_codec_id)
            else:
                self.pending = []
        elif fmt == "aac":
            self.remuxer = AdtsMuxer()
        else:
            self.remuxer = Mp3Muxer()
        # Prime with what the source already has, so the first player starts at once.
        primer = [m for m in (source.meta, source.video_sh, source.audio_sh) if m is not None]
        self.encode(primer + list(source.gop), 0)

    def _start_ts(self, codec_id: Optional[int]) -> None:
        acodec = TS_AUDIO.get(codec_id) if codec_id is not None else None
        if codec_id is not None and acodec is None:
            log.warning("HTTP ts %s: audio codec %d cannot go into TS, video only", self.url, codec_id)
        self.remuxer = FlvToTs(vcodec="h264", acodec=acodec)
        log.info("HTTP ts %s: remux with audio %s", self.url, acodec or "none")

    def _wait_audio(self, batch: List[Message]) -> List[Message]:
        """TS before the audio codec is known: hold the messages since the stream's start, or
        since the last keyframe after that (and the headers); once decided, what to remux now."""
        pending = self.pending
        codec_id = None
        decided = False
        for msg in batch:
            if msg.is_video and msg.keyframe and not msg.seq_header:
                if self.video_since_ms is None:   # the stream's start: keep the audio before it
                    self.video_since_ms = msg.ts_ms
                else:
                    pending[:] = [m for m in pending if m.seq_header or not m.is_av]
            pending.append(msg)
            if msg.is_audio and msg.payload and not decided:
                codec_id, decided = msg.payload[0] >> 4, True
            elif (msg.is_video and self.video_since_ms is not None
                  and msg.ts_ms - self.video_since_ms >= TS_AUDIO_WAIT_MS):
                decided = True
        if len(pending) > MAX_PENDING_MSGS:
            decided = True
        if not decided:
            return []
        self.pending = None
        self._start_ts(codec_id)
        return pending

    def _refuse(self, why: str) -> None:
        """An .aac/.mp3 remux of a stream with other audio or none: it encodes nothing from now on,
        and the source closes every player of it (``LiveSource`` reads ``refused``)."""
        log.warning("HTTP %s of %s: %s", self.fmt, self.url, why)
        self.refused = why

    def encode(self, batch: List[Message], _base: int) -> bytes:
        if self.refused:
            return b""
        if self.pending is not None:
            batch = self._wait_audio(batch)
        out = []
        remuxer = self.remuxer
        for msg in batch:
            if self.fmt == "ts":
                if msg.keyframe and msg.is_video and not msg.seq_header:
                    self.since_key = []
                    head = remuxer.pat_pmt()
                    if head:
                        self.since_key.append(head)
                        out.append(head)
            elif not msg.is_audio:
                if msg.is_video and not self.audio_seen:
                    if self.video_since_ms is None:
                        self.video_since_ms = msg.ts_ms
                    elif msg.ts_ms - self.video_since_ms >= TS_AUDIO_WAIT_MS:
                        self._refuse(f"the stream has no audio for .{self.fmt}")
                        return b""
                continue
            elif msg.payload:
                self.audio_seen = True
                why = audio_mismatch(msg.payload[0] >> 4, self.fmt)
                if why:
                    self._refuse(why)
                    return b""
            data = remuxer.on_message(msg)
            if data:
                out.append(data)
                if self.fmt == "ts":
                    self.since_key.append(data)
                elif self.burst_limit:
                    self.since_key.append(data)
                    if len(self.since_key) > self.burst_limit:
                        del self.since_key[: len(self.since_key) - self.burst_limit]
        return _frame(b"".join(out), self.chunked)

    def join(self) -> bytes:
        """A new player's first bytes: PAT/PMT and the TS since the last keyframe, or the last
        ``fast_cache`` seconds of audio; nothing once refused."""
        if self.refused:
            return b""
        return _frame(b"".join(self.since_key), self.chunked)


def attach_remux_player(src: LiveSource, consumer: Consumer, fmt: str, chunked: bool,
                        fast_cache_s: float) -> None:
    """Attach a TS/AAC/MP3 player to the source's shared remux of that format and framing."""
    def make_encoder() -> SharedEncoder:
        return RemuxEncoder(fmt, chunked, src, fast_cache_s)
    src.attach(consumer, (fmt, chunked), make_encoder, shared=True)
