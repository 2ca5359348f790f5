"""DASH live MPD text (SRS 5's srs_app_dash.cpp form): pure, the clock readings come in as arguments.

One dynamic Period; an AdaptationSet per track (``video/mp4`` id ``video``, ``audio/mp4`` id
``audio``), each a ``SegmentTemplate`` (``$RepresentationID$-init.mp4`` and
``$RepresentationID$-$Number$.m4s``, timescale 1000) with a ``SegmentTimeline`` of the window:
``<S t=start d=duration/>`` in the stream's milliseconds. ``availabilityStartTime`` is the wall-clock
instant of media time 0, so a segment ``(t, d)`` becomes available at AST + t + d, which is when it
was written (the media arrives in real time).
"""
from __future__ import annotations

from typing import List, Optional, Sequence
from xml.sax.saxutils import quoteattr

from srs.core.timeutil import calendar_fields

PROFILES = "urn:mpeg:dash:profile:isoff-live:2011,http://dashif.org/guidelines/dash-if-simple"


class Representation:
    """One track of the MPD and the segments of its window: ``(number, start_ms, duration_ms)``.

    ``base_url`` (an ABR master's: the rendition's own segment directory) and ``files`` (the file
    name prefix, ``video``/``audio``) let the same files be listed under another id."""

    __slots__ = ("rid", "is_video", "codecs", "bandwidth", "width", "height", "sample_rate", "segments",
                 "base_url", "files")

    def __init__(self, rid: str, is_video: bool, codecs: str, bandwidth: int, width: int = 0, height: int = 0,
                 sample_rate: int = 0, base_url: str = "", files: str = ""):
        self.rid, self.is_video, self.codecs, self.bandwidth = rid, is_video, codecs, bandwidth
        self.width, self.height, self.sample_rate = width, height, sample_rate
        self.segments: List[tuple] = []
        self.base_url, self.files = base_url, files


def iso_time(epoch_ms: int) -> str:
    """``2026-12-03T07:22:49.123Z``."""
    t = calendar_fields(epoch_ms / 1000.0, True)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                                                     t.tm_sec, epoch_ms % 1000)


def duration(ms: float) -> str:
    """An xs:duration in seconds: ``PT5.000S``."""
    return "PT%.3fS" % (ms / 1000.0)


def render(reps: Sequence[Representation], base_url: str, availability_start_ms: int, publish_ms: int,
           update_period_ms: float, window_size: int, group: bool = False) -> bytes:
    """The MPD. timeShiftBufferDepth and minBufferTime follow SRS: the last segment's duration times
    the window, and twice it. ``group``: the video representations share one AdaptationSet (so a
    player switches between them), and so do the audio ones; otherwise each has its own."""
    last: Optional[int] = max((r.segments[-1][2] for r in reps if r.segments), default=0)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<MPD profiles="%s" xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="%s" '
        'timeShiftBufferDepth="%s" availabilityStartTime="%s" publishTime="%s" minBufferTime="%s">'
        % (PROFILES, duration(update_period_ms), duration(last * window_size), iso_time(availability_start_ms),
           iso_time(publish_ms), duration(2 * last)),
    ]
    if base_url:
        lines.append("  <BaseURL>%s</BaseURL>" % _text(base_url))
    lines.append('  <Period start="PT0S">')
    if group:  # an ABR master: one AdaptationSet per media type, its renditions as Representations
        for is_video in (True, False):
            listed = [r for r in reps if r.is_video == is_video and r.segments]
            if listed:
                lines.extend(_adaptation_set(listed))
    else:
        for rep in reps:
            if rep.segments:
                lines.extend(_adaptation_set([rep]))
    lines.append("  </Period>")
    lines.append("</MPD>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _adaptation_set(reps: Sequence[Representation]) -> List[str]:
    kind = "video" if reps[0].is_video else "audio"
    lines = ['    <AdaptationSet mimeType="%s/mp4" segmentAlignment="true" startWithSAP="1">' % kind]
    for rep in reps:
        if rep.is_video:
            lines.append('      <Representation id=%s bandwidth="%d" codecs=%s width="%d" height="%d">'
                         % (quoteattr(rep.rid), rep.bandwidth, quoteattr(rep.codecs), rep.width, rep.height))
        else:
            lines.append('      <Representation id=%s bandwidth="%d" codecs=%s audioSamplingRate="%d">'
                         % (quoteattr(rep.rid), rep.bandwidth, quoteattr(rep.codecs), rep.sample_rate))
        if rep.base_url:
            lines.append("        <BaseURL>%s</BaseURL>" % _text(rep.base_url))
        files = rep.files or "$RepresentationID$"
        lines.append('        <SegmentTemplate initialization="%s-init.mp4" media="%s-$Number$.m4s" startNumber="%d" '
                     'timescale="1000">' % (files, files, rep.segments[0][0]))
        lines.append("          <SegmentTimeline>")
        lines.extend('            <S t="%d" d="%d"/>' % (t, d) for _, t, d in rep.segments)
        lines.append("          </SegmentTimeline>")
        lines.append("        </SegmentTemplate>")
        lines.append("      </Representation>")
    lines.append("    </AdaptationSet>")
    return lines


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
