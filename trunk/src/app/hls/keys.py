"""HLS files on disk: a segment written to ``<ts>.tmp`` and renamed when complete, optionally
AES-128 encrypted (SRS 3 ``hls_keys``), and the key files that rotate every
``hls_fragments_per_key`` segments.

Key groups (SRS 3 SrsHlsMuxer::write_hls_key): the segment whose sequence number is a multiple of
``hls_fragments_per_key`` gets a fresh random 16-byte key, written to
``hls_key_file_path/hls_key_file`` (``[seq]`` = that sequence number); it and the following
segments of the group are encrypted with it. SRS 3 also draws a random IV per group; here the IV is
the group's first sequence number as a 16-byte big-endian integer (the HLS default rule, written
explicitly in the ``IV=`` attribute), so every segment is encrypted with AES-128-CBC, PKCS#7
padded, starting from that IV.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Optional, Tuple

from srs.app.server.file_root import confine
from srs.kernel.m3u8 import key_uri
from srs.kernel.path_template import build_stream
from srs.kernel.aes import Aes128CbcEncryptor

log = logging.getLogger(__name__)


def makedirs_for(path: str) -> None:
    """Create the parent directories of ``path`` (recursively, like srs_create_dir_recursively)."""
    d = os.path.dirname(path)
    if d and not os.path.isdir(d):
        os.makedirs(d, mode=0o755, exist_ok=True)


def unlink_quietly(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        log.warning("hls: unlink %s failed: %s", path, e)
        return False


class SegmentFile:
    """One TS segment being written: bytes go to ``path + ".tmp"``; ``commit`` renames it into
    place (players never see a partial segment), ``abort`` removes it. Raises OSError."""

    __slots__ = ("path", "tmp", "_f", "_cipher", "bytes")

    def __init__(self, path: str, cipher: Optional[Aes128CbcEncryptor] = None):
        self.path = path
        self.tmp = path + ".tmp"
        self._cipher = cipher
        self.bytes = 0
        makedirs_for(path)
        self._f = open(self.tmp, "wb")

    def write(self, data: bytes) -> None:
        if self._cipher is not None:
            data = self._cipher.update(data)
        if data:
            self._f.write(data)
            self.bytes += len(data)

    def commit(self) -> None:
        f, self._f = self._f, None
        if f is None:
            return
        try:
            if self._cipher is not None:
                tail = self._cipher.finalize()
                f.write(tail)
                self.bytes += len(tail)
            f.close()  # flushes: a full disk surfaces here
        except OSError:
            try:
                f.close()
            except OSError:
                pass
            unlink_quietly(self.tmp)
            raise
        try:
            os.replace(self.tmp, self.path)
        except OSError:
            unlink_quietly(self.tmp)
            raise

    def abort(self) -> None:
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        unlink_quietly(self.tmp)


def iv_for(seq: int) -> bytes:
    return (seq & ((1 << 128) - 1)).to_bytes(16, "big")


class KeyRing:
    """The current AES key of one stream; writes a new key file at each key-group start."""

    def __init__(self, cfg, vhost: str, app: str, stream: str, m3u8_dir: str,
                 random_bytes: Callable[[int], bytes] = os.urandom):
        self.per_key = max(1, int(cfg.hls_fragments_per_key))
        self.key_file_template = build_stream(cfg.hls_key_file, vhost, app, stream)
        self.key_file_path = cfg.hls_key_file_path
        self.key_root = cfg.hls_key_file_path or cfg.hls_path  # every key file stays inside
        self.key_url = cfg.hls_key_url
        self.m3u8_dir = m3u8_dir
        self.random_bytes = random_bytes
        self.key: Optional[bytes] = None
        self.key_seq: Optional[int] = None
        self.key_path = ""
        self.uri = ""

    def path_of(self, key_seq: int) -> Tuple[str, str]:
        """(file name as configured with [seq], path on disk) of the key of group ``key_seq``."""
        name = self.key_file_template.replace("[seq]", str(key_seq))
        return name, confine(self.key_root, name)  # PathOutsideRoot before any file is written

    def for_segment(self, seq: int) -> Tuple[bytes, bytes, int, str, str]:
        """-> (key, iv, key_seq, key uri, key path) for segment ``seq``; may write a key file
        (raises OSError when it cannot, PathOutsideRoot when its name leaves the key root)."""
        if self.key is None or seq % self.per_key == 0 or seq < (self.key_seq or 0):
            key = self.random_bytes(16)
            name, path = self.path_of(seq)
            makedirs_for(path)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(key)
            os.replace(tmp, path)
            self.key, self.key_seq, self.key_path = key, seq, path
            self.uri = key_uri(name, self.key_url, path, self.m3u8_dir)
        return self.key, iv_for(self.key_seq), self.key_seq, self.uri, self.key_path
