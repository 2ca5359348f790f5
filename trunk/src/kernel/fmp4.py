"""Fragmented MP4 (ISO BMFF / CMAF) from FLV messages: init segments and media segments, sans-IO.

One muxer for DASH, HLS in fMP4 (``hls_use_fmp4``) and anything else that wants fragments:

    track = track_of(video_sequence_header_msg, track_id=1)     # avc1 / hvc1 / av01, or mp4a (AAC)
    init = init_segment([track])                                # ftyp + moov (mvex/trex: fragmented)
    frag = Fragment(track)
    for msg in messages: frag.add_message(msg)                  # coded frames / raw AAC only
    data = media_segment(seq, [frag.take(end_dts)])             # styp + moof(mfhd, traf...) + mdat

Several ``Fragment``s in one ``media_segment`` give one moof with a traf per track and one mdat
(HLS: audio and video muxed); one each gives DASH's per-representation segments.

Why our own muxer rather than PyAV's (measured, see the report / PERFORMANCE.md): the payload of
an FLV video tag after its header is already the MP4 sample (AVCC/HVCC length-prefixed NALUs, AV1
OBUs), and an AAC raw frame is the sample too, so a fragment is a few struct packs plus one join;
PyAV's mov muxer needs a Packet object per sample and a container per fragment.

Timescales: the messages count in milliseconds; video tracks count at 90 kHz (ms x 90, exact) and a
video sample lasts until the next one of its track, the last one until ``end_dts`` given to ``take``
(the start of the next segment) or as long as the previous one. AAC tracks count at the sample rate
and every frame lasts its 1024 samples: durations from ms timestamps (23/24 ms at 44.1 kHz) make
Chrome's MSE splice the audio, and in a muxed (audio+video) SourceBuffer that froze the video under
hls.js. ``take`` still reports the base and duration in ms, the unit of playlists and MPDs.
Sample data is kept by reference (memoryview slices of the message payloads) until ``take``.
"""
from __future__ import annotations

import struct
from typing import List, Optional, Sequence, Tuple

from srs.kernel.codec import ACODEC_AAC, VCODEC_AV1, VCODEC_AVC, VCODEC_HEVC, VideoTag
from srs.kernel.codec_aac import AacConfig
from srs.kernel.codec_av1 import Av1Config
from srs.kernel.codec_avc import AvcConfig
from srs.kernel.codec_hevc import HevcConfig
from srs.kernel.errors import CodecError
from srs.kernel.message import Message
from srs.kernel.mp4_boxes import box, full_box

TIMESCALE = 1000  # ms, as the messages
VIDEO_SCALE = 90   # video tracks count at 90 kHz (TIMESCALE * VIDEO_SCALE)
# Video codecs fMP4 carries here: FLV codec id -> (sample entry, config box, record parser).
VIDEO_ENTRIES = {VCODEC_AVC: (b"avc1", b"avcC", AvcConfig), VCODEC_HEVC: (b"hvc1", b"hvcC", HevcConfig),
                 VCODEC_AV1: (b"av01", b"av1C", Av1Config)}
# sample_flags (ISO 14496-12 8.8.3.1): a sync sample depends on nothing; others depend and are not sync.
FLAGS_SYNC = 0x02000000
FLAGS_NON_SYNC = 0x01010000
_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800  # offset, duration, size, flags, cts
_TFHD_BASE_IS_MOOF = 0x020000
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_SAMPLE = struct.Struct(">IIIi")   # duration, size, flags, composition offset (trun version 1: signed)
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_DEFAULT_VIDEO_MS = 40
_AAC_FRAME_SAMPLES = 1024


class Track:
    """What an init segment says about one track; built from a sequence header by ``track_of``."""

    __slots__ = ("track_id", "is_video", "codec_id", "config", "record", "width", "height",
                 "sample_rate", "channels", "codec_string", "timescale")

    def __init__(self, track_id: int, is_video: bool, codec_id: int, config, record: bytes):
        self.track_id = track_id
        self.is_video = is_video
        self.codec_id = codec_id
        self.config = config
        self.record = bytes(record)
        self.width = getattr(config, "width", 0)
        self.height = getattr(config, "height", 0)
        self.sample_rate = getattr(config, "sample_rate", 0)
        self.channels = getattr(config, "channels", 0)
        self.codec_string = codec_string(codec_id, config) if is_video else "mp4a.40.%d" % config.object_type
        # The media clock: video at 90 kHz, AAC at its sample rate with every frame 1024 samples long
        # (ms timestamps would give 23/24 ms frames, which browsers' MSE splices and stalls on).
        self.timescale = TIMESCALE * VIDEO_SCALE if is_video else (self.sample_rate or 44100)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Track) and self.track_id == other.track_id and self.codec_id == other.codec_id
                and self.record == other.record)

    def __repr__(self) -> str:
        return f"Track({self.track_id}, {self.codec_string}, {len(self.record)}B)"

    @property
    def default_duration(self) -> int:
        if self.is_video:
            return _DEFAULT_VIDEO_MS
        return max(1, round(_AAC_FRAME_SAMPLES * TIMESCALE / (self.sample_rate or 44100)))


def codec_string(codec_id: int, cfg) -> str:
    """RFC 6381 ``codecs`` value (MPD @codecs, HLS CODECS) of a video config record."""
    raw = cfg.raw
    if codec_id == VCODEC_AVC:
        return "avc1.%02x%02x%02x" % (raw[1], raw[2], raw[3])
    if codec_id == VCODEC_HEVC:
        # hvc1.<profile space+idc>.<compat flags, reversed bits, hex>.<tier L|H><level>.<constraint bytes>
        space = "ABC"[(raw[1] >> 6) - 1] if raw[1] >> 6 else ""
        compat = int("{:032b}".format(_U32.unpack_from(raw, 2)[0])[::-1], 2)
        constraints = raw[6:12].rstrip(b"\x00")
        tail = "".join(".%X" % b for b in constraints)
        return "hvc1.%s%d.%X.%s%d%s" % (space, cfg.profile_idc, compat, "H" if cfg.tier else "L", cfg.level_idc,
                                        tail)
    if codec_id == VCODEC_AV1:
        high, twelve = (raw[2] >> 6) & 1, (raw[2] >> 5) & 1
        depth = 12 if (high and twelve) else 10 if high else 8
        return "av01.%d.%02d%s.%02d" % (cfg.profile_idc, cfg.level_idx, "H" if cfg.tier else "M", depth)
    raise CodecError(f"no fMP4 mapping for video codec {codec_id}")


def track_of(msg: Message, track_id: int) -> Optional[Track]:
    """The Track a sequence header describes (H.264/HEVC/AV1 video, AAC audio); None for anything else
    (another codec, not a sequence header). A malformed record raises CodecError."""
    p = msg.payload
    if msg.is_video:
        tag = VideoTag.parse(p)
        entry = VIDEO_ENTRIES.get(tag.codec_id)
        if entry is None or tag.avc_packet_type != 0:
            return None
        record = bytes(p[tag.data_offset:])
        return Track(track_id, True, tag.codec_id, entry[2].parse(record), record)
    if msg.is_audio and len(p) > 2 and (p[0] >> 4) == ACODEC_AAC and p[1] == 0:
        record = bytes(p[2:])
        return Track(track_id, False, ACODEC_AAC, AacConfig.parse(record), record)
    return None


# ------------------------------------------------------------------------------------- init segment
def ftyp(major: bytes = b"iso6") -> bytes:
    return box(b"ftyp", major + _U32.pack(0) + b"iso6mp41isomdashcmfc")


def init_segment(tracks: Sequence[Track]) -> bytes:
    """ftyp + moov for ``tracks`` (empty sample tables, mvex/trex: the samples come in fragments)."""
    mvhd = full_box(b"mvhd", struct.pack(">IIII", 0, 0, TIMESCALE, 0) + _U32.pack(0x10000) + _U16.pack(0x100)
                    + bytes(10) + _MATRIX + bytes(24) + _U32.pack(max(t.track_id for t in tracks) + 1))
    traks = b"".join(_trak(t) for t in tracks)
    mvex = box(b"mvex", b"".join(full_box(b"trex", struct.pack(">IIIII", t.track_id, 1, 0, 0, 0)) for t in tracks))
    return ftyp() + box(b"moov", mvhd + traks + mvex)


def _trak(t: Track) -> bytes:
    tkhd = full_box(b"tkhd", struct.pack(">IIIII", 0, 0, t.track_id, 0, 0) + bytes(8)
                    + struct.pack(">hhhH", 0, 0 if t.is_video else 1, 0 if t.is_video else 0x100, 0) + _MATRIX
                    + _U32.pack(t.width << 16) + _U32.pack(t.height << 16), flags=3)
    mdhd = full_box(b"mdhd", struct.pack(">IIII", 0, 0, t.timescale, 0) + _U16.pack(0x55C4) + _U16.pack(0))  # und
    handler, name = (b"vide", b"VideoHandler\x00") if t.is_video else (b"soun", b"SoundHandler\x00")
    hdlr = full_box(b"hdlr", _U32.pack(0) + handler + bytes(12) + name)
    media_header = full_box(b"vmhd", bytes(8), flags=1) if t.is_video else full_box(b"smhd", bytes(4))
    dinf = box(b"dinf", full_box(b"dref", _U32.pack(1) + full_box(b"url ", b"", flags=1)))
    stbl = box(b"stbl", full_box(b"stsd", _U32.pack(1) + _sample_entry(t))
               + full_box(b"stts", _U32.pack(0)) + full_box(b"stsc", _U32.pack(0))
               + full_box(b"stsz", _U32.pack(0) + _U32.pack(0)) + full_box(b"stco", _U32.pack(0)))
    minf = box(b"minf", media_header + dinf + stbl)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


def _sample_entry(t: Track) -> bytes:
    head = bytes(6) + _U16.pack(1)  # reserved + data_reference_index
    if t.is_video:
        kind, config_box, _ = VIDEO_ENTRIES[t.codec_id]
        body = (head + bytes(16) + struct.pack(">HHIIIH", t.width, t.height, 0x480000, 0x480000, 0, 1)
                + bytes(32) + struct.pack(">Hh", 0x18, -1) + box(config_box, t.record))
        return box(kind, body)
    rate = min(t.sample_rate, 0xFFFF)
    body = head + bytes(8) + struct.pack(">HHHHI", t.channels or 2, 16, 0, 0, rate << 16) + _esds(t)
    return box(b"mp4a", body)


def _descriptor(tag: int, body: bytes) -> bytes:
    """An MPEG-4 descriptor with its size in the 4-byte expandable form (what most muxers write)."""
    n = len(body)
    return bytes((tag, 0x80 | (n >> 21) & 0x7F, 0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F, n & 0x7F)) + body


def _esds(t: Track) -> bytes:
    dsi = _descriptor(5, t.record)
    dcd = _descriptor(4, bytes((0x40, 0x15)) + bytes(3) + struct.pack(">II", 0, 0) + dsi)  # AAC, audio stream
    es = _descriptor(3, _U16.pack(t.track_id) + b"\x00" + dcd + _descriptor(6, b"\x02"))
    return full_box(b"esds", es)


# ------------------------------------------------------------------------------------ media segment
class Fragment:
    """The samples of one track waiting for the next media segment."""

    __slots__ = ("track", "dts", "sizes", "flags", "cts", "datas", "last_duration", "nal_length_size")

    def __init__(self, track: Track):
        self.track = track
        self.dts: List[int] = []
        self.sizes: List[int] = []
        self.flags: List[int] = []
        self.cts: List[int] = []
        self.datas: list = []
        self.last_duration = track.default_duration

    def __len__(self) -> int:
        return len(self.dts)

    @property
    def first_dts(self) -> Optional[int]:
        return self.dts[0] if self.dts else None

    @property
    def last_dts(self) -> Optional[int]:
        return self.dts[-1] if self.dts else None

    def add(self, dts: int, data, cts: int = 0, keyframe: bool = True) -> None:
        dts_list = self.dts
        if dts_list and dts <= dts_list[-1]:
            dts = dts_list[-1] + 1  # a sample lasts at least 1 ms: decoders refuse equal DTS
        dts_list.append(dts)
        self.sizes.append(len(data))
        self.flags.append(FLAGS_SYNC if keyframe else FLAGS_NON_SYNC)
        self.cts.append(cts)
        self.datas.append(data)

    def add_message(self, msg: Message) -> bool:
        """Add the sample of a coded video frame or raw AAC frame; False for anything else."""
        p = msg.payload
        if self.track.is_video:
            if len(p) < 2:
                return False
            try:
                tag = VideoTag.parse(p)
            except CodecError:
                return False
            if tag.avc_packet_type != 1 or tag.codec_id != self.track.codec_id or len(p) <= tag.data_offset:
                return False
            self.add(msg.ts_ms, memoryview(p)[tag.data_offset:], tag.cts, msg.keyframe)
            return True
        if len(p) > 2 and (p[0] >> 4) == ACODEC_AAC and p[1] == 1:
            self.add(msg.ts_ms, memoryview(p)[2:])
            return True
        return False

    def take(self, end_dts: Optional[int] = None) -> Tuple[Track, int, bytes, list, int]:
        """Empty the fragment: ``(track, base_dts, trun sample table, datas, duration)``."""
        dts = self.dts
        n = len(dts)
        durations = [dts[i + 1] - dts[i] for i in range(n - 1)]
        if n:
            last = end_dts - dts[-1] if end_dts is not None and end_dts > dts[-1] else self.last_duration
            durations.append(last)
            self.last_duration = durations[-2] if n > 1 else last
        pack = _SAMPLE.pack
        if self.track.is_video:
            table = b"".join(map(pack, [d * VIDEO_SCALE for d in durations], self.sizes, self.flags,
                                 [c * VIDEO_SCALE for c in self.cts]))
        else:
            table = b"".join(map(pack, [_AAC_FRAME_SAMPLES] * n, self.sizes, self.flags, self.cts))
        out = (self.track, dts[0] if n else 0, table, self.datas, sum(durations))
        self.dts, self.sizes, self.flags, self.cts, self.datas = [], [], [], [], []
        return out


def media_segment(sequence: int, parts: Sequence[Tuple[Track, int, bytes, list, int]], styp: bool = True) -> bytes:
    """``[styp] moof mdat`` of the ``Fragment.take()`` results in ``parts`` (one traf each, the
    samples of each in turn in one mdat); ``sequence`` is the mfhd sequence number (from 1)."""
    parts = [p for p in parts if p[2]]
    if not parts:
        return b""
    mfhd = full_box(b"mfhd", _U32.pack(sequence & 0xFFFFFFFF))
    # The traf sizes do not depend on the data offsets, so build them with offset 0 first.
    trafs = []
    for track, base, table, _, _ in parts:
        tfhd = full_box(b"tfhd", _U32.pack(track.track_id), flags=_TFHD_BASE_IS_MOOF)
        tfdt = full_box(b"tfdt", struct.pack(">Q", max(0, base) * track.timescale // TIMESCALE), version=1)
        trun_head = 8 + 4 + 8  # box header + version/flags + sample_count + data_offset
        trafs.append((tfhd + tfdt, len(table) // _SAMPLE.size, table, 8 + len(tfhd) + len(tfdt) + trun_head + len(table)))
    moof_size = 8 + len(mfhd) + sum(t[3] for t in trafs)
    offset = moof_size + 8  # the first sample: after the moof and the mdat header
    boxes = [mfhd]
    payload = []
    for (head, count, table, _), part in zip(trafs, parts):
        trun = full_box(b"trun", struct.pack(">Ii", count, offset) + table, version=1, flags=_TRUN_FLAGS)
        boxes.append(box(b"traf", head + trun))
        payload.extend(part[3])
        offset += sum(memoryview(d).nbytes for d in part[3])
    moof = box(b"moof", b"".join(boxes))
    data = b"".join(payload)
    head = box(b"styp", b"msdh" + _U32.pack(0) + b"msdhmsixcmfs") if styp else b""
    return head + moof + _U32.pack(8 + len(data)) + b"mdat" + data
