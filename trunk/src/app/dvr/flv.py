"""DVR to FLV: one recording file, written tag by tag so a killed server leaves a playable file.

Every tag goes out in one ``os.write`` on an unbuffered fd: after a crash the file holds whole
tags up to the last one written (at most the tag being written is cut, and the append reopen
drops such a tail). The onMetaData tag carries ``filesize`` and ``duration`` as AMF0 numbers;
their 8-byte values are patched in place with ``os.pwrite`` on close (and whenever the plan asks),
so the tag never changes length.

A file that already exists is reopened in place: its tags are scanned (headers only), a cut last
tag is truncated away, and the writer continues after the last whole tag; the plan shifts the new
timestamps so they continue from ``last_ts``.
"""
from __future__ import annotations

import logging
import os
import struct

from srs.core.version import SIGNATURE
from srs.kernel.errors import ERROR_SYSTEM_FILE_OPENE, ERROR_SYSTEM_FILE_RENAME, Amf0DecodeError, SrsError
from srs.kernel.flv import TAG_HEADER_SIZE, TAG_KINDS, FlvHeader, encode_tag, flv_header
from srs.kernel.message import MSG_AMF0_DATA, MSG_VIDEO, Message
from srs.protocol import amf0

log = logging.getLogger(__name__)

_DOUBLE = struct.Struct(">d")
# A number property as AMF0 writes it: u16 key length, key, number marker; the 8-byte value follows.
_DURATION_KEY = b"\x00\x08duration\x00"
_FILESIZE_KEY = b"\x00\x08filesize\x00"
_OBJECT_END = b"\x00\x00\x09"
# Reading an existing file to find its last tag: chunks this big.
_SCAN_CHUNK = 1 << 20


def dvr_metadata(payload: bytes):
    """The onMetaData to record: ``(payload, filesize_offset, duration_offset)``.

    As SRS: the publisher's duration/filesize are dropped, then ``service``, ``filesize`` and
    ``duration`` are appended as numbers (so they end the object at fixed distances from its end).
    Offsets are of the 8-byte values inside the payload; ``None`` when the payload is not an
    onMetaData object (it is then recorded unchanged).
    """
    try:
        values = amf0.decode_all(payload)
    except Amf0DecodeError:
        return payload, None, None
    if values and values[0] == "@setDataFrame":  # FMLE's wrapper; files carry plain onMetaData
        values = values[1:]
    if len(values) < 2 or not isinstance(values[0], str) or not isinstance(values[1], dict):
        return payload, None, None
    obj = values[1]
    meta = amf0.EcmaArray() if isinstance(obj, amf0.EcmaArray) else {}
    for key, value in obj.items():
        if key not in ("duration", "filesize", "service"):
            meta[key] = value
    meta["service"] = SIGNATURE
    meta["filesize"] = 0.0
    meta["duration"] = 0.0
    body = amf0.encode(values[0], meta)
    dur = len(body) - len(_OBJECT_END) - 8
    size = dur - len(_DURATION_KEY) - 8
    if body[dur - len(_DURATION_KEY):dur] != _DURATION_KEY or body[size - len(_FILESIZE_KEY):size] != _FILESIZE_KEY:
        return body, None, None
    return body, size, dur


def _find_number(payload: bytes, key: bytes):
    pos = payload.find(key)
    if pos < 0 or pos + len(key) + 8 > len(payload):
        return None
    return pos + len(key)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FlvSegment:
    """One DVR file. ``path`` is what the hooks report; ``fs_path`` where it lives on disk.

    ``use_tmp``: a new file is written as ``<fs_path>.tmp`` and renamed on close (the append plan
    writes in place). Timestamps are given by the plan (already corrected); this class keeps the
    AV range for the metadata duration.
    """

    def __init__(self, path: str, fs_path: str, use_tmp: bool = True):
        self.path = path
        self.fs_path = fs_path
        self.use_tmp = use_tmp
        self.write_path = fs_path
        self.fd = None
        self.fresh = True            # False: an existing file reopened for append
        self.has_metadata = False    # an onMetaData tag is in the file
        self.has_keyframe = False    # a video keyframe was written since open
        self.first_ts = None         # AV timestamp range in the file (ms)
        self.last_ts = None
        self.size = 0                # file size = write position
        self._size_off = None        # file offsets of the filesize/duration 8-byte values
        self._dur_off = None

    # ------------------------------------------------------------------ open/close
    def open(self) -> None:
        os.makedirs(os.path.dirname(self.fs_path) or ".", exist_ok=True)
        if os.path.exists(self.fs_path):
            self._open_existing()
            return
        self.write_path = self.fs_path + ".tmp" if self.use_tmp else self.fs_path
        self.fd = os.open(self.write_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            head = flv_header()
            _write_all(self.fd, head)
        except BaseException:
            self.abort()
            raise
        self.size = len(head)

    def _open_existing(self) -> None:
        # Not O_APPEND: Linux pwrite ignores the offset on such fds, and the metadata is patched in place.
        self.fresh = False
        self.write_path = self.fs_path
        self.fd = os.open(self.fs_path, os.O_RDWR)
        try:
            self._scan()
            os.ftruncate(self.fd, self.size)  # drop a tag cut by a crash
            os.lseek(self.fd, self.size, os.SEEK_SET)
        except BaseException:
            self.abort()
            raise
        log.info("dvr: append to existing %s, size=%d, last_ts=%s", self.path, self.size, self.last_ts)

    def _scan(self) -> None:
        fd = self.fd
        total = os.fstat(fd).st_size
        head = os.pread(fd, 1024 + 4, 0)
        try:
            header = FlvHeader.parse(head)
        except SrsError as e:
            raise SrsError(f"dvr: cannot append to {self.path}: not an FLV file ({e})",
                           ERROR_SYSTEM_FILE_OPENE) from e
        pos = header.data_offset + 4
        if pos > total:
            raise SrsError(f"dvr: cannot append to {self.path}: truncated FLV header", ERROR_SYSTEM_FILE_OPENE)
        buf, buf_start = b"", pos
        first_tag = True
        while True:
            if pos + TAG_HEADER_SIZE > buf_start + len(buf):
                buf, buf_start = os.pread(fd, _SCAN_CHUNK, pos), pos
                if len(buf) < TAG_HEADER_SIZE:
                    break
            at = pos - buf_start
            kind = buf[at] & 0x1F
            size = int.from_bytes(buf[at + 1:at + 4], "big")
            ts = int.from_bytes(buf[at + 4:at + 7], "big") | (buf[at + 7] << 24)
            end = pos + TAG_HEADER_SIZE + size + 4
            if kind not in TAG_KINDS or end > total:
                break  # garbage or a cut tag: the file ends before it
            if first_tag and kind == MSG_AMF0_DATA:
                self.has_metadata = True
                payload = os.pread(fd, size, pos + TAG_HEADER_SIZE)
                s, d = _find_number(payload, _FILESIZE_KEY), _find_number(payload, _DURATION_KEY)
                if s is not None and d is not None:
                    self._size_off = pos + TAG_HEADER_SIZE + s
                    self._dur_off = pos + TAG_HEADER_SIZE + d
            elif kind != MSG_AMF0_DATA:
                self._on_av_ts(ts)
            first_tag = False
            pos = end
        self.size = pos

    def close(self) -> bool:
        """Patch the metadata, close, rename the .tmp; True when a file was produced."""
        if self.fd is None:
            return False
        try:
            self.refresh_metadata()
        finally:
            fd, self.fd = self.fd, None
            os.close(fd)
        if self.write_path != self.fs_path:
            try:
                os.rename(self.write_path, self.fs_path)
            except OSError as e:
                raise SrsError(f"dvr: rename {self.write_path} to {self.fs_path}: {e}",
                               ERROR_SYSTEM_FILE_RENAME) from e
        return True

    def abort(self) -> None:
        """Close without finishing (after an error); the partial file stays for inspection."""
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    @property
    def is_open(self) -> bool:
        return self.fd is not None

    # ------------------------------------------------------------------ writing
    @property
    def duration_ms(self) -> int:
        if self.first_ts is None:
            return 0
        return self.last_ts - self.first_ts

    def _on_av_ts(self, ts: int) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def write_metadata(self, msg: Message, ts: int) -> None:
        """The onMetaData with placeholders; only the first one of a file is recorded (as SRS)."""
        if self.has_metadata:
            return
        payload, size_off, dur_off = dvr_metadata(msg.payload)
        base = self.size + TAG_HEADER_SIZE
        self._write(encode_tag(MSG_AMF0_DATA, ts, payload))
        self.has_metadata = True
        if size_off is not None:
            self._size_off, self._dur_off = base + size_off, base + dur_off

    def write(self, msg: Message, ts: int) -> None:
        """An audio or video message at file timestamp ``ts`` (ms)."""
        self._write(encode_tag(msg.kind, ts, msg.payload))
        if msg.kind == MSG_VIDEO and msg.keyframe and not msg.seq_header:
            self.has_keyframe = True
        self._on_av_ts(ts)

    def _write(self, data: bytes) -> None:
        try:
            _write_all(self.fd, data)
        except OSError:
            # Disk full or file too big: cut the partial tag so the abandoned file still plays.
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                pass
            raise
        self.size += len(data)

    def refresh_metadata(self) -> None:
        """Patch filesize and duration (seconds) in place."""
        if self.fd is None or self._size_off is None:
            return
        os.pwrite(self.fd, _DOUBLE.pack(float(self.size)), self._size_off)
        os.pwrite(self.fd, _DOUBLE.pack(self.duration_ms / 1000.0), self._dur_off)
