"""Sans-IO MPEG-TS demuxer: bytes in, complete PES payloads (with PTS/DTS) out.

Built for lossy inputs (TS over UDP, HLS ingest): a bad sync byte resyncs on the next
0x47 that repeats 188 bytes later; a continuity-counter gap drops the partial PES of that pid
(and waits for the next payload_unit_start); a PSI section with a bad CRC is ignored. With
``strict=True`` those conditions raise CodecError instead (for tests and file tools).
"""
from __future__ import annotations

import logging

from srs.kernel.errors import (ERROR_STREAM_CASTER_TS_CRC32, ERROR_STREAM_CASTER_TS_PSE,
                               ERROR_STREAM_CASTER_TS_SYNC_BYTE, CodecError)
from srs.kernel.ts import PID_PAT, SYNC_BYTE, TS_PACKET_SIZE, crc32_mpeg2, decode_timestamp

log = logging.getLogger(__name__)

# stream_ids without the optional PES header (ISO 13818-1 2.4.3.7).
_NO_PES_HEADER = frozenset((0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF))
_MAX_PES = 8 * 1024 * 1024


class TsFrame:
    """One complete PES: ``pts``/``dts`` in 90 kHz units (dts == pts when absent)."""

    __slots__ = ("pid", "stream_type", "stream_id", "pts", "dts", "payload", "random_access")

    def __init__(self, pid, stream_type, stream_id, pts, dts, payload, random_access=False):
        self.pid = pid
        self.stream_type = stream_type
        self.stream_id = stream_id
        self.pts = pts
        self.dts = dts
        self.payload = payload
        self.random_access = random_access

    def __repr__(self) -> str:
        return (f"TsFrame(pid={self.pid:#x}, type={self.stream_type:#x}, pts={self.pts}, "
                f"dts={self.dts}, size={len(self.payload)})")


class _Pes:
    __slots__ = ("chunks", "size", "random_access")

    def __init__(self, random_access: bool):
        self.chunks = []
        self.size = 0
        self.random_access = random_access


class TsDemuxer:
    def __init__(self, strict: bool = False):
        self.strict = strict
        self._buf = b""
        self.pmt_pids = set()
        self.streams = {}        # es pid -> stream_type
        self.pcr_pid = None
        self._cc = {}            # pid -> last continuity counter
        self._pes = {}           # pid -> _Pes being assembled
        self._psi = {}           # pid -> bytearray of a section spanning packets
        self.errors = 0          # sync losses, CC gaps, CRC failures, bad PES headers

    def _fault(self, message: str, code: int) -> None:
        self.errors += 1
        if self.strict:
            raise CodecError(message, code)
        log.warning("ts demux: %s", message)

    def receive_data(self, data) -> list:
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        out = []
        pos = 0
        n = len(buf)
        while n - pos >= TS_PACKET_SIZE:
            if buf[pos] != SYNC_BYTE:
                nxt = self._resync(buf, pos)
                self._fault(f"lost TS sync at byte {pos}, skipped {nxt - pos}",
                            ERROR_STREAM_CASTER_TS_SYNC_BYTE)
                pos = nxt
                continue
            self._packet(buf, pos, out)
            pos += TS_PACKET_SIZE
        self._buf = buf[pos:]
        return out

    def flush(self) -> list:
        """At end of input: emit the PES still being assembled on every pid."""
        out = []
        for pid in list(self._pes):
            self._finish(pid, out)
        return out

    @staticmethod
    def _resync(buf: bytes, pos: int) -> int:
        n = len(buf)
        i = pos + 1
        while True:
            i = buf.find(b"\x47", i)
            if i < 0:
                return n
            if i + TS_PACKET_SIZE >= n or buf[i + TS_PACKET_SIZE] == SYNC_BYTE:
                return i
            i += 1

    def _packet(self, buf: bytes, pos: int, out: list) -> None:
        b1, b2, b3 = buf[pos + 1], buf[pos + 2], buf[pos + 3]
        if b1 & 0x80:  # transport_error_indicator
            return
        pid = ((b1 & 0x1F) << 8) | b2
        pusi = bool(b1 & 0x40)
        afc = (b3 >> 4) & 0x03
        cc = b3 & 0x0F
        start = pos + 4
        end = pos + TS_PACKET_SIZE
        random_access = discontinuity = False
        if afc & 0x02:
            af_len = buf[start]
            if af_len > 183 or (afc == 3 and af_len > 182):
                self._fault(f"adaptation field length {af_len} on pid {pid:#x}",
                            ERROR_STREAM_CASTER_TS_PSE)
                return
            if af_len:
                flags = buf[start + 1]
                discontinuity = bool(flags & 0x80)
                random_access = bool(flags & 0x40)
            start += 1 + af_len
        if not afc & 0x01 or pid == 0x1FFF:
            return  # no payload (or null packet): CC does not advance
        last = self._cc.get(pid)
        self._cc[pid] = cc
        if last is not None and not discontinuity:
            if cc == last:
                return  # duplicate packet
            if cc != (last + 1) & 0x0F:
                self._fault(f"CC gap on pid {pid:#x}: {last} -> {cc}", ERROR_STREAM_CASTER_TS_PSE)
                self._pes.pop(pid, None)
                self._psi.pop(pid, None)
        payload = buf[start:end]
        if pid == PID_PAT or pid in self.pmt_pids:
            self._on_psi(pid, pusi, payload)
        elif pid in self.streams:
            self._on_pes(pid, pusi, random_access, payload, out)

    # --- PSI
    def _on_psi(self, pid: int, pusi: bool, payload: bytes) -> None:
        if pusi:
            pointer = payload[0] if payload else 0
            if 1 + pointer > len(payload):
                self._fault("PSI pointer_field past the packet", ERROR_STREAM_CASTER_TS_PSE)
                return
            section = bytearray(payload[1 + pointer:])
        else:
            section = self._psi.get(pid)
            if section is None:
                return
            section += payload
        if len(section) < 3:
            self._psi[pid] = section
            return
        if section[0] == 0xFF:
            self._psi.pop(pid, None)
            return
        length = ((section[1] & 0x0F) << 8) | section[2]
        if len(section) < 3 + length:
            self._psi[pid] = section
            return
        self._psi.pop(pid, None)
        section = bytes(section[:3 + length])
        if length < 9 or crc32_mpeg2(section) != 0:
            self._fault(f"PSI section on pid {pid:#x} has a bad CRC/length",
                        ERROR_STREAM_CASTER_TS_CRC32)
            return
        table_id = section[0]
        body = section[8:-4]
        if pid == PID_PAT and table_id == 0x00:
            for i in range(0, len(body) - 3, 4):
                program = (body[i] << 8) | body[i + 1]
                if program:  # 0 = network PID
                    self.pmt_pids.add(((body[i + 2] & 0x1F) << 8) | body[i + 3])
        elif table_id == 0x02:
            self._on_pmt(body)

    def _on_pmt(self, body: bytes) -> None:
        if len(body) < 4:
            return
        self.pcr_pid = ((body[0] & 0x1F) << 8) | body[1]
        info_len = ((body[2] & 0x0F) << 8) | body[3]
        i = 4 + info_len
        while i + 5 <= len(body):
            stype = body[i]
            es_pid = ((body[i + 1] & 0x1F) << 8) | body[i + 2]
            es_len = ((body[i + 3] & 0x0F) << 8) | body[i + 4]
            self.streams[es_pid] = stype
            i += 5 + es_len

    # --- PES
    def _on_pes(self, pid: int, pusi: bool, random_access: bool, payload: bytes, out: list):
        if pusi:
            self._finish(pid, out)
            self._pes[pid] = _Pes(random_access)
        pes = self._pes.get(pid)
        if pes is None:
            return  # joined mid-PES or after a loss: wait for the next start
        pes.chunks.append(payload)
        pes.size += len(payload)
        if pes.size > _MAX_PES:
            self._pes.pop(pid, None)
            self._fault(f"PES on pid {pid:#x} exceeds {_MAX_PES} bytes", ERROR_STREAM_CASTER_TS_PSE)
            return
        # A bounded PES completes as soon as its length is reached (no waiting for the next one).
        if pes.size >= 6:
            head = pes.chunks[0] if len(pes.chunks[0]) >= 6 else b"".join(pes.chunks)
            plen = (head[4] << 8) | head[5]
            if plen and pes.size >= 6 + plen:
                self._finish(pid, out)

    def _finish(self, pid: int, out: list) -> None:
        pes = self._pes.pop(pid, None)
        if pes is None:
            return
        data = b"".join(pes.chunks)
        if len(data) < 6 or data[0:3] != b"\x00\x00\x01":
            self._fault(f"bad PES start code on pid {pid:#x}", ERROR_STREAM_CASTER_TS_PSE)
            return
        stream_id = data[3]
        plen = (data[4] << 8) | data[5]
        if plen:
            if 6 + plen > len(data):
                self._fault(f"PES on pid {pid:#x} truncated", ERROR_STREAM_CASTER_TS_PSE)
                return
            data = data[:6 + plen]
        pts = dts = None
        if stream_id in _NO_PES_HEADER:
            body = data[6:]
        else:
            if len(data) < 9:
                self._fault("PES header truncated", ERROR_STREAM_CASTER_TS_PSE)
                return
            flags = data[7] >> 6
            hlen = data[8]
            if 9 + hlen > len(data) or (flags == 2 and hlen < 5) or (flags == 3 and hlen < 10):
                self._fault("PES optional header truncated", ERROR_STREAM_CASTER_TS_PSE)
                return
            if flags & 0x02:
                pts = decode_timestamp(data, 9)
                dts = decode_timestamp(data, 14) if flags == 3 else pts
            body = data[9 + hlen:]
        out.append(TsFrame(pid, self.streams.get(pid, 0), stream_id, pts, dts, body,
                           pes.random_access))
