"""SRT publish: the MPEG-TS payloads of one SRT connection -> RTMP messages -> its live source.

No loopback RTMP hop (SRS 5 pushes to rtmp://127.0.0.1 from its SRT bridge): the connection is the
source's publisher itself, as an RTMP publisher is, so HLS, DVR, forward and every player see the
same messages (app/live/bridge.py, which also puts them in time order). TS stream types: H.264
(0x1b), HEVC (0x24, as SRS 6; published as Enhanced RTMP ``hvc1``) and AAC/ADTS (0x0f); others are
logged once and ignored.
A video PES usually has no length: it is complete when the next one starts, or at ``close``.
"""
from __future__ import annotations

import logging

from srs.app.live.bridge import BridgePublisher
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO
from srs.kernel.raw_muxer import AacRawMuxer, AvcRawMuxer
from srs.kernel.raw_muxer_hevc import HevcRawMuxer
from srs.kernel.ts_demux import TsDemuxer

log = logging.getLogger(__name__)

STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_HEVC = 0x24
STREAM_TYPE_AAC = 0x0F
KINDS = {STREAM_TYPE_H264: MSG_VIDEO, STREAM_TYPE_HEVC: MSG_VIDEO, STREAM_TYPE_AAC: MSG_AUDIO}


class TsPublisher(BridgePublisher):
    """Feeds one LiveSource (already ``on_publish``-ed by the caller) from TS payloads."""

    def __init__(self, source, stats, req):
        super().__init__(source, stats, req, "SRT publish")
        self.demuxer = TsDemuxer()
        self.video = AvcRawMuxer()
        self.hevc = HevcRawMuxer()
        self.audio = AacRawMuxer()
        self._streams: dict = {}
        self._unsupported: set = set()
        self.ts_errors = 0

    def on_payloads(self, payloads) -> None:
        frames = []
        demuxer = self.demuxer
        errors = demuxer.errors
        for p in payloads:
            frames += demuxer.receive_data(p)
        if demuxer.errors != errors:
            self.ts_errors = demuxer.errors
            log.warning("SRT publish %s: %d TS errors so far (loss or garbage), go on",
                        self.source.url, demuxer.errors)
        if demuxer.streams != self._streams:
            self._streams = dict(demuxer.streams)
            self.interleaver.expect(KINDS[t] for t in self._streams.values() if t in KINDS)
        if frames:
            self._publish(frames)

    def close(self) -> None:
        """The end of the stream: what the demuxer and the interleaver still hold goes out."""
        self._publish(self.demuxer.flush(), final=True)

    def _publish(self, frames, final: bool = False) -> None:
        msgs = []
        for f in frames:
            try:
                msgs += self._frame(f)
            except CodecError as e:
                log.warning("SRT publish %s: drop a frame of pid %#x: %s", self.source.url, f.pid, e)
        self.publish(msgs, final)

    def _frame(self, f) -> list:
        if f.pts is None:
            return []
        if f.stream_type == STREAM_TYPE_H264:
            return self.video.on_annexb(f.payload, f.dts // 90, f.pts // 90)
        if f.stream_type == STREAM_TYPE_HEVC:
            return self.hevc.on_annexb(f.payload, f.dts // 90, f.pts // 90)
        if f.stream_type == STREAM_TYPE_AAC:
            return self.audio.on_adts(f.payload, f.pts // 90)
        if f.stream_type not in self._unsupported:
            self._unsupported.add(f.stream_type)
            log.warning("SRT publish %s: ignore TS stream type %#x (H.264, HEVC and AAC only)",
                        self.source.url, f.stream_type)
        return []
