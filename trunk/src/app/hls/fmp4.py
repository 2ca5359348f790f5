"""``hls_use_fmp4 on``: the segment writer of HLS in fragmented MP4 (CMAF), in place of FlvToTs.

HlsStream drives its remuxer the same way whatever the container (``on_message`` per message,
``pat_pmt`` at each segment open); this one answers them for fMP4 on kernel/fmp4.py, the muxer
DASH uses too:

    on_message(msg)     sequence headers make the tracks; frames are buffered -> always b""
    pat_pmt()           a segment opens: its tracks are fixed (a track that appears mid-segment
                        joins at the next one); ``init_changed`` says a new init must be written
    segment_end(end)    the segment closes: ``styp moof mdat`` of its samples, durations up to ``end``
    init()              the init segment (ftyp moov) of the current tracks, for EXT-X-MAP

Video: H.264, HEVC and AV1 (what the fMP4 sample entries here carry; HEVC and AV1 reach hls.js and
Safari this way, which TS cannot do for AV1); audio: AAC. MP3 is left out (one warning at decide).
"""
from __future__ import annotations

from typing import Dict, List, Optional

from srs.kernel import fmp4
from srs.kernel.codec import ACODEC_AAC, VCODEC_AV1, VCODEC_AVC, VCODEC_HEVC
from srs.kernel.message import Message

# FLV video codec id -> the name HlsStream compares (as flv_to_ts.TS_VIDEO_CODECS does for TS).
FMP4_VIDEO_CODECS = {VCODEC_AVC: "h264", VCODEC_HEVC: "hevc", VCODEC_AV1: "av1"}
FMP4_AUDIO_CODECS = {ACODEC_AAC: "aac"}
_TRACK_IDS = {"video": 1, "audio": 2}


class Fmp4Remux:
    """One stream's fMP4 segments; sans-IO like FlvToTs (HlsStream writes the bytes)."""

    def __init__(self, vcodec: Optional[str], acodec: Optional[str]):
        self.vcodec = vcodec
        self.acodec = acodec
        self.tracks: Dict[str, fmp4.Track] = {}
        self.frags: Dict[str, fmp4.Fragment] = {}    # of the segment being written
        self.retired: List[fmp4.Fragment] = []       # samples of a track replaced mid-segment
        self.segment_tracks: Dict[str, fmp4.Track] = {}
        self.written_tracks: Optional[List[fmp4.Track]] = None
        self.init_version = -1
        self.init_changed = False
        self.sequence = 0

    def on_message(self, msg: Message) -> bytes:
        kind = "video" if msg.is_video else "audio"
        if msg.seq_header:
            track = fmp4.track_of(msg, _TRACK_IDS[kind])
            if track is not None and self.tracks.get(kind) != track:
                self.tracks[kind] = track
                old = self.frags.pop(kind, None)
                if old is not None and len(old):
                    self.retired.append(old)  # its samples still end the segment, under the old init
            return b""
        frag = self.frags.get(kind)
        if frag is not None:
            frag.add_message(msg)
        return b""

    def pat_pmt(self) -> bytes:
        """A segment opens: its tracks are the ones known now (fMP4 segments carry no headers)."""
        self.segment_tracks = dict(self.tracks)
        for kind, track in self.segment_tracks.items():
            frag = self.frags.get(kind)
            if frag is None or frag.track is not track:
                self.frags[kind] = fmp4.Fragment(track)
        for kind in [k for k in self.frags if k not in self.segment_tracks]:
            del self.frags[kind]
        current = [self.segment_tracks[k] for k in sorted(self.segment_tracks, key=_TRACK_IDS.get)]
        if current != self.written_tracks:
            self.written_tracks = current
            self.init_version += 1
            self.init_changed = True
        return b""

    def init(self) -> bytes:
        self.init_changed = False
        return fmp4.init_segment(self.written_tracks) if self.written_tracks else b""

    def segment_end(self, end_ms: Optional[int], styp: bool = True) -> bytes:
        """Everything buffered as one ``[styp] moof mdat``: a segment, or an LL-HLS part (app/hls/ll.py:
        ``styp`` on the first part of a segment only)."""
        parts = [f.take(end_ms) for f in self.retired]
        self.retired = []
        parts += [self.frags[k].take(end_ms) for k in sorted(self.frags, key=_TRACK_IDS.get)]
        self.sequence += 1
        return fmp4.media_segment(self.sequence, parts, styp)
