"""What a config may contain (SRS's check_config whitelist) and how 2.0 spelling maps onto 3.0's.

``transform(root)`` rewrites the 2.0 flat vhost directives into the 3.0 grouped blocks in place
(srs_config_transform_vhost), so the view reads one spelling only. ``check(root)`` then walks the
tree against SCHEMA: unknown names, wrong argument counts, bad numbers and enum values raise a
ConfigError at the offending directive's file:line. It returns warnings for accepted-but-ignored
directives.

Every number has a range (``Number``): plain ASCII decimals only (no ``1_000``, no Unicode digits,
no ``nan``/``inf``, at most 32 characters), so a value the checker accepts is one the server can
use without an overflow, a division by zero or a timer of a thousand years.
"""
from __future__ import annotations

import ipaddress
import math
import re
from typing import Dict, List, Optional, Tuple, Union

from srs.app.config.parser import Directive, clip
from srs.kernel.errors import ConfigError

# --- leaf kinds: how many arguments and of which type (checked), read by config_view
FLAG = "flag"       # on/off (SRS's convention: anything but the literal keeps the default)
STR = "str"         # one argument (may be empty)
STRS = "strs"       # zero or more arguments
ENDPOINT = "endpoint"  # [ip:]port
ANY = "any"         # a block with free-form children (ffmpeg parameter blocks)


class Choice:
    __slots__ = ("choices",)

    def __init__(self, *choices: str):
        self.choices = choices


class Number:
    """An integer (``integer=True``) or a finite decimal in [lo, hi] (``(lo, hi]`` when ``above``)."""

    __slots__ = ("integer", "lo", "hi", "above")

    def __init__(self, integer: bool, lo: float, hi: float, above: bool = False):
        self.integer, self.lo, self.hi, self.above = integer, lo, hi, above

    def describe(self) -> str:
        fmt = (lambda v: "%d" % v) if self.integer else (lambda v: "%g" % v)
        return "%s%s, %s]" % ("(" if self.above else "[", fmt(self.lo), fmt(self.hi))

    def parse(self, text: str) -> Union[int, float, None]:
        """The value, or None when ``text`` is not a number in range."""
        if len(text) > 32 or not (_INT_RE if self.integer else _FLOAT_RE).match(text):
            return None
        value = int(text) if self.integer else float(text)
        if not math.isfinite(value) or value > self.hi or value < self.lo or (self.above and value == self.lo):
            return None
        return value


_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")

INT_MAX = 2 ** 31 - 1
COUNT = Number(True, 0, INT_MAX)             # counts, bytes, kbps, milliseconds (24 days at most)
POSITIVE = Number(True, 1, INT_MAX)
PORT_OR_0 = Number(True, 0, 65535)
CHUNK = Number(True, 128, 65536)
SECONDS = Number(False, 0, 365 * 86400.0)    # 0 usually means off
PERIOD = Number(False, 0, 365 * 86400.0, above=True)  # a period that something divides by or loops on
RATIO = Number(False, 0, 1000.0)
FPS = Number(False, 0, 1000.0)
MS_FLOAT = Number(False, 0, float(INT_MAX))  # send_min_interval is in ms, with fractions

Spec = Union[str, Choice, Number, Dict[str, "Spec"]]

_ENGINE: Dict[str, Spec] = {
    "enabled": FLAG, "iformat": STR, "vfilter": ANY,
    "vcodec": Choice("libx264", "copy", "vn"), "vbitrate": COUNT, "vfps": FPS, "vwidth": COUNT, "vheight": COUNT,
    "vthreads": COUNT, "vprofile": STR, "vpreset": STR, "vparams": ANY,
    "acodec": Choice("libfdk_aac", "aac", "libaacplus", "libmp3lame", "copy", "an"),
    "abitrate": COUNT, "asample_rate": COUNT, "achannels": COUNT, "aparams": ANY,
    "oformat": STR, "output": STR, "perfile": ANY,
}

_TIME_JITTER = Choice("full", "zero", "off")

VHOST: Dict[str, Spec] = {
    "enabled": FLAG, "chunk_size": CHUNK, "min_latency": FLAG, "tcp_nodelay": FLAG,
    "in_ack_size": COUNT, "out_ack_size": COUNT,
    "cluster": {"mode": Choice("local", "remote"), "origin": STRS, "token_traverse": FLAG, "vhost": STR,
                "debug_srs_upnode": FLAG, "origin_cluster": FLAG, "coworkers": STRS},
    "play": {"time_jitter": _TIME_JITTER, "mix_correct": FLAG, "atc": FLAG, "atc_auto": FLAG,
             "mw_latency": COUNT, "gop_cache": FLAG, "queue_length": SECONDS, "send_min_interval": MS_FLOAT,
             "reduce_sequence_header": FLAG},
    "publish": {"mr": FLAG, "mr_latency": COUNT, "firstpkt_timeout": COUNT, "normal_timeout": COUNT,
                "parse_sps": FLAG},
    "refer": {"enabled": FLAG, "all": STRS, "publish": STRS, "play": STRS},
    "forward": {"enabled": FLAG, "destination": STRS},
    "security": {"enabled": FLAG, "allow": STRS, "deny": STRS},
    "hls": {"enabled": FLAG, "hls_entry_prefix": STR, "hls_path": STR, "hls_fragment": PERIOD,
            "hls_window": SECONDS, "hls_on_error": Choice("ignore", "disconnect", "continue"),
            "hls_storage": STR, "hls_mount": STR, "hls_td_ratio": RATIO, "hls_aof_ratio": RATIO,
            "hls_acodec": Choice("aac", "mp3", "an"), "hls_vcodec": Choice("h264", "vn"),
            "hls_m3u8_file": STR, "hls_ts_file": STR, "hls_ts_floor": FLAG, "hls_cleanup": FLAG,
            "hls_nb_notify": COUNT, "hls_wait_keyframe": FLAG, "hls_dispose": SECONDS, "hls_keys": FLAG,
            "hls_fragments_per_key": POSITIVE, "hls_key_file": STR, "hls_key_file_path": STR,
            "hls_key_url": STR, "hls_dts_directly": FLAG},
    "hds": {"enabled": FLAG, "hds_fragment": PERIOD, "hds_window": SECONDS, "hds_path": STR},
    "dvr": {"enabled": FLAG, "dvr_plan": Choice("session", "segment", "append"), "dvr_path": STR,
            "dvr_duration": SECONDS, "dvr_wait_keyframe": FLAG, "time_jitter": _TIME_JITTER, "dvr_apply": STRS},
    "http_hooks": {"enabled": FLAG, "on_connect": STRS, "on_close": STRS, "on_publish": STRS,
                   "on_unpublish": STRS, "on_play": STRS, "on_stop": STRS, "on_dvr": STRS, "on_hls": STRS,
                   "on_hls_notify": STRS},
    "exec": {"enabled": FLAG, "publish": STRS},
    "dash": {"enabled": FLAG, "dash_fragment": PERIOD, "dash_update_period": PERIOD, "dash_timeshift": SECONDS,
             "dash_path": STR, "dash_mpd_file": STR},
    "http_static": {"enabled": FLAG, "mount": STR, "dir": STR},
    "http_remux": {"enabled": FLAG, "fast_cache": SECONDS, "mount": STR, "hstrs": FLAG},
    "bandcheck": {"enabled": FLAG, "key": STR, "interval": SECONDS, "limit_kbps": COUNT},
    "transcode": {"enabled": FLAG, "ffmpeg": STR, "engine": _ENGINE},
    "ingest": {"enabled": FLAG, "input": {"type": Choice("file", "stream"), "url": STR}, "ffmpeg": STR,
               "engine": _ENGINE},
}

ROOT: Dict[str, Spec] = {
    "listen": STRS, "pid": STR, "chunk_size": CHUNK, "ff_log_dir": STR,
    "ff_log_level": Choice("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace"),
    "srs_log_tank": Choice("file", "console"),
    "srs_log_level": Choice("verbose", "info", "trace", "warn", "error"), "srs_log_file": STR,
    "max_connections": POSITIVE, "daemon": FLAG, "work_dir": STR, "asprocess": FLAG, "utc_time": FLAG,
    "pithy_print_ms": COUNT, "empty_ip_ok": FLAG, "grace_start_wait": COUNT, "grace_final_wait": COUNT,
    "force_grace_quit": FLAG, "disable_daemon_for_docker": FLAG, "inotify_auto_reload": FLAG,
    "auto_reload_for_docker": FLAG, "reuseport": FLAG,
    "heartbeat": {"enabled": FLAG, "interval": PERIOD, "url": STR, "device_id": STR, "summaries": FLAG},
    "stats": {"network": COUNT, "disk": STRS},
    "http_api": {"enabled": FLAG, "listen": ENDPOINT, "crossdomain": FLAG,
                 "raw_api": {"enabled": FLAG, "allow_reload": FLAG, "allow_query": FLAG, "allow_update": FLAG}},
    "http_server": {"enabled": FLAG, "listen": ENDPOINT, "dir": STR, "crossdomain": FLAG},
    "stream_caster": {"enabled": FLAG, "caster": Choice("mpegts_over_udp", "rtsp", "flv"), "output": STR,
                      "listen": ENDPOINT, "rtp_port_min": PORT_OR_0, "rtp_port_max": PORT_OR_0},
    "vhost": VHOST,
}

# Blocks written with an argument (their name/scope/id); every other block takes none.
_BLOCK_ARGS = {"vhost": (1, 1), "transcode": (0, 1), "ingest": (1, 1), "engine": (0, 1)}

# 2.0 flat vhost names -> (3.0 block, new name)
_FLAT = {
    "mode": ("cluster", "mode"), "origin": ("cluster", "origin"), "token_traverse": ("cluster", "token_traverse"),
    "vhost": ("cluster", "vhost"), "debug_srs_upnode": ("cluster", "debug_srs_upnode"),
    "time_jitter": ("play", "time_jitter"), "mix_correct": ("play", "mix_correct"), "atc": ("play", "atc"),
    "atc_auto": ("play", "atc_auto"), "mw_latency": ("play", "mw_latency"), "gop_cache": ("play", "gop_cache"),
    "queue_length": ("play", "queue_length"), "send_min_interval": ("play", "send_min_interval"),
    "reduce_sequence_header": ("play", "reduce_sequence_header"),
    "publish_1stpkt_timeout": ("publish", "firstpkt_timeout"),
    "publish_normal_timeout": ("publish", "normal_timeout"),
}
_REMOVED = {("hls", "hls_storage"), ("hls", "hls_mount")}


def _block(parent: Directive, name: str, near: Directive) -> Directive:
    """The first ``name {}`` child of parent, created (at ``near``'s location) when missing."""
    found = parent.get(name)
    if found is not None and (found.block or not found.args):
        found.block = True
        return found
    made = Directive(name, (), file=near.file, line=near.line, block=True)
    parent.children.append(made)
    return made


def _moved(d: Directive, name: str, args=None) -> Directive:
    return Directive(name, d.args if args is None else args, d.children, file=d.file, line=d.line, block=d.block)


def transform(root: Directive) -> None:
    """Rewrite 2.0 spellings as 3.0 ones, in place (srs_config_transform_vhost)."""
    for d in root.children:
        if d.name == "http_stream":
            d.name = "http_server"
    for vhost in root.get_all("vhost"):
        _transform_vhost(vhost)


def _is_flat(d: Directive) -> bool:
    if d.name in _FLAT or d.name in ("refer", "refer_publish", "refer_play", "forward"):
        return not d.block
    return d.name == "mr" and d.block


def _transform_vhost(vhost: Directive) -> None:
    # pass 1 keeps the 3.0 directives in order, so a flat directive joins an existing block
    # wherever that block is written (and the grouped value wins when both are given: first wins)
    old = vhost.children
    vhost.children = [_moved(d, "http_static") if d.name == "http" and d.block else d
                      for d in old if not _is_flat(d)]
    refer: List[Tuple[str, Directive]] = []
    found: Dict[str, Directive] = {}  # one lookup per block: a vhost of 45,000 flat directives took 30 s

    def block(name: str, near: Directive) -> Directive:
        if name not in found:
            found[name] = _block(vhost, name, near)
        return found[name]

    for d in old:
        if not _is_flat(d):
            continue
        if d.name in _FLAT:
            block_name, name = _FLAT[d.name]
            block(block_name, d).children.append(_moved(d, name))
        elif d.name == "mr":
            publish = block("publish", d)
            for c in d.children:
                renamed = {"enabled": "mr", "latency": "mr_latency"}.get(c.name, "mr." + c.name)
                publish.children.append(_moved(c, renamed))  # "mr.x" is then reported as unknown
        elif d.name == "forward":
            fwd = Directive("forward", (), file=d.file, line=d.line, block=True)
            fwd.children = [Directive("enabled", ("on",), file=d.file, line=d.line), _moved(d, "destination")]
            vhost.children.append(fwd)
        else:
            refer.append((d.name, d))
    if refer:
        refer_block = block("refer", refer[0][1])
        refer_block.children.append(Directive("enabled", ("on",), file=refer[0][1].file, line=refer[0][1].line))
        renames = {"refer": "all", "refer_publish": "publish", "refer_play": "play"}
        for name, d in refer:
            refer_block.children.append(_moved(d, renames[name]))


# --- checks ----------------------------------------------------------------------------------

def _fail(d: Directive, message: str) -> ConfigError:
    return ConfigError(message, file=d.file, line=d.line)


def _show(text: str) -> str:
    """A value for an error message: quoted, escaped, and cut short (a 5000-digit port stays readable)."""
    return repr(clip(text, 40))


def _port(text: str) -> Optional[int]:
    """A TCP/UDP port 1..65535 written in ASCII digits, else None."""
    if not _PORT_RE.match(text):
        return None
    port = int(text)
    return port if 0 < port <= 65535 else None


_PORT_RE = re.compile(r"[0-9]{1,5}\Z")


def parse_endpoint(text: str, d: Optional[Directive] = None, default_host: str = "0.0.0.0") -> Tuple[str, int]:
    """``port``, ``ip:port`` or ``[ipv6]:port`` -> (host, port); port must be in 1..65535."""
    host, port_text = default_host, text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1:].startswith(":"):
            raise _endpoint_error(text, d)
        host, port_text = text[1:end], text[end + 2:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        if ":" in host:  # bare IPv6 without brackets is ambiguous
            raise _endpoint_error(text, d)
    if not host or not _INT_RE.match(port_text) or port_text[0] in "+-":
        raise _endpoint_error(text, d)
    port = _port(port_text)
    if port is None:
        raise _endpoint_error(text, d, "port must be in [1, 65535]")
    return host, port


def _endpoint_error(text: str, d: Optional[Directive], why: str = "expect [ip:]port") -> ConfigError:
    name = d.name if d is not None else "listen"
    return ConfigError("invalid %s %s, %s" % (name, _show(text), why),
                       file=d.file if d is not None else "", line=d.line if d is not None else 0)


def parse_host_port(text: str, default_port: int) -> Tuple[str, int]:
    """``host[:port]`` for upstreams (origin, forward destination); IPv6 needs brackets.

    Raises ValueError for an empty host or a port that is not 1..65535 (``check_host_port``
    reports it at the directive's line).
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("expect [ipv6]:port")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, None
        elif ":" in host:  # bare IPv6: no port
            host, port_text = text, None
    if not host:
        raise ValueError("empty host")
    if port_text is None:
        return host, default_port
    port = _port(port_text)
    if port is None:
        raise ValueError("port must be in [1, 65535]")
    return host, port


def check_host_port(text: str, d: Directive) -> None:
    try:
        parse_host_port(text, 1)
    except ValueError as exc:
        raise _fail(d, "invalid %s %s, %s" % (d.name, _show(text), exc)) from None


def _full(d: Directive, path: str) -> str:
    return path + "." + d.name if path else d.name


def check(root: Directive) -> List[str]:
    """Validates the (transformed) tree; raises ConfigError, returns warnings."""
    if not root.children:
        raise ConfigError("conf is empty", file=root.file)
    warnings: List[str] = []
    _check_block(root, ROOT, "", warnings)
    _check_semantics(root)
    return warnings


def _check_block(parent: Directive, schema: Dict[str, Spec], path: str, warnings: List[str]) -> None:
    for d in parent.children:
        spec = schema.get(d.name)
        full = clip(_full(d, path), 120)
        if spec is None:
            raise _fail(d, "unknown directive %s" % full)
        if (parent.name, d.name) in _REMOVED:
            warnings.append("%s: directive %s is removed and ignored" % (d.where(), full))
        if isinstance(spec, dict):
            if not d.block:
                raise _fail(d, "directive %s must be a block { ... }" % full)
            lo, hi = _BLOCK_ARGS.get(d.name, (0, 0))
            if not lo <= len(d.args) <= hi:
                wanted = str(lo) if lo == hi else "%d-%d" % (lo, hi)
                raise _fail(d, "directive %s takes %s argument(s), got %d" % (full, wanted, len(d.args)))
            _check_block(d, spec, full, warnings)
        elif spec == ANY:
            if d.args and not d.block:
                raise _fail(d, "directive %s must be a block { ... }" % full)
            for c in d.children:
                if c.block:
                    raise _fail(c, "directive %s.%s cannot be a block" % (full, clip(c.name)))
        else:
            if d.block:
                raise _fail(d, "directive %s cannot be a block" % full)
            _check_leaf(d, spec, full)


def _check_leaf(d: Directive, spec: Spec, full: str) -> None:
    if spec == STRS:
        return
    if len(d.args) > 1:
        raise _fail(d, "directive %s takes one argument, got %d" % (full, len(d.args)))
    if spec == STR:
        return
    if not d.args:
        return  # empty = default, as SRS's getters
    value = d.args[0]
    if isinstance(spec, Number):
        if spec.parse(value) is None:
            what = "an integer" if spec.integer else "a number"
            raise _fail(d, "directive %s expects %s in %s, got %s" % (full, what, spec.describe(), _show(value)))
    elif spec == ENDPOINT:
        parse_endpoint(value, d)
    elif isinstance(spec, Choice) and value not in spec.choices:
        raise _fail(d, "directive %s is %s, expect one of %s" % (full, _show(value), "/".join(spec.choices)))


def _check_semantics(root: Directive) -> None:
    listens = root.get("listen")
    if listens is None or not listens.args:
        raise ConfigError('directive "listen" is empty', file=(listens or root).file,
                          line=listens.line if listens else 0)
    for d in root.get_all("listen"):  # the first one is used, but a bad port is an error wherever it is
        for arg in d.args:
            parse_endpoint(arg, d)
    daemon, asprocess = root.get("daemon"), root.get("asprocess")
    if asprocess is not None and asprocess.arg() == "on" and (daemon is None or daemon.arg() != "off"):
        raise _fail(asprocess, "asprocess conflicts with daemon on")
    for caster in root.get_all("stream_caster"):
        lo, hi = caster.get("rtp_port_min"), caster.get("rtp_port_max")
        lo_port = int(lo.args[0]) if lo is not None and lo.args else 0
        hi_port = int(hi.args[0]) if hi is not None and hi.args else 0
        if lo_port and hi_port and lo_port > hi_port:  # 0 (or unset) means the default range
            raise _fail(hi, "rtp_port_max %d is below rtp_port_min %d" % (hi_port, lo_port))
    names: Dict[str, Directive] = {}
    for vhost in root.get_all("vhost"):
        first = names.get(vhost.args[0])
        if first is not None:
            raise _fail(vhost, "duplicated vhost %s (first at %s)" % (clip(vhost.args[0]), first.where()))
        names[vhost.args[0]] = vhost
        _check_vhost(vhost)


def _check_vhost(vhost: Directive) -> None:
    cluster, forward = vhost.get("cluster"), vhost.get("forward")
    for d in [cluster.get("origin"), cluster.get("coworkers")] if cluster is not None else []:
        for arg in d.args if d is not None else ():
            check_host_port(arg, d)
    destination = forward.get("destination") if forward is not None else None
    for arg in destination.args if destination is not None else ():
        check_host_port(arg, destination)
    security = vhost.get("security")
    for rule in security.children if security is not None else ():
        if rule.name in ("allow", "deny"):
            check_security_rule(rule)
    ids: Dict[str, Directive] = {}
    for ingest in vhost.get_all("ingest"):
        if ingest.args[0] in ids:
            raise _fail(ingest, "duplicated ingest id %s in vhost %s" % (clip(ingest.args[0]), clip(vhost.args[0])))
        ids[ingest.args[0]] = ingest
    engines = [e for t in vhost.get_all("transcode") + vhost.get_all("ingest") for e in t.get_all("engine")]
    for engine in engines:
        vcodec, acodec = engine.get("vcodec"), engine.get("acodec")
        if vcodec is not None and acodec is not None and vcodec.arg() == "vn" and acodec.arg() == "an":
            raise _fail(engine, "engine %s: vcodec vn and acodec an together leave nothing to encode"
                        % (clip(engine.arg(0, "") or "(unnamed)")))


def check_security_rule(rule: Directive) -> Tuple[str, str, str]:
    """``allow|deny publish|play all|IP|CIDR`` -> (action, method, target)."""
    if len(rule.args) != 2 or rule.args[0] not in ("publish", "play"):
        raise _fail(rule, "invalid security rule '%s %s', expect %s publish|play all|<ip>|<cidr>"
                    % (rule.name, clip(" ".join(rule.args)), rule.name))
    target = rule.args[1]
    if target != "all":
        try:
            ipaddress.ip_network(target, strict=False)
        except ValueError:
            raise _fail(rule, "invalid security rule target %s, expect all, an IP or a CIDR" % _show(target)) from None
    return rule.name, rule.args[0], target
