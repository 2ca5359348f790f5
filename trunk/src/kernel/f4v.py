"""Adobe HDS (HTTP Dynamic Streaming) pieces: F4V boxes, the ``abst`` bootstrap, F4F fragments and
the F4M manifest, as SRS's srs_app_hds.cpp writes them (video_file_format_spec_v10_1, section F4V).

Boxes are ``size(u32) type(4cc) body``; ``size == 1`` means a u64 size follows (read, never written).
SRS's fragment file ``<stream>Seg1-Frag<N>`` is a single ``mdat`` box holding FLV tags without the
FLV file header (each tag followed by its PreviousTagSize); a parser here also accepts fragments
with ``afra``/``abst``/``moof`` boxes before the ``mdat``, as other packagers write.

The bootstrap (``<stream>.abst``) describes the live window: one segment run (segment 1 holds every
fragment) and one fragment run entry per fragment (number, start time, duration in ms).
Everything here is bytes in, bytes out; malformed input raises CodecError.
"""
from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from typing import Dict, Iterable, List, Optional, Tuple

from srs.kernel import flv
from srs.kernel.errors import ERROR_STREAM_CASTER_FLV_TAG, CodecError
from srs.kernel.message import Message
from srs.kernel.mp4_boxes import box, full_box  # noqa: F401  (re-exported: HDS callers use f4v.box)

_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

F4M_NS = "http://ns.adobe.com/f4m/1.0"
TIME_SCALE_MS = 1000
# A bootstrap or manifest bigger than this is not one (guards the parsers against huge sizes).
MAX_BOX_SIZE = 64 * 1024 * 1024


def _err(message: str) -> CodecError:
    return CodecError(message, ERROR_STREAM_CASTER_FLV_TAG)


# ------------------------------------------------------------------------------------------ boxes
def iter_boxes(data, offset: int = 0, end: Optional[int] = None) -> Iterable[Tuple[bytes, int, int]]:
    """``(type, body_start, body_end)`` of each box in ``data[offset:end]``."""
    end = len(data) if end is None else end
    pos = offset
    while pos < end:
        if end - pos < 8:
            raise _err(f"box header truncated at {pos}")
        size = _U32.unpack_from(data, pos)[0]
        kind = bytes(data[pos + 4:pos + 8])
        head = 8
        if size == 1:
            if end - pos < 16:
                raise _err(f"box {kind!r} large size truncated at {pos}")
            size = _U64.unpack_from(data, pos + 8)[0]
            head = 16
        elif size == 0:  # the box runs to the end of the data
            size = end - pos
        if size < head or size > end - pos:
            raise _err(f"box {kind!r} at {pos}: size {size} outside 8..{end - pos}")
        yield kind, pos + head, pos + size
        pos += size


class _Reader:
    """Bounds-checked big-endian reads inside one box body."""

    __slots__ = ("data", "pos", "end", "what")

    def __init__(self, data, pos: int, end: int, what: str):
        self.data = data
        self.pos = pos
        self.end = end
        self.what = what

    def _need(self, n: int) -> int:
        pos = self.pos
        if self.end - pos < n:
            raise _err(f"{self.what}: truncated at {pos} (need {n} bytes)")
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.data[self._need(1)]

    def u24(self) -> int:
        p = self._need(3)
        d = self.data
        return (d[p] << 16) | (d[p + 1] << 8) | d[p + 2]

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self._need(4))[0]

    def u64(self) -> int:
        return _U64.unpack_from(self.data, self._need(8))[0]

    def string(self) -> str:
        """A null-terminated UTF-8 string."""
        data = self.data
        pos = self.pos
        i = pos
        while i < self.end and data[i] != 0:
            i += 1
        if i >= self.end:
            raise _err(f"{self.what}: unterminated string at {pos}")
        self.pos = i + 1
        return bytes(data[pos:i]).decode("utf-8", "replace")

    def count(self, n: int, item_size: int) -> int:
        """A table count, checked against the bytes left (a huge count must not loop for long)."""
        if n * item_size > self.end - self.pos:
            raise _err(f"{self.what}: {n} entries do not fit in {self.end - self.pos} bytes")
        return n


def _cstr(s: str) -> bytes:
    return s.encode("utf-8") + b"\x00"


# -------------------------------------------------------------------------------------- bootstrap
class FragmentRun:
    """One afrt entry: fragments from ``first`` start at ``timestamp`` and last ``duration`` each.
    A zero duration carries a discontinuity indicator (0 end, 1 fragment gap, 2 time gap, 3 both)."""

    __slots__ = ("first", "timestamp", "duration", "discontinuity")

    def __init__(self, first: int, timestamp: int, duration: int, discontinuity: int = 0):
        self.first = first
        self.timestamp = timestamp
        self.duration = duration
        self.discontinuity = discontinuity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FragmentRun) and (self.first, self.timestamp, self.duration, self.discontinuity) == (
            other.first, other.timestamp, other.duration, other.discontinuity)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FragmentRun({self.first}, {self.timestamp}, {self.duration}, {self.discontinuity})"


class Bootstrap:
    """The ``abst`` box. ``segment_runs`` = [(first_segment, fragments_per_segment)];
    ``fragment_runs`` = [FragmentRun]; one asrt and one afrt, as SRS writes (quality-less)."""

    __slots__ = ("version", "profile", "live", "update", "time_scale", "current_media_time",
                 "smpte_offset", "movie_identifier", "servers", "qualities", "drm_data", "metadata",
                 "segment_runs", "fragment_time_scale", "fragment_runs")

    def __init__(self, version: int = 0, live: bool = True, current_media_time: int = 0,
                 segment_runs: Optional[List[Tuple[int, int]]] = None,
                 fragment_runs: Optional[List[FragmentRun]] = None, time_scale: int = TIME_SCALE_MS,
                 profile: int = 0, update: bool = False, smpte_offset: int = 0, movie_identifier: str = "",
                 servers: Tuple[str, ...] = (), qualities: Tuple[str, ...] = (), drm_data: str = "",
                 metadata: str = "", fragment_time_scale: int = TIME_SCALE_MS):
        self.version = version
        self.profile = profile
        self.live = live
        self.update = update
        self.time_scale = time_scale
        self.current_media_time = current_media_time
        self.smpte_offset = smpte_offset
        self.movie_identifier = movie_identifier
        self.servers = tuple(servers)
        self.qualities = tuple(qualities)
        self.drm_data = drm_data
        self.metadata = metadata
        self.segment_runs = list(segment_runs or [])
        self.fragment_time_scale = fragment_time_scale
        self.fragment_runs = list(fragment_runs or [])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bootstrap) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Bootstrap(version={self.version}, live={self.live}, current={self.current_media_time}, "
                f"segments={self.segment_runs}, fragments={self.fragment_runs})")

    # ---------------------------------------------------------------- encode
    def encode(self) -> bytes:
        flags = ((self.profile & 3) << 6) | (0x20 if self.live else 0) | (0x10 if self.update else 0)
        parts = [_U32.pack(self.version), _U8.pack(flags), _U32.pack(self.time_scale),
                 _U64.pack(self.current_media_time), _U64.pack(self.smpte_offset), _cstr(self.movie_identifier),
                 _U8.pack(len(self.servers))]
        parts.extend(_cstr(s) for s in self.servers)
        parts.append(_U8.pack(len(self.qualities)))
        parts.extend(_cstr(q) for q in self.qualities)
        parts += [_cstr(self.drm_data), _cstr(self.metadata), _U8.pack(1), self._asrt(), _U8.pack(1), self._afrt()]
        return full_box(b"abst", b"".join(parts))

    def _asrt(self) -> bytes:
        body = [_U8.pack(0), _U32.pack(len(self.segment_runs))]
        body.extend(_U32.pack(a) + _U32.pack(b) for a, b in self.segment_runs)
        return full_box(b"asrt", b"".join(body))

    def _afrt(self) -> bytes:
        body = [_U32.pack(self.fragment_time_scale), _U8.pack(0), _U32.pack(len(self.fragment_runs))]
        for r in self.fragment_runs:
            body.append(_U32.pack(r.first) + _U64.pack(r.timestamp) + _U32.pack(r.duration))
            if r.duration == 0:
                body.append(_U8.pack(r.discontinuity))
        return full_box(b"afrt", b"".join(body))

    # ---------------------------------------------------------------- decode
    @classmethod
    def parse(cls, data) -> "Bootstrap":
        """The first ``abst`` box of ``data`` (a .abst file, or a fragment carrying one)."""
        for kind, start, end in iter_boxes(data):
            if kind == b"abst":
                return cls._parse_abst(data, start, end)
        raise _err("no abst box")

    @classmethod
    def _parse_abst(cls, data, start: int, end: int) -> "Bootstrap":
        r = _Reader(data, start, end, "abst")
        r.u32()  # version + flags
        b = cls()
        b.version = r.u32()
        flags = r.u8()
        b.profile, b.live, b.update = flags >> 6, bool(flags & 0x20), bool(flags & 0x10)
        b.time_scale = r.u32()
        b.current_media_time = r.u64()
        b.smpte_offset = r.u64()
        b.movie_identifier = r.string()
        b.servers = tuple(r.string() for _ in range(r.count(r.u8(), 1)))
        b.qualities = tuple(r.string() for _ in range(r.count(r.u8(), 1)))
        b.drm_data = r.string()
        b.metadata = r.string()
        b.segment_runs = []
        for _ in range(r.count(r.u8(), 8)):
            b.segment_runs.extend(cls._parse_table(data, r, b"asrt", cls._parse_asrt))
        b.fragment_runs = []
        for _ in range(r.count(r.u8(), 8)):
            b.fragment_runs.extend(cls._parse_table(data, r, b"afrt", lambda d, s, e: cls._parse_afrt(b, d, s, e)))
        return b

    @staticmethod
    def _parse_table(data, r: _Reader, kind: bytes, parse) -> list:
        for k, s, e in iter_boxes(data, r.pos, r.end):
            if k != kind:
                raise _err(f"abst: expected {kind!r}, found {k!r}")
            r.pos = e
            return parse(data, s, e)
        raise _err(f"abst: missing {kind!r}")

    @staticmethod
    def _parse_asrt(data, start: int, end: int) -> list:
        r = _Reader(data, start, end, "asrt")
        r.u32()
        for _ in range(r.count(r.u8(), 1)):
            r.string()
        return [(r.u32(), r.u32()) for _ in range(r.count(r.u32(), 8))]

    @staticmethod
    def _parse_afrt(b: "Bootstrap", data, start: int, end: int) -> list:
        r = _Reader(data, start, end, "afrt")
        r.u32()
        b.fragment_time_scale = r.u32()
        for _ in range(r.count(r.u8(), 1)):
            r.string()
        runs = []
        for _ in range(r.count(r.u32(), 16)):
            first, ts, duration = r.u32(), r.u64(), r.u32()
            runs.append(FragmentRun(first, ts, duration, r.u8() if duration == 0 else 0))
        return runs


# -------------------------------------------------------------------------------------- fragments
def encode_fragment(msgs: Iterable[Message]) -> bytes:
    """An F4F fragment as SRS writes it: one mdat of FLV tags (no FLV header), original timestamps."""
    return box(b"mdat", b"".join(flv.encode_tag(m.kind, m.ts_ms, m.payload) for m in msgs))


def parse_fragment(data) -> List[Message]:
    """The FLV tags of a fragment's mdat box(es); other boxes (afra, abst, moof) are skipped."""
    out: List[Message] = []
    found = False
    for kind, start, end in iter_boxes(data):
        if kind != b"mdat":
            continue
        found = True
        dec = flv.FlvDecoder()
        out.extend(dec.receive_data(flv.FLV_HEADER + bytes(data[start:end])))
        if dec.pending:
            raise _err(f"mdat: {dec.pending} trailing bytes are not a whole FLV tag")
    if not found:
        raise _err("fragment without an mdat box")
    return out


def fragment_name(stream: str, index: int, segment: int = 1) -> str:
    """``<stream>Seg1-Frag<N>``: the URL the player builds from the manifest media url."""
    return f"{stream}Seg{segment}-Frag{index}"


# -------------------------------------------------------------------------------------- manifest
def manifest(stream: str) -> str:
    """SRS's live F4M: a named bootstrap ``<stream>.abst`` and one media of url ``<stream>``."""
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<manifest xmlns="{F4M_NS}">\n\t'
            f"<id>{_xml(stream)}.f4m</id>\n\t"
            "<streamType>live</streamType>\n\t"
            "<deliveryType>streaming</deliveryType>\n\t"
            f'<bootstrapInfo profile="named" url="{_xml(stream)}.abst" id="bootstrap0" />\n\t'
            f'<media bitrate="0" url="{_xml(stream)}" bootstrapInfoId="bootstrap0"></media>\n'
            "</manifest>")


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def parse_manifest(text) -> Dict[str, object]:
    """``{id, streamType, deliveryType, bootstrap: {id, url, profile}, media: [{url, bitrate,
    bootstrapInfoId}]}`` of an F4M document. Raises CodecError on anything else."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if len(text) > MAX_BOX_SIZE or "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise _err("f4m: refused (too big or has a DTD)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise _err(f"f4m: {e}") from e
    ns = "{%s}" % F4M_NS
    if root.tag != ns + "manifest":
        raise _err(f"f4m: root is {root.tag!r}, not an f4m 1.0 manifest")

    def text_of(name: str) -> str:
        el = root.find(ns + name)
        return (el.text or "").strip() if el is not None else ""

    boot = root.find(ns + "bootstrapInfo")
    media = [dict(m.attrib) for m in root.findall(ns + "media")]
    return {"id": text_of("id"), "streamType": text_of("streamType"), "deliveryType": text_of("deliveryType"),
            "bootstrap": dict(boot.attrib) if boot is not None else {}, "media": media}
