"""The one media/data message type that flows from a publisher to every consumer.

A ``Message`` is immutable: parsed once at ingress, then the same object (and its ``payload``
bytes) is referenced by the source caches, every consumer batch and every remuxer. Nothing
copies or re-parses it after creation; derived flags are computed once in ``make``.
"""
from __future__ import annotations

from srs.kernel.codec import (VCODEC_AVC, VCODEC_HEVC, VIDEO_EX_HEADER, is_audio_sequence_header,
                              is_video_sequence_header)

# RTMP message type ids (also FLV tag types for 8/9/18).
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_EDGE_AND_ORIGIN = 7
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_AMF3_DATA = 15
MSG_AMF3_SHARED_OBJECT = 16
MSG_AMF3_COMMAND = 17
MSG_AMF0_DATA = 18
MSG_AMF0_SHARED_OBJECT = 19
MSG_AMF0_COMMAND = 20
MSG_AGGREGATE = 22


class Message:
    """An audio, video or data message with its timestamp in ms.

    ``keyframe``: the video FrameType is 1 (H.264, HEVC, AV1, VP9; legacy or Enhanced RTMP);
    ``seq_header``: an AVC/HEVC sequence header, an Enhanced video/audio SequenceStart or an AAC
    sequence header (cached separately by the source).
    """

    __slots__ = ("kind", "ts_ms", "payload", "stream_id", "keyframe", "seq_header")

    def __init__(self, kind: int, ts_ms: int, payload: bytes, stream_id: int = 1,
                 keyframe: bool = False, seq_header: bool = False):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "ts_ms", ts_ms)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "stream_id", stream_id)
        object.__setattr__(self, "keyframe", keyframe)
        object.__setattr__(self, "seq_header", seq_header)

    def __setattr__(self, name, value):
        raise AttributeError("Message is immutable")

    def __repr__(self) -> str:
        return (f"Message(kind={self.kind}, ts_ms={self.ts_ms}, size={len(self.payload)}"
                f"{', key' if self.keyframe else ''}{', sh' if self.seq_header else ''})")

    @classmethod
    def make(cls, kind: int, ts_ms: int, payload: bytes, stream_id: int = 1) -> "Message":
        """Build a message and compute its flags once from the first payload bytes."""
        keyframe = seq = False
        if kind == MSG_VIDEO and payload:
            b0 = payload[0]
            keyframe = (b0 >> 4) & 0x07 == 1  # FrameType; bit 0x80 is Enhanced RTMP's IsExHeader
            if b0 & VIDEO_EX_HEADER:
                seq = is_video_sequence_header(payload)
            else:  # the legacy tags inline: every message of every publisher passes here
                seq = (b0 & 0x0F) in (VCODEC_AVC, VCODEC_HEVC) and len(payload) > 1 and payload[1] == 0
        elif kind == MSG_AUDIO and payload:
            seq = is_audio_sequence_header(payload)
        return cls(kind, ts_ms, bytes(payload), stream_id, keyframe, seq)

    def with_ts(self, ts_ms: int) -> "Message":
        """The same payload at another timestamp (shares the bytes)."""
        return Message(self.kind, ts_ms, self.payload, self.stream_id, self.keyframe, self.seq_header)

    @property
    def is_audio(self) -> bool:
        return self.kind == MSG_AUDIO

    @property
    def is_video(self) -> bool:
        return self.kind == MSG_VIDEO

    @property
    def is_av(self) -> bool:
        return self.kind == MSG_AUDIO or self.kind == MSG_VIDEO

    @property
    def is_data(self) -> bool:
        return self.kind == MSG_AMF0_DATA or self.kind == MSG_AMF3_DATA
