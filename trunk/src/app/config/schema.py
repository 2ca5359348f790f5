"""What a config may contain (SRS's check_config whitelist) and how 2.0 spelling maps onto 3.0's.

``transform(root)`` rewrites the 2.0 flat vhost directives into the 3.0 grouped blocks in place
(srs_config_transform_vhost), so the view reads one spelling only; the 2.0 names are the rows'
aliases. ``check(root)`` then walks the tree against the rows of the config table (config/table.py):
unknown names, wrong argument counts, bad numbers and enum values raise a ConfigError at the
offending directive's file:line. It returns warnings for accepted-but-ignored directives (rows
flagged ``ignored``).

Every number has a range (``Number``): plain ASCII decimals only (no ``1_000``, no Unicode digits,
no ``nan``/``inf``, at most 32 characters), so a value the checker accepts is one the server can
use without an overflow, a division by zero or a timer of a thousand years.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Dict, List, Optional, Tuple

from srs.app.config.parser import Directive, clip
from srs.app.config.row import ANY, BLOCK, ENDPOINT, FLAG, INT_RE, STR, STRS, Choice, Kind, Number
from srs.app.config.rows_unimplemented import NOT_IMPLEMENTED, UNIMPLEMENTED_CASTERS
from srs.app.config.table import CHILDREN
from srs.kernel.errors import ConfigError

# --- 2.0 spellings, from the rows' aliases
# old block name -> new one, at the top (http_stream -> http_server) and in a vhost (http {} -> http_static)
_RENAMED = {r.alias: r.name for r in CHILDREN[""].values() if r.kind == BLOCK and r.alias}
_RENAMED_VHOST = {r.alias: r.name for r in CHILDREN["vhost"].values() if r.kind == BLOCK and r.alias}
# 2.0 flat vhost names -> (3.0 block, new name): the aliases of the rows of the vhost's flat blocks
_FLAT = {r.alias: (b.name, r.name) for b in CHILDREN["vhost"].values() if b.kind == BLOCK and b.flat
         for r in CHILDREN[b.path].values() if r.alias and "." not in r.alias}
# 2.0's mr { enabled; latency; } -> publish.mr, publish.mr_latency
_MR = {r.alias[3:]: r.name for r in CHILDREN["vhost.publish"].values() if r.alias and r.alias.startswith("mr.")}
# 2.0's refer, refer_publish, refer_play -> refer { all; publish; play; } (and enabled on)
_REFER = {r.alias: r.name for r in CHILDREN["vhost.refer"].values() if r.alias}
# 2.0's forward a b; -> forward { enabled on; destination a b; }
_FORWARD = {r.alias: r.name for r in CHILDREN["vhost.forward"].values() if r.alias}


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
        if d.name in _RENAMED:
            d.name = _RENAMED[d.name]
    for vhost in root.get_all("vhost"):
        _transform_vhost(vhost)


def _is_flat(d: Directive) -> bool:
    if d.name in _FLAT or d.name in _REFER or d.name in _FORWARD:
        return not d.block
    return d.name == "mr" and d.block


def _transform_vhost(vhost: Directive) -> None:
    # pass 1 keeps the 3.0 directives in order, so a flat directive joins an existing block
    # wherever that block is written (and the grouped value wins when both are given: first wins)
    old = vhost.children
    vhost.children = [_moved(d, _RENAMED_VHOST[d.name]) if d.name in _RENAMED_VHOST and d.block else d
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
                renamed = _MR.get(c.name, "mr." + c.name)
                publish.children.append(_moved(c, renamed))  # "mr.x" is then reported as unknown
        elif d.name in _FORWARD:
            fwd = Directive("forward", (), file=d.file, line=d.line, block=True)
            fwd.children = [Directive("enabled", ("on",), file=d.file, line=d.line), _moved(d, _FORWARD[d.name])]
            vhost.children.append(fwd)
        else:
            refer.append((d.name, d))
    if refer:
        refer_block = block("refer", refer[0][1])
        refer_block.children.append(Directive("enabled", ("on",), file=refer[0][1].file, line=refer[0][1].line))
        for name, d in refer:
            refer_block.children.append(_moved(d, _REFER[name]))


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
    if not host or not INT_RE.match(port_text) or port_text[0] in "+-":
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
    _check_block(root, "", "", warnings)
    _check_semantics(root, warnings)
    return warnings


def _check_block(parent: Directive, block: str, path: str, warnings: List[str], quiet: bool = False) -> None:
    """Checks ``parent``'s children against the rows of ``block`` (its table path); ``path`` is how
    messages name it (clipped). ``quiet``: inside an ignored block, which has warned once for all."""
    rows = CHILDREN[block]
    for d in parent.children:
        row = rows.get(d.name)
        full = clip(_full(d, path), 120)
        if row is None:
            raise _fail(d, "unknown directive %s" % full)
        if row.ignored and not quiet:
            warnings.append("%s: directive %s is %s and ignored" % (d.where(), full, row.ignored))
        spec = row.kind
        if spec == BLOCK:
            if not d.block:
                raise _fail(d, "directive %s must be a block { ... }" % full)
            lo, hi = row.args
            if not lo <= len(d.args) <= hi:
                wanted = str(lo) if lo == hi else "%d-%d" % (lo, hi)
                raise _fail(d, "directive %s takes %s argument(s), got %d" % (full, wanted, len(d.args)))
            _check_block(d, row.path, full, warnings, quiet or bool(row.ignored))
        elif spec == ANY:
            if d.args and not d.block:
                raise _fail(d, "directive %s must be a block { ... }" % full)
            for c in d.children:
                if c.block:
                    raise _fail(c, "directive %s.%s cannot be a block" % (full, clip(c.name)))
        else:
            if d.block:
                raise _fail(d, "directive %s cannot be a block" % full)
            _check_leaf(d, spec, full, warnings)


def _check_leaf(d: Directive, spec: Kind, full: str, warnings: List[str]) -> None:
    if spec == STRS:
        return
    if spec == FLAG and len(d.args) > 1:
        # SRS reads a flag's first argument only: realtime.conf's `tcp_nodelay on` lacks its `;`, so
        # SRS reads `tcp_nodelay on min_latency on;` as tcp_nodelay on (and loses min_latency): so do we
        warnings.append("%s: directive %s has %d arguments, only the first is read (a missing ';'?)"
                        % (d.where(), full, len(d.args)))
    elif len(d.args) > 1:
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


def _check_semantics(root: Directive, warnings: List[str]) -> None:
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
        kind = caster.get("caster")
        if kind is not None and kind.arg() in UNIMPLEMENTED_CASTERS:
            warnings.append("%s: directive stream_caster.caster %s is %s and ignored"
                            % (kind.where(), kind.arg(), NOT_IMPLEMENTED))
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
        _check_vhost(vhost, warnings)


def _check_vhost(vhost: Directive, warnings: List[str]) -> None:
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
        ingest_id = ingest.arg(0, "")
        if ingest_id in ids:
            raise _fail(ingest, "duplicated ingest id %s in vhost %s"
                        % (clip(ingest_id) or "(none)", clip(vhost.args[0])))
        ids[ingest_id] = ingest
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
