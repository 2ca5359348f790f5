"""Static files over HTTP (SRS's SrsHttpFileServer): the http_server ``dir`` and http_static mounts.

Serves files under ``root_dir`` for requests under ``mount_prefix``: ``index.html`` for
directories, MIME by extension, HEAD, ``Range: bytes=``, ``?range=``/``?bytes=`` for mp4 and
``?start=<byte offset>`` for FLV (the FLV header and the leading metadata/sequence-header tags,
then the file from the offset, so a player can decode from the seek point).

Safety: ``..`` segments (also %-encoded, since the path arrives decoded), backslashes and
paths whose real location (symlinks resolved) is outside the root get 403 and a warn line.
HLS files are replaced by rename while players read them: the file is opened once and that
open file is served to the end, in pieces, never read whole into memory.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from email.utils import formatdate

from srs.kernel.errors import HttpError
from srs.protocol.http import HttpRequest, parse_byte_range

log = logging.getLogger(__name__)

MIME_TYPES = {
    ".ts": "video/MP2T",
    ".flv": "video/x-flv",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".aac": "audio/x-aac",
    ".mp3": "audio/mpeg",
    ".f4m": "application/f4m+xml",
    ".key": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "application/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".xml": "text/xml",
    ".txt": "text/plain; charset=utf-8",
    ".swf": "application/x-shockwave-flash",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
}
DEFAULT_MIME = "application/octet-stream"
INDEX_PAGE = "index.html"
# Piece size for streaming a file: big enough for few syscalls, small enough per greenlet.
PIECE = 64 * 1024
# A directory's realpath is reused this long (s), for at most this many directories.
DIR_CACHE_S = 1.0
DIR_CACHE_MAX = 1024

# FLV: 9-byte header + 4-byte PreviousTagSize0, then 11-byte tag headers.
FLV_TAG_AUDIO = 8
FLV_TAG_VIDEO = 9
FLV_TAG_SCRIPT = 18
# An onMetaData with a keyframe index can be large; beyond this we stop looking for headers.
FLV_MAX_HEAD_TAG = 4 * 1024 * 1024
FLV_MAX_HEAD_TAGS = 8


def flv_head_size(fd: int, size: int) -> int:
    """Bytes at the start of an FLV file to send before a seek point: the header, then the
    leading script (metadata) tags and audio/video sequence headers. 0 if not an FLV file."""
    head = os.pread(fd, 13, 0)
    if len(head) < 13 or head[:3] != b"FLV":
        return 0
    pos = int.from_bytes(head[5:9], "big") + 4  # DataOffset (9) + PreviousTagSize0
    for _ in range(FLV_MAX_HEAD_TAGS):
        tag = os.pread(fd, 13, pos)
        if len(tag) < 13:
            break
        kind = tag[0] & 0x1F
        data_size = int.from_bytes(tag[1:4], "big")
        end = pos + 11 + data_size + 4
        if data_size > FLV_MAX_HEAD_TAG or end > size:
            break
        if kind == FLV_TAG_SCRIPT:
            pass
        elif kind == FLV_TAG_VIDEO and data_size >= 2:
            # AVC (7) or HEVC (12) with AVCPacketType 0 = sequence header
            if (tag[11] & 0x0F) not in (7, 12) or tag[12] != 0:
                break
        elif kind == FLV_TAG_AUDIO and data_size >= 2:
            # AAC (10) with AACPacketType 0 = sequence header
            if (tag[11] >> 4) != 10 or tag[12] != 0:
                break
        else:
            break
        pos = end
    return pos


class StaticFileHandler:
    """A mux handler: ``mux.handle(pattern, StaticFileHandler(dir, mount_prefix))`` where
    mount_prefix is the path part of the pattern (``/`` or ``/hls/``); it is stripped from the
    request path before joining with root_dir, as SRS does."""

    def __init__(self, root_dir: str, mount_prefix: str = "/", index: str = INDEX_PAGE,
                 piece: int = PIECE):
        self.root = os.path.realpath(root_dir)
        if not mount_prefix.startswith("/"):
            mount_prefix = "/" + mount_prefix
        if not mount_prefix.endswith("/"):
            mount_prefix += "/"
        self.mount_prefix = mount_prefix
        self.index = index
        self.piece = piece
        self._dirs: dict = {}   # directory -> (its realpath, until when), see _realpath

    def __repr__(self) -> str:
        return f"StaticFileHandler({self.root!r}, {self.mount_prefix!r})"

    # ----- path resolution

    def _forbid(self, conn, req: HttpRequest, why: str) -> None:
        log.warning("HTTP static refused %s from ip=%s cid=%d: %s", req.target, conn.ip, conn.cid,
                    why, extra={"cid": conn.cid})
        raise HttpError(f"forbidden {req.path}: {why}", status=403)

    def resolve(self, conn, req: HttpRequest):
        """The real path of the file for req, or raises HttpError 403/404 (or returns
        a redirect target string starting with '/' for a directory without its slash)."""
        path = req.path
        if "\\" in path or "\x00" in path:
            self._forbid(conn, req, "backslash or NUL in path")
        prefix = self.mount_prefix
        if path.startswith(prefix):
            rel = path[len(prefix):]
        elif path + "/" == prefix:
            rel = ""
        else:
            raise HttpError(f"{path} not under {prefix}", status=404)
        segments = rel.split("/")
        if ".." in segments:
            self._forbid(conn, req, "'..' in path")
        parts = [s for s in segments if s not in ("", ".")]
        full = os.path.join(self.root, *parts)
        if os.path.isdir(full):
            if not path.endswith("/"):
                return None, req.raw_path + "/"
            full = os.path.join(full, self.index)
        real = self._realpath(full)
        if real != self.root and not real.startswith(self.root + os.sep):
            self._forbid(conn, req, f"resolves outside the root ({real})")
        return real, None

    def _realpath(self, full: str) -> str:
        """``os.path.realpath(full)``, its directory's part remembered for a second: realpath lstat()s
        every component in Python, and HLS players ask for files of the same few directories hundreds
        of times a second. The file itself is checked each time (a symlink: resolved in full)."""
        head, tail = os.path.split(full)
        now = time.monotonic()
        hit = self._dirs.get(head)
        if hit is None or hit[1] <= now:
            if len(self._dirs) >= DIR_CACHE_MAX:
                self._dirs.clear()
            hit = self._dirs[head] = (os.path.realpath(head), now + DIR_CACHE_S)
        if not tail or os.path.islink(full):
            return os.path.realpath(full)
        return os.path.join(hit[0], tail)

    # ----- serving

    def __call__(self, conn, req: HttpRequest) -> int:
        """Answer ``req``; returns the body bytes sent (what an HLS session counts)."""
        if req.method not in ("GET", "HEAD"):
            conn.send_response(405, [("Allow", "GET, HEAD")])
            return 0
        real, redirect = self.resolve(conn, req)
        if redirect is not None:
            query = req.target.partition("?")[2]
            location = redirect + ("?" + query if query else "")
            conn.send_response(301, [("Location", location)])
            return 0
        try:
            f = open(real, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise HttpError(f"no file {req.path}", status=404) from exc
        except PermissionError as exc:
            raise HttpError(f"no permission for {req.path}", status=403) from exc
        with f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise HttpError(f"not a regular file {req.path}", status=404)
            return self._serve_open_file(conn, req, f.fileno(), st, real)

    def _serve_open_file(self, conn, req: HttpRequest, fd: int, st, real: str) -> int:
        size = st.st_size
        ext = os.path.splitext(real)[1].lower()
        headers = [("Content-Type", MIME_TYPES.get(ext, DEFAULT_MIME)),
                   ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
                   ("Accept-Ranges", "bytes")]
        head_only = req.method == "HEAD"

        start_text = req.query.get("start", "")
        if ext == ".flv" and start_text.isascii() and start_text.isdigit():
            start = int(start_text)
            if start > 0:
                return self._serve_flv_seek(conn, fd, size, start, headers, head_only)

        spec = None
        if ext == ".mp4":
            for key in ("range", "bytes"):
                if req.query.get(key):
                    spec = "bytes=" + req.query[key]
                    break
        if spec is None:
            spec = req.header("range")
        if spec is not None:
            try:
                rng = parse_byte_range(spec, size)
            except HttpError:
                conn.send_response(416, [("Content-Range", f"bytes */{size}")] + headers[:1])
                return 0
            if rng is not None:
                first, last = rng
                length = last - first + 1
                conn.send_head(206, headers + [("Content-Range", f"bytes {first}-{last}/{size}")],
                               length)
                return 0 if head_only else self._send_file(conn, fd, first, length)

        conn.send_head(200, headers, size)
        return 0 if head_only else self._send_file(conn, fd, 0, size)

    def _serve_flv_seek(self, conn, fd: int, size: int, start: int, headers, head_only: bool) -> int:
        if start >= size:
            conn.send_response(416, [("Content-Range", f"bytes */{size}")] + headers[:1])
            return 0
        head_size = flv_head_size(fd, size)
        if head_size == 0 or start <= head_size:
            # not an FLV we understand, or the seek point is inside the headers: whole file
            conn.send_head(200, headers, size)
            return 0 if head_only else self._send_file(conn, fd, 0, size)
        conn.send_head(200, headers, head_size + size - start)
        if head_only:
            return 0
        return self._send_file(conn, fd, 0, head_size) + self._send_file(conn, fd, start, size - start)

    def _send_file(self, conn, fd: int, offset: int, length: int) -> int:
        """Send [offset, offset+length) of the open file in pieces; a file cut shorter while we
        serve it breaks the promised Content-Length, so the connection is closed. Returns the bytes sent."""
        start, end = offset, offset + length
        while offset < end:
            data = os.pread(fd, min(self.piece, end - offset), offset)
            if not data:
                log.warning("HTTP static file shrank while served: %d bytes missing", end - offset)
                conn.close()
                break
            conn.send_raw(data)
            offset += len(data)
        return offset - start
