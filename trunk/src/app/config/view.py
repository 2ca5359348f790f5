"""The typed, read-only view of a checked config: the only place that turns config strings into values.

Every getter applies SRS's defaults and its on/off convention (an option whose default is on stays on
unless written ``off``; one whose default is off is on only when written ``on``; a missing directive or
an empty argument means the default). Units live in the names used by SRS's directives: ``mw_latency``
is ms, ``queue_length`` and ``hls_fragment`` are seconds (floats).

Each view's fields and defaults are its block's rows in the config table (config/table.py):
``read(d, path)`` turns them into values; a class computes only what its rows mark ``custom``.

Views are values: built once from the tree, immutable (assigning raises AttributeError), compared by
content, so ``config_reload.diff`` only has to compare them. Sequences are tuples.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from srs.app.config.parser import Directive
from srs.app.config.row import ANY, BLOCK, ENDPOINT, FLAG, STRS, Number, Ref, Row
from srs.app.config.schema import parse_endpoint, parse_host_port
from srs.app.config.table import view_fields, view_plan

DEFAULT_VHOST = "__defaultVhost__"


class View:
    """Base of the read-only config objects: slots set once in __init__, compared field by field."""

    __slots__ = ()

    def __init__(self, **values: Any):
        for name in self.__slots__:
            object.__setattr__(self, name, values.pop(name))
        if values:
            raise TypeError("unknown fields %s" % sorted(values))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("config views are read-only (%s.%s)" % (type(self).__name__, name))

    def __delattr__(self, name: str) -> None:
        raise AttributeError("config views are read-only")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> Dict[str, Any]:
        return {n: _plain(getattr(self, n)) for n in self.__slots__}

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.__slots__))


def _plain(value: Any) -> Any:
    if isinstance(value, View):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


# --- getters over an optional directive, with SRS's defaults ---------------------------------

def _flag(d: Optional[Directive], default: bool) -> bool:
    if d is None or not d.args:
        return default
    return d.args[0] != "off" if default else d.args[0] == "on"


def _int(d: Optional[Directive], default: int) -> int:
    return int(d.args[0]) if d is not None and d.args else default


def _float(d: Optional[Directive], default: float) -> float:
    return float(d.args[0]) if d is not None and d.args else default


def _str(d: Optional[Directive], default: str) -> str:
    return d.args[0] if d is not None and d.args and d.args[0] != "" else default


def _strs(d: Optional[Directive]) -> Tuple[str, ...]:
    return d.args if d is not None else ()


def _child(d: Optional[Directive], *path: str) -> Optional[Directive]:
    for name in path:
        if d is None:
            return None
        d = d.get(name)
    return d


def _pairs(d: Optional[Directive]) -> Tuple[Tuple[str, str], ...]:
    """A free-form parameter block (vfilter, vparams...) as ordered (name, value) pairs."""
    return tuple((c.name, " ".join(c.args)) for c in d.children) if d is not None else ()


# --- the generic reader: a view's fields from its rows (config/table.py) -----------------------

# block path -> the view class of that block (filled by the classes below, read by ``read``)
VIEWS: Dict[str, type] = {}


def _register(cls: type) -> type:
    for path in cls.PATHS:  # type: ignore[attr-defined]
        VIEWS[path] = cls
    return cls


def _leaf(row: Row, d: Optional[Directive]) -> Any:
    kind, default = row.kind, row.default
    if kind == FLAG:
        return _flag(d, default)
    if kind == STRS:
        return _strs(d) or default
    if kind == ENDPOINT:
        return parse_endpoint(d.args[0], d) if d is not None and d.args else default
    if kind == ANY:
        return _pairs(d)
    if isinstance(kind, Number):
        return (_int if kind.integer else _float)(d, default)
    return _str(d, default)  # STR, Choice


_PLANS: Dict[str, Any] = {}  # block path -> its rows that read() reads, with the names leading to each
_MISSING = Directive("")  # "not looked up yet" (None is "looked up: absent")


def read(d: Optional[Directive], path: str) -> Dict[str, Any]:
    """The fields of block ``path``'s view from directive ``d`` (None: all defaults), except those its
    rows mark custom (the view class computes them). Sub-blocks become their registered views."""
    plan = _PLANS.get(path)
    if plan is None:
        plan = _PLANS[path] = [(row, names) for row, names in view_plan(path) if not row.custom]
    values: Dict[str, Any] = {}
    flats: Dict[Tuple[str, ...], Optional[Directive]] = {(): d}  # flat blocks looked up once each
    refs = []
    for row, names in plan:
        parent = flats.get(names[:-1], _MISSING)
        if parent is _MISSING:
            parent = flats[names[:-1]] = _child(d, *names[:-1])
        if row.kind == BLOCK:
            cls = VIEWS[row.path]
            if row.many:
                values[row.field] = tuple(cls.of(c) for c in parent.get_all(row.name)) if parent is not None else ()
            else:
                values[row.field] = cls.of(parent.get(row.name) if parent is not None else None)
            continue
        value = _leaf(row, parent.get(row.name) if parent is not None else None)
        if isinstance(value, Ref):
            refs.append((row.field, value.field))
        values[row.field] = value
    for field, source in refs:
        values[field] = values[source]
    return values


class Section(View):
    """A view read entirely from its rows: ``PATHS`` are the table paths of its block."""

    __slots__ = ()
    PATHS: Tuple[str, ...] = ()

    @classmethod
    def of(cls, d: Optional[Directive]) -> Any:
        return cls(**read(d, cls.PATHS[0]))


def section(name: str, path: str, doc: str = "") -> type:
    """The view class of block ``path`` when its rows are all it holds (no computed field)."""
    cls = type(name, (Section,), {"__slots__": view_fields(path), "PATHS": (path,), "__doc__": doc,
                                  "__module__": __name__})
    return _register(cls)


# --- global blocks ----------------------------------------------------------------------------

RawApiConfig = section("RawApiConfig", "http_api.raw_api")
ApiAuthConfig = section("ApiAuthConfig", "http_api.auth")
ApiHttpsConfig = section("ApiHttpsConfig", "http_api.https")
HttpApiConfig = section("HttpApiConfig", "http_api")
ServerHttpsConfig = section("ServerHttpsConfig", "http_server.https")
HttpServerConfig = section("HttpServerConfig", "http_server")
RtmpsConfig = section("RtmpsConfig", "rtmps")
HeartbeatConfig = section("HeartbeatConfig", "heartbeat")
ExporterConfig = section("ExporterConfig", "exporter")
StatsConfig = section("StatsConfig", "stats")
StreamCasterConfig = section("StreamCasterConfig", "stream_caster")
SrtServerConfig = section("SrtServerConfig", "srt_server")
RtcServerConfig = section("RtcServerConfig", "rtc_server")


# --- vhost blocks -----------------------------------------------------------------------------

class ReferConfig(View):
    """Allowed pageUrl domains; an empty tuple means that method is not restricted by this list."""

    __slots__ = tuple(f for f in view_fields("vhost.refer") if f != "enabled")

    @classmethod
    def of(cls, d: Optional[Directive]) -> Optional["ReferConfig"]:
        """None unless the block is enabled (a disabled refer restricts nothing)."""
        values = read(d, "vhost.refer")
        return cls(**values) if values.pop("enabled") else None


@_register
class SecurityConfig(Section):
    PATHS = ("vhost.security",)
    __slots__ = view_fields(PATHS[0])  # rules: ((action allow|deny, method publish|play, target all|ip|cidr), ...)

    @classmethod
    def of(cls, d: Optional[Directive]) -> "SecurityConfig":
        rules = tuple((c.name, c.args[0], c.args[1]) for c in (d.children if d is not None else ())
                      if c.name in ("allow", "deny"))
        return cls(rules=rules, **read(d, cls.PATHS[0]))


HlsConfig = section("HlsConfig", "vhost.hls")
HdsConfig = section("HdsConfig", "vhost.hds")
DvrConfig = section("DvrConfig", "vhost.dvr")
HttpHooksConfig = section("HttpHooksConfig", "vhost.http_hooks",
                          "Callback URLs per event (tuples, possibly empty); they apply only when ``enabled``.")
HOOK_EVENTS = tuple(f for f in HttpHooksConfig.__slots__ if f.startswith("on_"))


@_register
class ExecConfig(Section):
    PATHS = ("vhost.exec",)
    __slots__ = view_fields(PATHS[0])  # publish: one argv tuple per `publish` directive

    @classmethod
    def of(cls, d: Optional[Directive]) -> "ExecConfig":
        cmds = tuple(c.args for c in d.get_all("publish") if c.args) if d is not None else ()
        return cls(publish=cmds, **read(d, cls.PATHS[0]))


DashConfig = section("DashConfig", "vhost.dash")
HttpStaticConfig = section("HttpStaticConfig", "vhost.http_static")
HttpRemuxConfig = section("HttpRemuxConfig", "vhost.http_remux")
BandcheckConfig = section("BandcheckConfig", "vhost.bandcheck")
VhostSrtConfig = section("VhostSrtConfig", "vhost.srt")
VhostRtcConfig = section("VhostRtcConfig", "vhost.rtc")


SnapshotConfig = section("SnapshotConfig", "vhost.snapshot",
                         "Snapshots (issue 14): ``http`` serves /app/stream.jpg|png, ``enabled`` writes files.")


class RenditionConfig(View):
    """One rung of an ABR ladder: ``<stream>_<name>`` at width x height (0: from the source's aspect)."""

    __slots__ = ("name", "width", "height", "vbitrate", "abitrate")


@_register
class AbrConfig(Section):
    """``abr {}``: the renditions of its ``rendition name {}`` blocks, then of its ``ladder`` line."""

    PATHS = ("vhost.abr",)
    __slots__ = view_fields(PATHS[0])

    @classmethod
    def of(cls, d: Optional[Directive]) -> "AbrConfig":
        from srs.app.config.rows_abr import parse_renditions  # the rows' own checks, beside them
        return cls(renditions=parse_renditions(d, RenditionConfig), **read(d, cls.PATHS[0]))


@_register
class EngineConfig(Section):
    """One ffmpeg output; parameter blocks are ((name, value), ...) in file order."""

    PATHS = ("vhost.transcode.engine", "vhost.ingest.engine")  # the same rows under both
    __slots__ = ("name",) + view_fields(PATHS[0])

    @classmethod
    def of(cls, d: Optional[Directive]) -> "EngineConfig":
        return cls(name=(d.arg(0, "") if d is not None else "") or "", **read(d, cls.PATHS[0]))


@_register
class TranscodeConfig(Section):
    PATHS = ("vhost.transcode",)
    __slots__ = ("scope",) + view_fields(PATHS[0])  # scope: "" (vhost), "app" or "app/stream"

    @classmethod
    def of(cls, d: Optional[Directive]) -> "TranscodeConfig":
        return cls(scope=(d.arg(0, "") if d is not None else "") or "", **read(d, cls.PATHS[0]))


@_register
class IngestConfig(Section):
    PATHS = ("vhost.ingest",)
    __slots__ = ("id",) + view_fields(PATHS[0])

    @classmethod
    def of(cls, d: Optional[Directive]) -> "IngestConfig":
        return cls(id=d.arg(0, "") if d is not None else "", **read(d, cls.PATHS[0]))


class ForwardDestinations(tuple):
    """The forward block's view when SRS 5's dynamic-forward ``backend`` is set: the (host, port)
    destinations, and the backend URL as an attribute (a plain tuple has none: no backend). A tuple, as forward and the API iterate it; equality also compares
    the backend, so a reload that changes only the backend restarts the forwarders."""

    def __new__(cls, destinations=(), backend: str = ""):
        obj = super().__new__(cls, destinations)
        obj.backend = backend
        return obj

    def __eq__(self, other) -> bool:
        return tuple.__eq__(self, other) is True and getattr(other, "backend", "") == self.backend

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((tuple(self), self.backend))

    def __repr__(self) -> str:
        return f"ForwardDestinations({tuple(self)!r}, backend={self.backend!r})"


class VhostConfig(View):
    """A vhost: its own rows and those of cluster/play/publish as fields, each feature block as a view."""

    __slots__ = ("name",) + view_fields("vhost") + ("is_edge",)

    @classmethod
    def of(cls, d: Directive, global_chunk_size: int) -> "VhostConfig":
        values = read(d, "vhost")
        forward = d.get("forward")
        destinations: Tuple[Tuple[str, int], ...] = ()
        if forward is not None and _flag(forward.get("enabled"), False):
            destinations = tuple(parse_host_port(a, 1935) for a in _strs(forward.get("destination")))
            backend = " ".join(_strs(forward.get("backend")))
            if backend:  # only then the tuple subclass: everything else keeps a plain tuple
                destinations = ForwardDestinations(destinations, backend)
        return cls(
            name=d.args[0], chunk_size=_int(d.get("chunk_size"), global_chunk_size),
            is_edge=(values["mode"] == "remote"),
            origin=tuple(parse_host_port(a, 1935) for a in _strs(_child(d, "cluster", "origin"))),
            refer=ReferConfig.of(d.get("refer")), forward_destinations=destinations, **values)

    def ingest(self, ingest_id: str) -> Optional[IngestConfig]:
        for ingest in self.ingests:
            if ingest.id == ingest_id:
                return ingest
        return None
