"""Low-latency HLS playlist text (RFC 8216bis §4.4.3.7-4.4.5.2, §6.2.5.2, §6.2.6): partial segments.

Pure functions over values (kernel: no clock, no IO). The full segments are kernel/m3u8.py's
``Segment``; a segment being written shows only as its ``Part``s, then an ``EXT-X-PRELOAD-HINT``
names the part that comes next. What the server promises in ``EXT-X-SERVER-CONTROL``:

    CAN-BLOCK-RELOAD=YES     the playlist request waits for ``_HLS_msn``/``_HLS_part`` (app/hls/ll.py)
    PART-HOLD-BACK=3*part    the spec's minimum is 2x PART-TARGET, 3x is its recommendation
    CAN-SKIP-UNTIL=6*target  delta updates (``_HLS_skip=YES``): older segments become an EXT-X-SKIP

Query parameters of a playlist request are checked here (``parse_directives``): the client's
strings are untrusted; anything not a small decimal integer (or YES/v2 for skip) is refused.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from srs.kernel.errors import HttpError
import math

from srs.kernel.m3u8 import Segment

VERSION = 9            # EXT-X-SKIP needs 9; parts, preload hints and server control need 6+
HOLD_BACK_PARTS = 3.0  # PART-HOLD-BACK in part targets
SKIP_TARGETS = 6       # CAN-SKIP-UNTIL in target durations (the spec's minimum)
PARTS_KEPT_TARGETS = 3  # parts are listed for the segments within this many target durations of the end
MAX_MSN = 0xFFFFFFFF
MAX_PART = 100000


class LlRequestError(HttpError):
    """A playlist request with invalid LL-HLS directives: answered 400 (RFC 8216bis §6.2.5.2)."""

    def __init__(self, message: str):
        super().__init__(message, status=400)


class Part:
    """One partial segment: ``msn``/``index`` place it, ``uri`` is what the playlist names."""

    __slots__ = ("msn", "index", "duration_ms", "independent", "uri", "data")

    def __init__(self, msn: int, index: int, duration_ms: int, independent: bool, uri: str, data: bytes = b""):
        self.msn, self.index = msn, index
        self.duration_ms = duration_ms
        self.independent = independent
        self.uri = uri
        self.data = data

    def __repr__(self) -> str:
        return f"Part({self.msn}.{self.index}, {self.duration_ms}ms{', I' if self.independent else ''})"


def part_uri(segment_uri: str, index: int) -> str:
    """``live-12.m4s`` -> ``live-12.part3.m4s``: beside the segment, named by it (its query, if any, kept off)."""
    base = segment_uri
    if base.endswith(".m4s"):
        base = base[:-4]
    return "%s.part%d.m4s" % (base, index)


def _int(value: str, name: str, top: int) -> int:
    if not value or len(value) > 10 or not value.isdigit() or not value.isascii():
        raise LlRequestError(f"{name} is not a decimal integer")
    n = int(value)
    if n > top:
        raise LlRequestError(f"{name} out of range")
    return n


def parse_directives(query: dict) -> Tuple[Optional[int], Optional[int], bool]:
    """(msn, part, skip) of a playlist request's ``_HLS_msn``, ``_HLS_part``, ``_HLS_skip``."""
    msn = part = None
    if "_HLS_msn" in query:
        msn = _int(query["_HLS_msn"], "_HLS_msn", MAX_MSN)
    if "_HLS_part" in query:
        if msn is None:
            raise LlRequestError("_HLS_part without _HLS_msn")
        part = _int(query["_HLS_part"], "_HLS_part", MAX_PART)
    skip = query.get("_HLS_skip")
    if skip is not None and skip not in ("YES", "v2"):
        raise LlRequestError("_HLS_skip is not YES or v2")
    return msn, part, skip is not None


def target_duration(segments: Sequence[Segment], max_td_s: float) -> int:
    """§4.4.3.1: every EXTINF *rounded to the nearest integer* is at most the target (kernel/m3u8.py
    rounds up, as SRS does): a 1.02 s segment keeps a 1 s target, so CAN-SKIP-UNTIL and the blocking
    bound stay as short as the segments are."""
    longest = max((s.duration_ms for s in segments), default=0)
    return max(int(longest / 1000.0 + 0.5), int(math.ceil(max_td_s)), 1)


def _fmt(ms: int) -> str:
    return "%.5f" % (ms / 1000.0)


def render_ll(segments: Sequence[Segment], parts: Sequence[Part], current_msn: int, hint_uri: str,
              part_target_s: float, max_td_s: float, skip: bool = False) -> bytes:
    """The LL-HLS playlist: ``segments`` the complete ones (oldest first), ``parts`` every part still
    kept (of the last complete segments and of the segment ``current_msn`` being written), ``hint_uri``
    the part that comes next. ``skip`` asks for a delta update (only older segments are skipped)."""
    td = target_duration(segments, max_td_s)
    skip_until = SKIP_TARGETS * td
    first = segments[0].seq if segments else current_msn
    lines: List[str] = [
        "#EXTM3U",
        "#EXT-X-VERSION:%d" % VERSION,
        "#EXT-X-TARGETDURATION:%d" % td,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=%.1f,PART-HOLD-BACK=%.3f"
        % (skip_until, HOLD_BACK_PARTS * part_target_s),
        "#EXT-X-PART-INF:PART-TARGET=%.3f" % part_target_s,
        "#EXT-X-MEDIA-SEQUENCE:%d" % first,
    ]
    skipped = 0
    if skip:
        # Segments that start more than CAN-SKIP-UNTIL before the end of the playlist may be skipped.
        remaining = sum(s.duration_ms for s in segments) + sum(p.duration_ms for p in parts if p.msn == current_msn)
        for seg in segments:
            if remaining - seg.duration_ms < skip_until * 1000:
                break
            remaining -= seg.duration_ms
            skipped += 1
        if skipped:
            lines.append("#EXT-X-SKIP:SKIPPED-SEGMENTS=%d" % skipped)
    by_msn = {}
    for p in parts:
        by_msn.setdefault(p.msn, []).append(p)
    map_uri = ""
    for seg in segments[skipped:]:
        if seg.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if seg.map_uri and seg.map_uri != map_uri:
            map_uri = seg.map_uri
            lines.append('#EXT-X-MAP:URI="%s"' % map_uri)
        lines.extend(_part_lines(by_msn.get(seg.seq, ())))
        lines.append("#EXTINF:%.5f," % (seg.duration_ms / 1000.0))
        lines.append(seg.uri)
    if not segments or current_msn > segments[-1].seq:  # else it is complete (unpublished), listed above
        lines.extend(_part_lines(by_msn.get(current_msn, ())))
    if hint_uri:
        lines.append('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="%s"' % hint_uri)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _part_lines(parts) -> List[str]:
    return ['#EXT-X-PART:DURATION=%s,URI="%s"%s' % (_fmt(p.duration_ms), p.uri,
                                                   ",INDEPENDENT=YES" if p.independent else "") for p in parts]


def parts_to_keep(segments: Sequence[Segment], parts: List[Part], current_msn: int, max_td_s: float) -> List[Part]:
    """The parts still listed: of the segment being written, and of the complete segments that end
    within PARTS_KEPT_TARGETS target durations of the playlist's end (§6.2.2: a server MUST keep them
    that long, then SHOULD drop them)."""
    horizon = PARTS_KEPT_TARGETS * target_duration(segments, max_td_s) * 1000
    keep = {current_msn}
    total = 0
    for seg in reversed(segments):
        if total >= horizon:
            break
        keep.add(seg.seq)
        total += seg.duration_ms
    return [p for p in parts if p.msn in keep]


def satisfied(msn: int, part: Optional[int], last_complete: int, current_msn: int, current_parts: int) -> bool:
    """Does the playlist hold what ``_HLS_msn``/``_HLS_part`` asks (§6.2.5.2)? ``last_complete`` is the
    newest complete segment (-1 for none), ``current_parts`` the parts of segment ``current_msn``."""
    if part is None:
        return msn <= last_complete
    if msn < current_msn:
        return True  # that segment is complete, so every part of it is there
    return msn == current_msn and part < current_parts
