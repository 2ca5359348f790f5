"""DVR to MP4 (SRS 3: a ``dvr_path`` ending in ``.mp4``): remux H.264, HEVC or AV1 (SRS 6 records
HEVC; AV1 from Enhanced RTMP) and AAC with PyAV's mp4 muxer.

No re-encoding: the tracks are built from the sequence headers (avcC / hvcC / av1C /
AudioSpecificConfig become the codec extradata) and each FLV payload becomes one packet (NALUs
stay length-prefixed, AV1 OBUs as they come, as mp4 stores them). A regular (not fragmented) mp4,
as SRS writes: one moov at the end with the whole sample index, so any player seeks in it. PyAV opens an encoder for a stream made with ``add_stream`` and would replace our
extradata with the encoder's, so each track is cloned with ``add_stream_from_template`` from an
unopened stream of a scratch container: such a context is never opened, only copied into the
stream parameters.

The mp4 header needs every track up front, so media is held back until both sequence headers
are known, or ``PROBE_MS`` of media shows that one of them is not coming. Packets are held one
per track so each gets its duration from the next (the muxer drops a last sample without one).
The moov is written on close; an mp4 is not playable before that (FLV is the crash-safe format).
"""
from __future__ import annotations

import io
import logging
import os
from fractions import Fraction

from srs.core.lazy import lazy_module
from srs.kernel.codec import VCODEC_AV1, VCODEC_AVC, VCODEC_HEVC, VideoTag, video_codec_name
from srs.kernel.codec_aac import AacConfig
from srs.kernel import fmp4
from srs.kernel.errors import ERROR_SYSTEM_FILE_OPENE, ERROR_SYSTEM_FILE_RENAME, CodecError, SrsError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

av = lazy_module("av")   # the FFmpeg libraries load with MP4 DVR (core/lazy.py)

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
# Media held before writing the header when a sequence header is missing.
PROBE_MS = 1000
_FLV_AAC = 10
# FLV video codec -> PyAV codec whose (never opened) stream is the template of the track.
_VIDEO_TEMPLATES = {VCODEC_AVC: "h264", VCODEC_HEVC: "hevc", VCODEC_AV1: "av1"}
_AAC_RAW = 1
_DEFAULT_VIDEO_FRAME_MS = 40
_LAYOUTS = {1: "mono", 2: "stereo"}


class _Track:
    __slots__ = ("stream", "held", "last_dts", "last_duration")

    def __init__(self, stream, default_duration: int):
        self.stream = stream
        self.held = None
        self.last_dts = None
        self.last_duration = default_duration


class Mp4Segment:
    """One DVR mp4 file, written as ``<fs_path>.tmp`` and renamed on close."""

    def __init__(self, path: str, fs_path: str, use_tmp: bool = True):
        self.path = path
        self.fs_path = fs_path
        self.write_path = fs_path + ".tmp"
        self.fresh = True
        self.has_metadata = True   # mp4 has no onMetaData: nothing to wait for
        self.has_keyframe = False
        self.first_ts = None
        self.last_ts = None
        self._file = None
        self._out = None
        self._video = None           # the video config record: (codec id, AvcConfig/HevcConfig/Av1Config)
        self._aac: AacConfig | None = None
        self._tracks: dict = {}    # MSG_VIDEO/MSG_AUDIO -> _Track
        self._pending: list = []   # (msg, ts) before the header is written
        self._warned: set = set()

    def open(self) -> None:
        if os.path.exists(self.fs_path):
            # SRS 3 refuses too: an mp4 cannot be appended to.
            raise SrsError(f"dvr: mp4 {self.path} exists, cannot append", ERROR_SYSTEM_FILE_OPENE)
        os.makedirs(os.path.dirname(self.fs_path) or ".", exist_ok=True)
        # We open the file (PyAV would only at the first packet) so a bad path fails now.
        self._file = open(self.write_path, "wb")

    @property
    def is_open(self) -> bool:
        return self._file is not None

    @property
    def duration_ms(self) -> int:
        return 0 if self.first_ts is None else self.last_ts - self.first_ts

    def write_metadata(self, msg: Message, ts: int) -> None:
        pass

    def refresh_metadata(self) -> None:
        pass

    # ------------------------------------------------------------------ media
    def write(self, msg: Message, ts: int) -> None:
        payload = msg.payload
        if msg.kind == MSG_VIDEO and msg.keyframe and not msg.seq_header:
            self.has_keyframe = True
        if msg.seq_header:
            self._on_sequence_header(msg)
            if self._out is None:
                self._maybe_start(ts)
            return
        if len(payload) < 2:
            return
        if self._out is None:
            self._pending.append((msg, ts))
            self._maybe_start(ts)
            return
        self._write_media(msg, ts)

    def _on_sequence_header(self, msg: Message) -> None:
        try:
            if msg.kind == MSG_VIDEO:
                track = fmp4.track_of(msg, 1)
                if track is None:
                    self._warn("v", "dvr: %s records H.264, HEVC and AV1 only; %s video dropped", self.path,
                               video_codec_name(VideoTag.parse(msg.payload).codec_id))
                    return
                video = (track.codec_id, track.config)
                if self._out is None:
                    self._video = video
                elif self._video is None or video[1].raw != self._video[1].raw:
                    self._warn("vsh", "dvr: %s video sequence header changed; mp4 keeps the first", self.path)
            else:
                aac = AacConfig.parse(msg.payload[2:])
                if self._out is None:
                    self._aac = aac
                elif self._aac is None or aac.raw != self._aac.raw:
                    self._warn("ash", "dvr: %s audio sequence header changed; mp4 keeps the first", self.path)
        except CodecError as e:
            self._warn("sh%d" % msg.kind, "dvr: %s ignores a bad sequence header: %s", self.path, e)

    def _maybe_start(self, ts: int) -> None:
        if self._video is None and self._aac is None:
            return
        both = self._video is not None and self._aac is not None
        if not both and (not self._pending or ts - self._pending[0][1] < PROBE_MS):
            return
        self._start()

    def _start(self) -> None:
        out = av.open(self._file, "w", format="mp4")
        scratch = av.open(io.BytesIO(), "w", format="mp4")
        try:
            if self._video is not None:
                codec_id, cfg = self._video
                stream = out.add_stream_from_template(scratch.add_stream(_VIDEO_TEMPLATES[codec_id]))
                ctx = stream.codec_context
                ctx.extradata = cfg.raw
                ctx.width, ctx.height = cfg.width, cfg.height
                stream.time_base = MS
                self._tracks[MSG_VIDEO] = _Track(stream, _DEFAULT_VIDEO_FRAME_MS)
            if self._aac is not None:
                rate = self._aac.sample_rate
                stream = out.add_stream_from_template(scratch.add_stream("aac", rate=rate))
                ctx = stream.codec_context
                ctx.extradata = self._aac.raw
                ctx.sample_rate = rate
                ctx.layout = _LAYOUTS.get(self._aac.channels, self._aac.channels or 2)
                stream.time_base = Fraction(1, rate)
                self._tracks[MSG_AUDIO] = _Track(stream, max(1, round(1024 * 1000 / rate)))
        except BaseException:
            out.close()
            raise
        finally:
            scratch.close()
        self._out = out
        pending, self._pending = self._pending, []
        for msg, ts in pending:
            self._write_media(msg, ts)

    def _write_media(self, msg: Message, ts: int) -> None:
        track = self._tracks.get(msg.kind)
        payload = msg.payload
        if msg.kind == MSG_VIDEO:
            try:
                tag = VideoTag.parse(payload)
            except CodecError:
                return
            if track is None or tag.codec_id != self._video[0]:
                self._warn("v", "dvr: %s records H.264, HEVC and AV1 only (and the first codec); video dropped",
                           self.path)
                return
            if tag.avc_packet_type != 1 or len(payload) <= tag.data_offset:
                return  # end of sequence, metadata
            self._mux(track, payload[tag.data_offset:], ts, ts + max(tag.cts, 0), msg.keyframe)
        elif msg.kind == MSG_AUDIO:
            if track is None or (payload[0] >> 4) != _FLV_AAC:
                self._warn("a", "dvr: %s records AAC only; audio dropped", self.path)
                return
            if payload[1] != _AAC_RAW:
                return
            self._mux(track, payload[2:], ts, ts, True)

    def _mux(self, track: _Track, data: bytes, dts: int, pts: int, key: bool) -> None:
        if track.last_dts is not None and dts <= track.last_dts:
            dts = track.last_dts + 1  # the mp4 muxer refuses equal or decreasing dts
        pts = max(pts, dts)
        held = track.held
        if held is not None:
            track.last_duration = dts - track.last_dts
            held.duration = track.last_duration
            self._out.mux(held)
        pkt = av.Packet(data)
        pkt.stream = track.stream
        pkt.time_base = MS
        pkt.dts = dts
        pkt.pts = pts
        pkt.is_keyframe = key
        track.held = pkt
        track.last_dts = dts
        if self.first_ts is None or dts < self.first_ts:
            self.first_ts = dts
        if self.last_ts is None or dts > self.last_ts:
            self.last_ts = dts

    def _warn(self, key: str, fmt: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)

    # ------------------------------------------------------------------ close
    def close(self) -> bool:
        """Write the moov, rename; True when a file was produced (False: no media, nothing kept)."""
        if self._file is None:
            return False
        try:
            if self._out is None and (self._video is not None or self._aac is not None):
                self._start()
            if self._out is not None:
                for track in self._tracks.values():
                    if track.held is not None:
                        track.held.duration = track.last_duration
                        self._out.mux(track.held)
                        track.held = None
                out, self._out = self._out, None
                out.close()
        finally:
            f, self._file = self._file, None
            f.close()
        if not self._tracks:
            log.warning("dvr: %s got no H.264/HEVC/AV1/AAC media; no file kept", self.path)
            os.unlink(self.write_path)
            return False
        try:
            os.rename(self.write_path, self.fs_path)
        except OSError as e:
            raise SrsError(f"dvr: rename {self.write_path} to {self.fs_path}: {e}", ERROR_SYSTEM_FILE_RENAME) from e
        return True

    def abort(self) -> None:
        out, self._out = self._out, None
        f, self._file = self._file, None
        for obj in (out, f):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # already failing; the first error is the one reported
                    pass
