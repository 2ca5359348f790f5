"""What a config may contain (SRS's check_config whitelist) and how 2.0 spelling maps onto 3.0's.

``transform(root)`` rewrites the 2.0 flat vhost directives into the 3.0 grouped blocks in place
(srs_config_transform_vhost), so the view reads one spelling only. ``check(root)`` then walks the
tree against SCHEMA: unknown names, wrong argument counts, bad numbers and enum values raise a
ConfigError at the offending directive's file:line. It returns warnings for accepted-but-ignored
directives.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Tuple, Union

from srs.app.config_parser import Directive
from srs.kernel.errors import ConfigError

# --- leaf kinds: how many arguments and of which type (checked), read by config_view
FLAG = "flag"       # on/off (SRS's convention: anything but the literal keeps the default)
INT = "int"
FLOAT = "float"
STR = "str"         # one argument (may be empty)
STRS = "strs"       # zero or more arguments
ENDPOINT = "endpoint"  # [ip:]port
ANY = "any"         # a block with free-form children (ffmpeg parameter blocks)


class Choice:
    __slots__ = ("choices",)

    def __init__(self, *choices: str):
        self.choices = choices


Spec = Union[str, Choice, Dict[str, "Spec"]]

_ENGINE: Dict[str, Spec] = {
    "enabled": FLAG, "iformat": STR, "vfilter": ANY,
    "vcodec": Choice("libx264", "copy", "vn"), "vbitrate": INT, "vfps": FLOAT, "vwidth": INT, "vheight": INT,
    "vthreads": INT, "vprofile": STR, "vpreset": STR, "vparams": ANY,
    "acodec": Choice("libfdk_aac", "aac", "libaacplus", "libmp3lame", "copy", "an"),
    "abitrate": INT, "asample_rate": INT, "achannels": INT, "aparams": ANY,
    "oformat": STR, "output": STR, "perfile": ANY,
}

_TIME_JITTER = Choice("full", "zero", "off")

VHOST: Dict[str, Spec] = {
    "enabled": FLAG, "chunk_size": INT, "min_latency": FLAG, "tcp_nodelay": FLAG,
    "in_ack_size": INT, "out_ack_size": INT,
    "cluster": {"mode": Choice("local", "remote"), "origin": STRS, "token_traverse": FLAG, "vhost": STR,
                "debug_srs_upnode": FLAG, "origin_cluster": FLAG, "coworkers": STRS},
    "play": {"time_jitter": _TIME_JITTER, "mix_correct": FLAG, "atc": FLAG, "atc_auto": FLAG,
             "mw_latency": INT, "gop_cache": FLAG, "queue_length": FLOAT, "send_min_interval": FLOAT,
             "reduce_sequence_header": FLAG},
    "publish": {"mr": FLAG, "mr_latency": INT, "firstpkt_timeout": INT, "normal_timeout": INT,
                "parse_sps": FLAG},
    "refer": {"enabled": FLAG, "all": STRS, "publish": STRS, "play": STRS},
    "forward": {"enabled": FLAG, "destination": STRS},
    "security": {"enabled": FLAG, "allow": STRS, "deny": STRS},
    "hls": {"enabled": FLAG, "hls_entry_prefix": STR, "hls_path": STR, "hls_fragment": FLOAT,
            "hls_window": FLOAT, "hls_on_error": Choice("ignore", "disconnect", "continue"),
            "hls_storage": STR, "hls_mount": STR, "hls_td_ratio": FLOAT, "hls_aof_ratio": FLOAT,
            "hls_acodec": Choice("aac", "mp3", "an"), "hls_vcodec": Choice("h264", "vn"),
            "hls_m3u8_file": STR, "hls_ts_file": STR, "hls_ts_floor": FLAG, "hls_cleanup": FLAG,
            "hls_nb_notify": INT, "hls_wait_keyframe": FLAG, "hls_dispose": FLOAT, "hls_keys": FLAG,
            "hls_fragments_per_key": INT, "hls_key_file": STR, "hls_key_file_path": STR,
            "hls_key_url": STR, "hls_dts_directly": FLAG},
    "hds": {"enabled": FLAG, "hds_fragment": FLOAT, "hds_window": FLOAT, "hds_path": STR},
    "dvr": {"enabled": FLAG, "dvr_plan": Choice("session", "segment", "append"), "dvr_path": STR,
            "dvr_duration": FLOAT, "dvr_wait_keyframe": FLAG, "time_jitter": _TIME_JITTER, "dvr_apply": STRS},
    "http_hooks": {"enabled": FLAG, "on_connect": STRS, "on_close": STRS, "on_publish": STRS,
                   "on_unpublish": STRS, "on_play": STRS, "on_stop": STRS, "on_dvr": STRS, "on_hls": STRS,
                   "on_hls_notify": STRS},
    "exec": {"enabled": FLAG, "publish": STRS},
    "dash": {"enabled": FLAG, "dash_fragment": FLOAT, "dash_update_period": FLOAT, "dash_timeshift": FLOAT,
             "dash_path": STR, "dash_mpd_file": STR},
    "http_static": {"enabled": FLAG, "mount": STR, "dir": STR},
    "http_remux": {"enabled": FLAG, "fast_cache": FLOAT, "mount": STR, "hstrs": FLAG},
    "bandcheck": {"enabled": FLAG, "key": STR, "interval": FLOAT, "limit_kbps": INT},
    "transcode": {"enabled": FLAG, "ffmpeg": STR, "engine": _ENGINE},
    "ingest": {"enabled": FLAG, "input": {"type": Choice("file", "stream"), "url": STR}, "ffmpeg": STR,
               "engine": _ENGINE},
}

ROOT: Dict[str, Spec] = {
    "listen": STRS, "pid": STR, "chunk_size": INT, "ff_log_dir": STR,
    "ff_log_level": Choice("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace"),
    "srs_log_tank": Choice("file", "console"),
    "srs_log_level": Choice("verbose", "info", "trace", "warn", "error"), "srs_log_file": STR,
    "max_connections": INT, "daemon": FLAG, "work_dir": STR, "asprocess": FLAG, "utc_time": FLAG,
    "pithy_print_ms": INT, "empty_ip_ok": FLAG, "grace_start_wait": INT, "grace_final_wait": INT,
    "force_grace_quit": FLAG, "disable_daemon_for_docker": FLAG, "inotify_auto_reload": FLAG,
    "auto_reload_for_docker": FLAG, "reuseport": FLAG,
    "heartbeat": {"enabled": FLAG, "interval": FLOAT, "url": STR, "device_id": STR, "summaries": FLAG},
    "stats": {"network": INT, "disk": STRS},
    "http_api": {"enabled": FLAG, "listen": ENDPOINT, "crossdomain": FLAG,
                 "raw_api": {"enabled": FLAG, "allow_reload": FLAG, "allow_query": FLAG, "allow_update": FLAG}},
    "http_server": {"enabled": FLAG, "listen": ENDPOINT, "dir": STR, "crossdomain": FLAG},
    "stream_caster": {"enabled": FLAG, "caster": Choice("mpegts_over_udp", "rtsp", "flv"), "output": STR,
                      "listen": ENDPOINT, "rtp_port_min": INT, "rtp_port_max": INT},
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
    for d in old:
        if not _is_flat(d):
            continue
        if d.name in _FLAT:
            block, name = _FLAT[d.name]
            _block(vhost, block, d).children.append(_moved(d, name))
        elif d.name == "mr":
            publish = _block(vhost, "publish", d)
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
        block = _block(vhost, "refer", refer[0][1])
        block.children.append(Directive("enabled", ("on",), file=refer[0][1].file, line=refer[0][1].line))
        for name, d in refer:
            block.children.append(_moved(d, {"refer": "all", "refer_publish": "publish", "refer_play": "play"}[name]))


# --- checks ----------------------------------------------------------------------------------

def _fail(d: Directive, message: str) -> ConfigError:
    return ConfigError(message, file=d.file, line=d.line)


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
    if not port_text.isdigit() or not host:
        raise _endpoint_error(text, d)
    port = int(port_text)
    if not 0 < port <= 65535:
        raise _endpoint_error(text, d, "port must be in [1, 65535]")
    return host, port


def _endpoint_error(text: str, d: Optional[Directive], why: str = "expect [ip:]port") -> ConfigError:
    name = d.name if d is not None else "listen"
    return ConfigError("invalid %s %r, %s" % (name, text, why),
                       file=d.file if d is not None else "", line=d.line if d is not None else 0)


def parse_host_port(text: str, default_port: int) -> Tuple[str, int]:
    """``host[:port]`` for upstreams (origin, forward destination); IPv6 needs brackets."""
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1:]
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return text, default_port


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
        full = _full(d, path)
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
                    raise _fail(c, "directive %s.%s cannot be a block" % (full, c.name))
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
    if spec == INT:
        try:
            int(value)
        except ValueError:
            raise _fail(d, "directive %s expects an integer, got %r" % (full, value)) from None
    elif spec == FLOAT:
        try:
            float(value)
        except ValueError:
            raise _fail(d, "directive %s expects a number, got %r" % (full, value)) from None
    elif spec == ENDPOINT:
        parse_endpoint(value, d)
    elif isinstance(spec, Choice) and value not in spec.choices:
        raise _fail(d, "directive %s is %r, expect one of %s" % (full, value, "/".join(spec.choices)))


def _int(d: Optional[Directive], default: int) -> int:
    return int(d.args[0]) if d is not None and d.args else default


def _check_semantics(root: Directive) -> None:
    listens = root.get("listen")
    if listens is None or not listens.args:
        raise ConfigError('directive "listen" is empty', file=(listens or root).file,
                          line=listens.line if listens else 0)
    for arg in listens.args:
        parse_endpoint(arg, listens)
    for d in [root.get("chunk_size")] + [v.get("chunk_size") for v in root.get_all("vhost")]:
        if d is not None and d.args and not 128 <= int(d.args[0]) <= 65536:
            raise _fail(d, "chunk_size %s out of range [128, 65536]" % d.args[0])
    d = root.get("max_connections")
    if d is not None and _int(d, 1) <= 0:
        raise _fail(d, "max_connections must be > 0, got %s" % d.args[0])
    daemon, asprocess = root.get("daemon"), root.get("asprocess")
    if asprocess is not None and asprocess.arg() == "on" and (daemon is None or daemon.arg() != "off"):
        raise _fail(asprocess, "asprocess conflicts with daemon on")
    hb = root.get("heartbeat")
    if hb is not None and hb.get("interval") is not None and hb.get("interval").args \
            and float(hb.get("interval").args[0]) <= 0:
        raise _fail(hb.get("interval"), "heartbeat.interval must be > 0")
    stats = root.get("stats")
    if stats is not None and _int(stats.get("network"), 0) < 0:
        raise _fail(stats.get("network"), "stats.network must be >= 0")
    names: Dict[str, Directive] = {}
    for vhost in root.get_all("vhost"):
        if vhost.args[0] in names:
            raise _fail(vhost, "duplicated vhost %s (first at %s)" % (vhost.args[0], names[vhost.args[0]].where()))
        names[vhost.args[0]] = vhost
        _check_vhost(vhost)


def _check_vhost(vhost: Directive) -> None:
    security = vhost.get("security")
    for rule in security.children if security is not None else ():
        if rule.name in ("allow", "deny"):
            check_security_rule(rule)
    ids: Dict[str, Directive] = {}
    for ingest in vhost.get_all("ingest"):
        if ingest.args[0] in ids:
            raise _fail(ingest, "duplicated ingest id %s in vhost %s" % (ingest.args[0], vhost.args[0]))
        ids[ingest.args[0]] = ingest
    engines = [e for t in vhost.get_all("transcode") + vhost.get_all("ingest") for e in t.get_all("engine")]
    for engine in engines:
        vcodec, acodec = engine.get("vcodec"), engine.get("acodec")
        if vcodec is not None and acodec is not None and vcodec.arg() == "vn" and acodec.arg() == "an":
            raise _fail(engine, "engine %s: vcodec vn and acodec an together leave nothing to encode"
                        % (engine.arg(0, "") or "(unnamed)"))


def check_security_rule(rule: Directive) -> Tuple[str, str, str]:
    """``allow|deny publish|play all|IP|CIDR`` -> (action, method, target)."""
    if len(rule.args) != 2 or rule.args[0] not in ("publish", "play"):
        raise _fail(rule, "invalid security rule '%s %s', expect %s publish|play all|<ip>|<cidr>"
                    % (rule.name, " ".join(rule.args), rule.name))
    target = rule.args[1]
    if target != "all":
        try:
            ipaddress.ip_network(target, strict=False)
        except ValueError:
            raise _fail(rule, "invalid security rule target %r, expect all, an IP or a CIDR" % target) from None
    return rule.name, rule.args[0], target
