"""The table's ABR-ladder rows: ``vhost { abr {} }`` (issue 14; SRS has no such block, its nearest is
``transcode``, which needs an ffmpeg binary).

    abr {
        enabled on;
        preset veryfast;                      # libx264 preset of every rendition
        rendition 480p { width 854; height 480; vbitrate 1000; abitrate 96; }
        rendition 240p { height 240; vbitrate 400; }   # width 0: keep the source's aspect (both 0: its size)
        ladder 360p:640x360:700:64;           # the same in one line (and the env form)
        master [app]/[stream]_abr.m3u8;       # HLS master playlist, under the vhost's hls_path
        dash_master [app]/[stream]_abr.mpd;   # DASH master MPD, under the vhost's dash_path
        source off;                           # on: a copy of the source, [stream]_source, tops both masters
    }

Each rendition is published back as the live stream ``<stream>_<name>``. ``abitrate 0`` copies the
source's audio. The env forms: SRS_VHOST_ABR_ENABLED=on, SRS_VHOST_ABR_PRESET=ultrafast,
SRS_VHOST_ABR_LADDER="480p:854x480:1000:96 240p:0x240:400:0" (name:WxH:vkbps:akbps, space-separated).
A reload of the block restarts the ladders of the vhost (app/abr/ladder.py on_reload).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Tuple

from srs.app.config.row import COUNT, FLAG, STR, STRS, Choice, Row, block
from srs.kernel.errors import ConfigError

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

ABR_ROWS = (
    block("vhost.abr", reload="abr"),
    Row("vhost.abr.enabled", FLAG, False),
    Row("vhost.abr.preset", Choice(*PRESETS), "veryfast"),
    Row("vhost.abr.master", STR, "[app]/[stream]_abr.m3u8"),
    Row("vhost.abr.dash_master", STR, "[app]/[stream]_abr.mpd"),
    Row("vhost.abr.source", FLAG, False),
    Row("vhost.abr.ladder", STRS, (), field="renditions", custom=True),
    block("vhost.abr.rendition", default=(), field="renditions", many=True, args=(1, 1), custom=True, env=False),
    Row("vhost.abr.rendition.width", COUNT, 0),
    Row("vhost.abr.rendition.height", COUNT, 0),
    Row("vhost.abr.rendition.vbitrate", COUNT, 1000),
    Row("vhost.abr.rendition.abitrate", COUNT, 0),
)

# a rendition name becomes part of a stream name and of file names: keep it plain
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")
_LADDER_RE = re.compile(r"([^:]+):(\d{1,5})x(\d{1,5}):(\d{1,7}):(\d{1,5})\Z")
MAX_RENDITIONS = 8  # each one is an x264 encoder in the stream's worker process


def _fail(d, message: str) -> ConfigError:
    return ConfigError(message, file=getattr(d, "file", ""), line=getattr(d, "line", 0))


def parse_renditions(d, make: Callable[..., Any]) -> Tuple[Any, ...]:
    """The renditions of an ``abr`` directive (None: none), each ``make(name=, width=, height=,
    vbitrate=, abitrate=)``; a bad name, size or a duplicate raises ConfigError at its line."""
    if d is None:
        return ()
    found = []
    for r in d.get_all("rendition"):
        def num(name: str, default: int) -> int:
            c = r.get(name)
            return int(c.args[0]) if c is not None and c.args else default
        found.append((r, r.arg(0, ""), num("width", 0), num("height", 0), num("vbitrate", 1000), num("abitrate", 0)))
    for line in d.get_all("ladder"):
        for text in line.args:
            m = _LADDER_RE.match(text)
            if m is None:
                raise _fail(line, "abr ladder %r: expect name:WIDTHxHEIGHT:vkbps:akbps" % text)
            found.append((line, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))))
    out, names = [], set()
    for where, name, width, height, vbitrate, abitrate in found:
        if not _NAME_RE.match(name or ""):
            raise _fail(where, "abr rendition name %r: 1-32 letters, digits, '_' or '-'" % name)
        if name == "source":
            raise _fail(where, "abr rendition name 'source' is reserved (abr { source on; } publishes [stream]_source)")
        if name in names:
            raise _fail(where, "abr rendition %r declared twice" % name)
        if width > 7680 or height > 4320:  # odd sizes are made even by the worker (x264 needs it)
            raise _fail(where, "abr rendition %s: at most 7680x4320" % name)
        if not 16 <= vbitrate <= 100000 or abitrate > 512:
            raise _fail(where, "abr rendition %s: vbitrate in [16, 100000] kbps, abitrate at most 512" % name)
        names.add(name)
        out.append(make(name=name, width=width, height=height, vbitrate=vbitrate, abitrate=abitrate))
    if len(out) > MAX_RENDITIONS:
        raise _fail(d, "abr: at most %d renditions" % MAX_RENDITIONS)
    return tuple(out)
