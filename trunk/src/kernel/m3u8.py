"""HLS naming and playlist text (SRS 2.0/3.0 srs_app_hls.cpp): segment and key URIs, the m3u8.

Pure functions over values (kernel: no clock, no disk): the clock reading comes in as ``now_ms``.
The path templates ([app], [2006]...) are kernel/path_template.py's.
The playlist text is byte-for-byte what SRS writes (LF line ends, ``#EXTINF:<3 decimals>, no desc``,
no ``#EXT-X-ENDLIST`` for live).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence


class Segment:
    """One TS file of the playlist. ``duration_ms`` is fixed when the segment is reaped.

    ``key_seq`` (AES-128): the sequence number whose key file encrypts this segment (the first
    segment of its key group), with ``iv``; None when the segment is clear.
    """

    __slots__ = ("seq", "start_ms", "end_ms", "duration_ms", "path", "uri", "discontinuity",
                 "key_seq", "key_uri", "key_path", "iv", "bytes", "map_uri")

    def __init__(self, seq: int, start_ms: int, path: str, uri: str):
        self.seq = seq
        self.start_ms = start_ms
        self.end_ms = start_ms
        self.duration_ms = 0
        self.path = path
        self.uri = uri
        self.discontinuity = False
        self.key_seq: Optional[int] = None
        self.key_uri = ""
        self.key_path = ""
        self.iv = b""
        self.bytes = 0
        self.map_uri = ""  # fMP4 (hls_use_fmp4): the URI of its init segment, EXT-X-MAP

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000.0

    def __repr__(self) -> str:
        return f"Segment(seq={self.seq}, {self.duration_ms}ms, {self.uri!r})"


def dirname(path: str) -> str:
    """srs_path_dirname, except that a bare name has the empty dirname (SRS returns the name)."""
    pos = path.rfind("/")
    if pos < 0:
        return ""
    return "/" if pos == 0 else path[:pos]


def segment_uri(ts_path: str, m3u8_dir: str, m3u8_url: str, entry_prefix: str) -> str:
    """The URI of a ts in the playlist: its path relative to the m3u8's directory; with
    ``hls_entry_prefix`` (no trailing "/") prefixed by ``prefix/<dir of the m3u8 url>/``."""
    url = ts_path
    if m3u8_dir and url.startswith(m3u8_dir):
        url = url[len(m3u8_dir):]
    url = url.lstrip("/")
    uri = entry_prefix
    if entry_prefix and not entry_prefix.endswith("/"):
        uri += "/"
        http_dir = dirname(m3u8_url)
        if http_dir:
            uri += http_dir + "/"
    return uri + url


def key_uri(key_file: str, key_url: str, key_path: str, m3u8_dir: str) -> str:
    """The EXT-X-KEY URI of a key file.

    With ``hls_key_url`` it is that root + the key file name (SRS concatenates them; a missing "/"
    between the two is added here). Without it SRS writes the bare name, which players resolve
    against the m3u8's directory; when the key lives under that directory we write the path
    relative to it so the default ``[app]/[stream]-[seq].key`` resolves to the file written.
    """
    if key_url:
        if not key_url.endswith("/") and not key_file.startswith("/"):
            return key_url + "/" + key_file
        return key_url + key_file
    if m3u8_dir and key_path.startswith(m3u8_dir.rstrip("/") + "/"):
        return key_path[len(m3u8_dir):].lstrip("/")
    return key_file


def target_duration(segments: Sequence[Segment], max_td_s: float) -> int:
    """max(ceil(longest segment), ceil(hls_td_ratio * hls_fragment)): never below any EXTINF."""
    longest = max((s.duration_ms for s in segments), default=0)
    return max(int(math.ceil(longest / 1000.0)), int(math.ceil(max_td_s)))


def render(segments: Sequence[Segment], max_td_s: float) -> bytes:
    """The playlist text as SRS writes it (plus an EXT-X-KEY for the first listed segment of a
    key group whose opening segment has left the window, so it is never played in the clear).
    fMP4 segments (``map_uri``) make it a version 7 playlist with an EXT-X-MAP wherever the init changes."""
    first = segments[0]
    lines: List[str] = [
        "#EXTM3U",
        "#EXT-X-VERSION:%d" % (7 if first.map_uri else 3),
        "#EXT-X-ALLOW-CACHE:YES",
        "#EXT-X-MEDIA-SEQUENCE:%d" % first.seq,
        "#EXT-X-TARGETDURATION:%d" % target_duration(segments, max_td_s),
    ]
    map_uri = ""
    for i, seg in enumerate(segments):
        if seg.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if seg.map_uri and seg.map_uri != map_uri:
            map_uri = seg.map_uri
            lines.append('#EXT-X-MAP:URI="%s"' % map_uri)
        if seg.key_seq is not None and (seg.key_seq == seg.seq or i == 0):
            lines.append('#EXT-X-KEY:METHOD=AES-128,URI="%s",IV=0x%s' % (seg.key_uri, seg.iv.hex()))
        lines.append("#EXTINF:%.3f, no desc" % (seg.duration_ms / 1000.0))
        lines.append(seg.uri)
    return ("\n".join(lines) + "\n").encode("utf-8")


def shrink(segments: List[Segment], window_s: float) -> List[Segment]:
    """Drop the oldest segments beyond ``hls_window``; returns the removed ones (SRS's rule: from
    the newest backwards, the segment at which int(total) first exceeds the window is the oldest
    kept)."""
    total = 0.0
    remove_index = -1
    for i in range(len(segments) - 1, -1, -1):
        total += segments[i].duration_ms / 1000.0
        if int(total) > window_s:
            remove_index = i
            break
    if remove_index <= 0:
        return []
    removed = segments[:remove_index]
    del segments[:remove_index]
    return removed


class FloorClock:
    """``hls_ts_floor on``: [timestamp] = floor(now / fragment), kept increasing by one per segment
    (SRS 3's accept/deviation logic); ``deviation`` stretches the reap threshold to catch up."""

    JUMP_WHEN_DEVIATION = 20
    REAP_PERCENT = 0.3

    def __init__(self):
        self.accept = 0
        self.previous = 0
        self.deviation = 0

    def next(self, now_ms: int, fragment_s: float) -> int:
        current = int(now_ms // max(1, int(fragment_s * 1000)))
        if not self.accept:
            self.accept = current - 1
        else:
            self.accept += 1
        if self.accept - current > self.JUMP_WHEN_DEVIATION:
            self.accept = current - 1
        self.deviation = self.accept - current
        self.previous = current
        return self.accept

    def extra_s(self, fragment_s: float) -> float:
        return self.REAP_PERCENT * self.deviation * fragment_s
