"""The publish side of a bridged protocol (SRT's MPEG-TS, WebRTC's RTP): RTMP messages made from
the protocol's frames -> timestamp order -> its live source, with the API's stream figures.

The bridge is the source's publisher itself, as an RTMP publisher is (no loopback RTMP hop as
SRS's bridges make), so HLS, DVR, forward and every player see the same messages. The input's
tracks are not interleaved (TS bundles audio ahead of video; WebRTC's audio and video arrive on
separate jitter buffers), so the messages go through an ``Interleaver`` before the source: the
source's jitter correction wants them in time order.
"""
from __future__ import annotations

import logging

from srs.kernel.interleaver import Interleaver
from srs.kernel.media_info import describe_sequence_header

log = logging.getLogger(__name__)

STATS_EVERY = 64   # frames counted into the API's stream entry once per this many messages


class BridgePublisher:
    """Feeds one LiveSource (already ``on_publish``-ed by the caller); ``label`` names the bridge
    in log lines ("SRT publish")."""

    def __init__(self, source, stats, req, label: str):
        self.source = source
        self.stats = stats
        self.req = req
        self.label = label
        self.interleaver = Interleaver()
        self.msgs = 0
        self._video_frames = 0

    def publish(self, msgs, final: bool = False) -> None:
        ready = self.interleaver.push(msgs) if msgs else []
        if final:
            ready += self.interleaver.flush()
        src = self.source
        for m in ready:
            if m.seq_header:
                self._report_codec(m)
            elif m.is_video:
                self._video_frames += 1
            src.on_message(m)
            self.msgs += 1
            if self.msgs % STATS_EVERY == 0:
                self.stats.on_frames(self.req, self._video_frames)
                self._video_frames = 0

    def _report_codec(self, msg) -> None:
        info = describe_sequence_header(msg)
        if info is None:
            return
        if msg.is_video:
            self.stats.on_video_info(self.req, info["codec"], info["profile"], info["level"], info["width"],
                                     info["height"])
            log.info("%s %s: video %s %dx%d", self.label, self.source.url, info["codec"], info["width"],
                     info["height"])
        else:
            self.stats.on_audio_info(self.req, info["codec"], info["sample_rate"], info["channels"],
                                     info["profile"])
