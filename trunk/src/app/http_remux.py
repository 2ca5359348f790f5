"""Shared remuxers for HTTP TS/AAC/MP3 live players.

One remuxer per source, format and framing (chunked or not) lives in the source's groups like
an FLV/RTMP group, but its ``encode`` is stateful: it turns each merged-write batch into TS
packets (or ADTS / MP3 frames) once, and every player of that group gets the same bytes, so the TS
continuity counters are right for all of them. The TS remuxer writes PAT/PMT before every
keyframe and keeps the bytes since the last keyframe, so a player that joins later starts with
PAT/PMT + a keyframe, continuing the same counter sequence as everyone else.
"""
from __future__ import annotations

import logging
from typing import List

from srs.app.source import Consumer, Group, LiveSource
from srs.kernel.message import Message

log = logging.getLogger(__name__)

# Seconds of audio an AAC/MP3 player gets at once when it joins (SRS's fast_cache).
MAX_AUDIO_BURST_MSGS = 400


def _frame(data: bytes, chunked: bool) -> bytes:
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data


class RemuxGroup(Group):
    __slots__ = ("fmt", "chunked", "remuxer", "since_key", "burst_limit")

    def __init__(self, key, fmt: str, chunked: bool, source: LiveSource, fast_cache_s: float):
        super().__init__(key, self._encode)
        self.fmt = fmt
        self.chunked = chunked
        self.since_key: List[bytes] = []
        self.burst_limit = int(fast_cache_s * 50) if fmt != "ts" else 0
        if fmt == "ts":
            from srs.kernel.flv_to_ts import FlvToTs
            acodec = "mp3" if source.audio_codec_id == 2 else "aac"
            self.remuxer = FlvToTs(vcodec="h264", acodec=acodec)
        elif fmt == "aac":
            from srs.kernel.aac import AdtsMuxer
            self.remuxer = AdtsMuxer()
        else:
            from srs.kernel.mp3 import Mp3Muxer
            self.remuxer = Mp3Muxer()
        # Prime with what the source already has, so the first player starts at once.
        primer = [m for m in (source.meta, source.video_sh, source.audio_sh) if m is not None]
        self._encode(primer + list(source.gop), 0)

    def _encode(self, batch: List[Message], _base: int) -> bytes:
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
            elif self.fmt == "aac" and not msg.is_audio:
                continue
            elif self.fmt == "mp3" and not msg.is_audio:
                continue
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

    def burst(self) -> bytes:
        return _frame(b"".join(self.since_key), self.chunked)


def attach_remux_player(src: LiveSource, cid: int, output, fmt: str, chunked: bool, vc) -> Consumer:
    key = (fmt + ("-chunked" if chunked else ""), 0, 0)
    group = src.groups.get(key)
    if group is None:
        remux_cfg = getattr(vc, "http_remux", None)
        fast_cache = float(getattr(remux_cfg, "fast_cache", 0) or 0)
        group = src.groups[key] = RemuxGroup(key, fmt, chunked, src, fast_cache)
    c = Consumer(cid, output, key[0], 0)
    c.group = group
    c.source = src
    group.members.append(c)
    src.consumers.append(c)
    data = group.burst()
    if data:
        output.write(data)
    return c
