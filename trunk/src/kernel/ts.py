"""MPEG-TS muxer: PAT/PMT and PES packetisation into 188-byte packets.

One program (number 1) with the PMT on pid 0x1001, video on 0x100 and audio on 0x101, the
layout SRS writes. The PCR rides on the first packet of every PES of the PCR pid (video if
present, else audio), with PCR = DTS. Continuity counters live in the muxer, so one muxer
spans all the segments of an HLS stream and players see no CC discontinuity at boundaries.
"""
from __future__ import annotations

import struct

from srs.kernel.errors import CodecError

TS_PACKET_SIZE = 188
SYNC_BYTE = 0x47

PID_PAT = 0x0000
PID_PMT = 0x1001
PID_VIDEO = 0x100
PID_AUDIO = 0x101

STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_HEVC = 0x24
VIDEO_STREAM_TYPES = {"h264": STREAM_TYPE_H264, "hevc": STREAM_TYPE_HEVC}
STREAM_TYPE_AAC = 0x0F
STREAM_TYPE_MP3 = 0x04  # MPEG-2 audio, as SRS writes; demuxers accept 0x03 too
STREAM_TYPE_MP3_MPEG1 = 0x03

STREAM_ID_VIDEO = 0xE0
STREAM_ID_AUDIO = 0xC0

PROGRAM_NUMBER = 1
TRANSPORT_STREAM_ID = 1

PTS_MASK = (1 << 33) - 1


def _crc_table():
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


def encode_timestamp(flag: int, ts_90k: int) -> bytes:
    """The 5-byte PES PTS/DTS field with its 4-bit prefix ``flag`` and marker bits."""
    ts = ts_90k & PTS_MASK
    return bytes((
        (flag << 4) | ((ts >> 29) & 0x0E) | 1,
        (ts >> 22) & 0xFF,
        ((ts >> 14) & 0xFE) | 1,
        (ts >> 7) & 0xFF,
        ((ts << 1) & 0xFE) | 1,
    ))


def decode_timestamp(b, pos: int = 0) -> int:
    return (((b[pos] >> 1) & 0x07) << 30) | (b[pos + 1] << 22) | ((b[pos + 2] >> 1) << 15) \
        | (b[pos + 3] << 7) | (b[pos + 4] >> 1)


def encode_pcr(pcr_90k: int) -> bytes:
    """6-byte PCR: 33-bit base, 6 reserved bits, 9-bit extension 0."""
    base = pcr_90k & PTS_MASK
    return struct.pack(">IH", base >> 1, ((base & 1) << 15) | 0x7E00)


def psi_section(table_id: int, table_id_ext: int, body: bytes) -> bytes:
    """A long-form PSI section (version 0, current) with its CRC."""
    length = 5 + len(body) + 4  # after section_length: ext(2) ver(1) sec(1) last(1) body crc(4)
    head = struct.pack(">BHHBBB", table_id, 0xB000 | length, table_id_ext, 0xC1, 0, 0)
    section = head + body
    return section + struct.pack(">I", crc32_mpeg2(section))


class TsMuxer:
    """Packetises PSI and PES; keeps the continuity counters across calls (and segments).

    ``has_video``: a video stream on PID_VIDEO, ``vcodec`` "h264" or "hevc"; ``acodec``: "aac",
    "mp3" or None.
    """

    def __init__(self, has_video: bool = True, acodec: str | None = "aac", vcodec: str = "h264"):
        if acodec not in ("aac", "mp3", None):
            raise CodecError(f"TS audio codec {acodec!r} unsupported")
        if not has_video and acodec is None:
            raise CodecError("TS needs a video or an audio stream")
        self.has_video = has_video
        self.acodec = acodec
        self.pcr_pid = PID_VIDEO if has_video else PID_AUDIO
        self.video_stream_type = VIDEO_STREAM_TYPES.get(vcodec, STREAM_TYPE_H264)
        if vcodec not in VIDEO_STREAM_TYPES:
            raise CodecError(f"TS video codec {vcodec!r} unsupported")
        self._cc = {}

    def set_video_codec(self, vcodec: str | None) -> None:
        """The video stream type the next PMT names; None: the next PMT has no video (and the PCR
        moves to the audio), for a video codec TS cannot carry."""
        if vcodec is None:
            if self.acodec is None:
                raise CodecError("TS needs a video or an audio stream")
            self.has_video, self.pcr_pid = False, PID_AUDIO
            return
        if vcodec not in VIDEO_STREAM_TYPES:
            raise CodecError(f"TS video codec {vcodec!r} unsupported")
        self.video_stream_type = VIDEO_STREAM_TYPES[vcodec]
        self.has_video, self.pcr_pid = True, PID_VIDEO

    def _next_cc(self, pid: int) -> int:
        cc = self._cc.get(pid, -1)
        cc = (cc + 1) & 0x0F
        self._cc[pid] = cc
        return cc

    def _psi_packet(self, pid: int, section: bytes) -> bytes:
        head = bytes((SYNC_BYTE, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | self._next_cc(pid), 0))
        pkt = head + section
        if len(pkt) > TS_PACKET_SIZE:
            raise CodecError("PSI section does not fit one TS packet")
        return pkt + b"\xff" * (TS_PACKET_SIZE - len(pkt))

    def pat_pmt(self) -> bytes:
        """A PAT packet then a PMT packet (376 bytes): what starts every HLS segment."""
        pat = psi_section(0x00, TRANSPORT_STREAM_ID,
                          struct.pack(">HH", PROGRAM_NUMBER, 0xE000 | PID_PMT))
        streams = b""
        if self.has_video:
            streams += struct.pack(">BHH", self.video_stream_type, 0xE000 | PID_VIDEO, 0xF000)
        if self.acodec is not None:
            st = STREAM_TYPE_AAC if self.acodec == "aac" else STREAM_TYPE_MP3
            streams += struct.pack(">BHH", st, 0xE000 | PID_AUDIO, 0xF000)
        pmt = psi_section(0x02, PROGRAM_NUMBER,
                          struct.pack(">HH", 0xE000 | self.pcr_pid, 0xF000) + streams)
        return self._psi_packet(PID_PAT, pat) + self._psi_packet(PID_PMT, pmt)

    def write_video(self, pts_90k: int, dts_90k: int, data: bytes, keyframe: bool) -> bytes:
        return self.write_pes(PID_VIDEO, STREAM_ID_VIDEO, pts_90k, dts_90k, data, keyframe)

    def write_audio(self, pts_90k: int, data: bytes) -> bytes:
        return self.write_pes(PID_AUDIO, STREAM_ID_AUDIO, pts_90k, pts_90k, data, False)

    def write_pes(self, pid: int, stream_id: int, pts_90k: int, dts_90k: int, data: bytes,
                  keyframe: bool) -> bytes:
        """One PES packet (header + ``data``) split into TS packets."""
        if pts_90k != dts_90k:
            pes_opt = b"\x80\xc0\x0a" + encode_timestamp(3, pts_90k) + encode_timestamp(1, dts_90k)
        else:
            pes_opt = b"\x80\x80\x05" + encode_timestamp(2, pts_90k)
        pes_len = len(pes_opt) + len(data)
        # 0 = unbounded, allowed for video only; audio frames are always far smaller.
        pes_len = pes_len if pes_len <= 0xFFFF else 0
        pes = b"\x00\x00\x01" + bytes((stream_id,)) + struct.pack(">H", pes_len) + pes_opt + data

        out = []
        total = len(pes)
        pos = 0
        pid_hi, pid_lo = pid >> 8, pid & 0xFF
        cc = self._cc.get(pid, -1)
        pusi = 0x40
        while pos < total:
            cc = (cc + 1) & 0x0F
            has_af = False
            af = b""  # adaptation field bytes after its length byte
            if pusi and (keyframe or pid == self.pcr_pid):
                has_af = True
                if pid == self.pcr_pid:
                    af = bytes((0x50 if keyframe else 0x10,)) + encode_pcr(dts_90k)
                else:
                    af = b"\x40"  # random_access_indicator
            room = TS_PACKET_SIZE - 4 - (1 + len(af) if has_af else 0)
            remaining = total - pos
            if remaining < room:
                # Pad the last packet through the adaptation field (PES data is not stuffable).
                stuff = room - remaining
                if has_af:
                    af += b"\xff" * stuff
                else:
                    has_af = True
                    af = b"" if stuff == 1 else b"\x00" + b"\xff" * (stuff - 2)
                room = remaining
            if has_af:
                out.append(bytes((SYNC_BYTE, pusi | pid_hi, pid_lo, 0x30 | cc, len(af))) + af)
            else:
                out.append(bytes((SYNC_BYTE, pusi | pid_hi, pid_lo, 0x10 | cc)))
            out.append(pes[pos:pos + room])
            pos += room
            pusi = 0
        self._cc[pid] = cc
        return b"".join(out)
