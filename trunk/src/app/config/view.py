"""The typed, read-only view of a checked config: the only place that turns config strings into values.

Every getter applies SRS's defaults and its on/off convention (an option whose default is on stays on
unless written ``off``; one whose default is off is on only when written ``on``; a missing directive or
an empty argument means the default). Units live in the names used by SRS's directives: ``mw_latency``
is ms, ``queue_length`` and ``hls_fragment`` are seconds (floats).

Views are values: built once from the tree, immutable (assigning raises AttributeError), compared by
content, so ``config_reload.diff`` only has to compare them. Sequences are tuples.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from srs.app.config.parser import Directive
from srs.app.config.schema import parse_endpoint, parse_host_port
from srs.core.performance import MR_SLEEP_MS, MW_SLEEP_MS

DEFAULT_VHOST = "__defaultVhost__"
HOST_ANY = "0.0.0.0"


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


def _endpoint(d: Optional[Directive], default_port: int) -> Tuple[str, int]:
    return parse_endpoint(d.args[0], d) if d is not None and d.args else (HOST_ANY, default_port)


# --- global blocks ----------------------------------------------------------------------------

class RawApiConfig(View):
    __slots__ = ("enabled", "allow_reload", "allow_query", "allow_update")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "RawApiConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), allow_reload=_flag(_child(d, "allow_reload"), False),
                   allow_query=_flag(_child(d, "allow_query"), False),
                   allow_update=_flag(_child(d, "allow_update"), False))


class HttpApiConfig(View):
    __slots__ = ("enabled", "listen", "crossdomain", "raw_api")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HttpApiConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), listen=_endpoint(_child(d, "listen"), 1985),
                   crossdomain=_flag(_child(d, "crossdomain"), True), raw_api=RawApiConfig.of(_child(d, "raw_api")))


class HttpServerConfig(View):
    __slots__ = ("enabled", "listen", "dir", "crossdomain")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HttpServerConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), listen=_endpoint(_child(d, "listen"), 8080),
                   dir=_str(_child(d, "dir"), "./objs/nginx/html"), crossdomain=_flag(_child(d, "crossdomain"), True))


class HeartbeatConfig(View):
    __slots__ = ("enabled", "interval", "url", "device_id", "summaries")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HeartbeatConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), interval=_float(_child(d, "interval"), 9.9),
                   url=_str(_child(d, "url"), "http://127.0.0.1:8085/api/v1/servers"),
                   device_id=_str(_child(d, "device_id"), ""), summaries=_flag(_child(d, "summaries"), False))


class StatsConfig(View):
    __slots__ = ("network", "disk")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "StatsConfig":
        return cls(network=_int(_child(d, "network"), 0), disk=_strs(_child(d, "disk")))


class StreamCasterConfig(View):
    __slots__ = ("enabled", "caster", "output", "listen", "rtp_port_min", "rtp_port_max")

    @classmethod
    def of(cls, d: Directive) -> "StreamCasterConfig":
        return cls(enabled=_flag(d.get("enabled"), False), caster=_str(d.get("caster"), ""),
                   output=_str(d.get("output"), ""), listen=_endpoint(d.get("listen"), 0),
                   rtp_port_min=_int(d.get("rtp_port_min"), 0), rtp_port_max=_int(d.get("rtp_port_max"), 0))


# --- vhost blocks -----------------------------------------------------------------------------

class ReferConfig(View):
    """Allowed pageUrl domains; an empty tuple means that method is not restricted by this list."""

    __slots__ = ("all", "publish", "play")


class SecurityConfig(View):
    __slots__ = ("enabled", "rules")  # rules: ((action allow|deny, method publish|play, target all|ip|cidr), ...)

    @classmethod
    def of(cls, d: Optional[Directive]) -> "SecurityConfig":
        rules = tuple((c.name, c.args[0], c.args[1]) for c in (d.children if d is not None else ())
                      if c.name in ("allow", "deny"))
        return cls(enabled=_flag(_child(d, "enabled"), False), rules=rules)


class HlsConfig(View):
    __slots__ = ("enabled", "hls_fragment", "hls_td_ratio", "hls_aof_ratio", "hls_window", "hls_on_error",
                 "hls_path", "hls_m3u8_file", "hls_ts_file", "hls_ts_floor", "hls_entry_prefix", "hls_acodec",
                 "hls_vcodec", "hls_cleanup", "hls_dispose", "hls_nb_notify", "hls_wait_keyframe", "hls_keys",
                 "hls_fragments_per_key", "hls_key_file", "hls_key_file_path", "hls_key_url", "hls_dts_directly")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HlsConfig":
        g = lambda name: _child(d, name)  # noqa: E731
        path = _str(g("hls_path"), "./objs/nginx/html")
        return cls(enabled=_flag(g("enabled"), False), hls_fragment=_float(g("hls_fragment"), 10.0),
                   hls_td_ratio=_float(g("hls_td_ratio"), 1.5), hls_aof_ratio=_float(g("hls_aof_ratio"), 2.0),
                   hls_window=_float(g("hls_window"), 60.0), hls_on_error=_str(g("hls_on_error"), "continue"),
                   hls_path=path, hls_m3u8_file=_str(g("hls_m3u8_file"), "[app]/[stream].m3u8"),
                   hls_ts_file=_str(g("hls_ts_file"), "[app]/[stream]-[seq].ts"),
                   hls_ts_floor=_flag(g("hls_ts_floor"), False), hls_entry_prefix=_str(g("hls_entry_prefix"), ""),
                   hls_acodec=_str(g("hls_acodec"), "aac"), hls_vcodec=_str(g("hls_vcodec"), "h264"),
                   hls_cleanup=_flag(g("hls_cleanup"), True), hls_dispose=_float(g("hls_dispose"), 0.0),
                   hls_nb_notify=_int(g("hls_nb_notify"), 64), hls_wait_keyframe=_flag(g("hls_wait_keyframe"), True),
                   hls_keys=_flag(g("hls_keys"), False), hls_fragments_per_key=_int(g("hls_fragments_per_key"), 5),
                   hls_key_file=_str(g("hls_key_file"), "[app]/[stream]-[seq].key"),
                   hls_key_file_path=_str(g("hls_key_file_path"), path), hls_key_url=_str(g("hls_key_url"), ""),
                   hls_dts_directly=_flag(g("hls_dts_directly"), True))


class HdsConfig(View):
    __slots__ = ("enabled", "hds_fragment", "hds_window", "hds_path")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HdsConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), hds_fragment=_float(_child(d, "hds_fragment"), 10.0),
                   hds_window=_float(_child(d, "hds_window"), 60.0),
                   hds_path=_str(_child(d, "hds_path"), "./objs/nginx/html"))


class DvrConfig(View):
    __slots__ = ("enabled", "plan", "path", "duration", "wait_keyframe", "time_jitter", "apply")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "DvrConfig":
        apply = _strs(_child(d, "dvr_apply"))
        return cls(enabled=_flag(_child(d, "enabled"), False), plan=_str(_child(d, "dvr_plan"), "session"),
                   path=_str(_child(d, "dvr_path"), "./objs/nginx/html/[app]/[stream].[timestamp].flv"),
                   duration=_float(_child(d, "dvr_duration"), 30.0),
                   wait_keyframe=_flag(_child(d, "dvr_wait_keyframe"), True),
                   time_jitter=_str(_child(d, "time_jitter"), "full"), apply=apply or ("all",))


HOOK_EVENTS = ("on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop", "on_dvr", "on_hls",
               "on_hls_notify")


class HttpHooksConfig(View):
    """Callback URLs per event (tuples, possibly empty); they apply only when ``enabled``."""

    __slots__ = ("enabled",) + HOOK_EVENTS

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HttpHooksConfig":
        values: Dict[str, Any] = {name: _strs(_child(d, name)) for name in HOOK_EVENTS}
        return cls(enabled=_flag(_child(d, "enabled"), False), **values)


class ExecConfig(View):
    __slots__ = ("enabled", "publish")  # publish: one argv tuple per `publish` directive

    @classmethod
    def of(cls, d: Optional[Directive]) -> "ExecConfig":
        cmds = tuple(c.args for c in d.get_all("publish") if c.args) if d is not None else ()
        return cls(enabled=_flag(_child(d, "enabled"), False), publish=cmds)


class DashConfig(View):
    __slots__ = ("enabled", "dash_fragment", "dash_update_period", "dash_timeshift", "dash_path", "dash_mpd_file")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "DashConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), dash_fragment=_float(_child(d, "dash_fragment"), 30.0),
                   dash_update_period=_float(_child(d, "dash_update_period"), 150.0),
                   dash_timeshift=_float(_child(d, "dash_timeshift"), 300.0),
                   dash_path=_str(_child(d, "dash_path"), "./objs/nginx/html"),
                   dash_mpd_file=_str(_child(d, "dash_mpd_file"), "[app]/[stream].mpd"))


class HttpStaticConfig(View):
    __slots__ = ("enabled", "mount", "dir")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HttpStaticConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), mount=_str(_child(d, "mount"), "[vhost]/"),
                   dir=_str(_child(d, "dir"), "./objs/nginx/html"))


class HttpRemuxConfig(View):
    __slots__ = ("enabled", "fast_cache", "mount", "hstrs")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "HttpRemuxConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), fast_cache=_float(_child(d, "fast_cache"), 0.0),
                   mount=_str(_child(d, "mount"), "[vhost]/[app]/[stream].flv"), hstrs=_flag(_child(d, "hstrs"), True))


class BandcheckConfig(View):
    __slots__ = ("enabled", "key", "interval", "limit_kbps")

    @classmethod
    def of(cls, d: Optional[Directive]) -> "BandcheckConfig":
        return cls(enabled=_flag(_child(d, "enabled"), False), key=_str(_child(d, "key"), ""),
                   interval=_float(_child(d, "interval"), 30.0), limit_kbps=_int(_child(d, "limit_kbps"), 1000))


class EngineConfig(View):
    """One ffmpeg output; parameter blocks are ((name, value), ...) in file order."""

    __slots__ = ("name", "enabled", "iformat", "vfilter", "vcodec", "vbitrate", "vfps", "vwidth", "vheight",
                 "vthreads", "vprofile", "vpreset", "vparams", "acodec", "abitrate", "asample_rate", "achannels",
                 "aparams", "oformat", "output", "perfile")

    @classmethod
    def of(cls, d: Directive) -> "EngineConfig":
        g = d.get
        return cls(name=d.arg(0, "") or "", enabled=_flag(g("enabled"), False), iformat=_str(g("iformat"), "flv"),
                   vfilter=_pairs(g("vfilter")), vcodec=_str(g("vcodec"), ""), vbitrate=_int(g("vbitrate"), 0),
                   vfps=_float(g("vfps"), 0.0), vwidth=_int(g("vwidth"), 0), vheight=_int(g("vheight"), 0),
                   vthreads=_int(g("vthreads"), 1), vprofile=_str(g("vprofile"), ""), vpreset=_str(g("vpreset"), ""),
                   vparams=_pairs(g("vparams")), acodec=_str(g("acodec"), ""), abitrate=_int(g("abitrate"), 0),
                   asample_rate=_int(g("asample_rate"), 0), achannels=_int(g("achannels"), 0),
                   aparams=_pairs(g("aparams")), oformat=_str(g("oformat"), "flv"), output=_str(g("output"), ""),
                   perfile=_pairs(g("perfile")))


class TranscodeConfig(View):
    __slots__ = ("scope", "enabled", "ffmpeg", "engines")  # scope: "" (vhost), "app" or "app/stream"

    @classmethod
    def of(cls, d: Directive) -> "TranscodeConfig":
        return cls(scope=d.arg(0, "") or "", enabled=_flag(d.get("enabled"), False), ffmpeg=_str(d.get("ffmpeg"), ""),
                   engines=tuple(EngineConfig.of(e) for e in d.get_all("engine")))


class IngestConfig(View):
    __slots__ = ("id", "enabled", "input_type", "input_url", "ffmpeg", "engines")

    @classmethod
    def of(cls, d: Directive) -> "IngestConfig":
        return cls(id=d.args[0], enabled=_flag(d.get("enabled"), False),
                   input_type=_str(_child(d, "input", "type"), "file"), input_url=_str(_child(d, "input", "url"), ""),
                   ffmpeg=_str(d.get("ffmpeg"), ""), engines=tuple(EngineConfig.of(e) for e in d.get_all("engine")))


class VhostConfig(View):
    __slots__ = ("name", "enabled", "chunk_size", "mode", "is_edge", "origin", "token_traverse", "edge_vhost",
                 "debug_srs_upnode", "origin_cluster", "coworkers",
                 "gop_cache", "queue_length", "time_jitter", "mix_correct", "atc", "atc_auto", "mw_latency",
                 "send_min_interval", "reduce_sequence_header",
                 "mr_enabled", "mr_latency", "publish_1stpkt_timeout", "publish_normal_timeout", "parse_sps",
                 "min_latency", "tcp_nodelay", "in_ack_size", "out_ack_size",
                 "refer", "forward_destinations", "security", "hls", "hds", "dvr", "http_hooks", "exec", "dash",
                 "http_static", "http_remux", "bandcheck", "transcodes", "ingests")

    @classmethod
    def of(cls, d: Directive, global_chunk_size: int) -> "VhostConfig":
        cluster, play, publish = d.get("cluster"), d.get("play"), d.get("publish")
        c = lambda name: _child(cluster, name)  # noqa: E731
        p = lambda name: _child(play, name)  # noqa: E731
        u = lambda name: _child(publish, name)  # noqa: E731
        mode = _str(c("mode"), "local")
        refer = d.get("refer")
        refer_view = None
        if refer is not None and _flag(refer.get("enabled"), False):
            refer_view = ReferConfig(all=_strs(refer.get("all")), publish=_strs(refer.get("publish")),
                                     play=_strs(refer.get("play")))
        forward = d.get("forward")
        destinations: Tuple[Tuple[str, int], ...] = ()
        if forward is not None and _flag(forward.get("enabled"), False):
            destinations = tuple(parse_host_port(a, 1935) for a in _strs(forward.get("destination")))
        return cls(
            name=d.args[0], enabled=_flag(d.get("enabled"), True),
            chunk_size=_int(d.get("chunk_size"), global_chunk_size),
            mode=mode, is_edge=(mode == "remote"),
            origin=tuple(parse_host_port(a, 1935) for a in _strs(c("origin"))),
            token_traverse=_flag(c("token_traverse"), False), edge_vhost=_str(c("vhost"), "[vhost]"),
            debug_srs_upnode=_flag(c("debug_srs_upnode"), True), origin_cluster=_flag(c("origin_cluster"), False),
            coworkers=_strs(c("coworkers")),
            gop_cache=_flag(p("gop_cache"), True), queue_length=_float(p("queue_length"), 30.0),
            time_jitter=_str(p("time_jitter"), "full"), mix_correct=_flag(p("mix_correct"), False),
            atc=_flag(p("atc"), False), atc_auto=_flag(p("atc_auto"), False), mw_latency=_int(p("mw_latency"), MW_SLEEP_MS),
            send_min_interval=_float(p("send_min_interval"), 0.0),
            reduce_sequence_header=_flag(p("reduce_sequence_header"), False),
            mr_enabled=_flag(u("mr"), False), mr_latency=_int(u("mr_latency"), MR_SLEEP_MS),
            publish_1stpkt_timeout=_int(u("firstpkt_timeout"), 20000),
            publish_normal_timeout=_int(u("normal_timeout"), 5000), parse_sps=_flag(u("parse_sps"), True),
            min_latency=_flag(d.get("min_latency"), False), tcp_nodelay=_flag(d.get("tcp_nodelay"), False),
            in_ack_size=_int(d.get("in_ack_size"), 0), out_ack_size=_int(d.get("out_ack_size"), 2500000),
            refer=refer_view, forward_destinations=destinations, security=SecurityConfig.of(d.get("security")),
            hls=HlsConfig.of(d.get("hls")), hds=HdsConfig.of(d.get("hds")), dvr=DvrConfig.of(d.get("dvr")),
            http_hooks=HttpHooksConfig.of(d.get("http_hooks")), exec=ExecConfig.of(d.get("exec")),
            dash=DashConfig.of(d.get("dash")), http_static=HttpStaticConfig.of(d.get("http_static")),
            http_remux=HttpRemuxConfig.of(d.get("http_remux")), bandcheck=BandcheckConfig.of(d.get("bandcheck")),
            transcodes=tuple(TranscodeConfig.of(t) for t in d.get_all("transcode")),
            ingests=tuple(IngestConfig.of(i) for i in d.get_all("ingest")),
        )

    def ingest(self, ingest_id: str) -> Optional[IngestConfig]:
        for ingest in self.ingests:
            if ingest.id == ingest_id:
                return ingest
        return None
