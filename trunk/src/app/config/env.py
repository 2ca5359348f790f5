"""Configuration by environment variables, as SRS 5 (srs_app_config.cpp's SRS_OVERWRITE_BY_ENV_*).

Every directive of the table has a variable named after its path: ``SRS_`` + the path upper-cased with
``.`` -> ``_`` (``SRS_LISTEN``, ``SRS_HTTP_API_LISTEN``, ``SRS_VHOST_HLS_HLS_FRAGMENT``), except the
rows marked ``env=False`` (forward, cluster, security, refer, transcode, ingest, exec, stream_caster,
bandcheck, stats: SRS 5 reads none for them) and the SRS 5 aliases a row lists (``SRS_LOG_TANK``).
A variable that is set and not empty wins over the file; a vhost variable applies to every vhost.
Lists (``SRS_LISTEN``, hook URLs) split on spaces. Unknown ``SRS_*`` variables are ignored, as SRS does.

The values are written into the parsed tree before it is checked, so a bad value is refused with
the same message as in a file, located at the variable (``$SRS_VHOST_HLS_HLS_FRAGMENT: ...``).
``env_root`` is the tree of ``srs -e`` (no file): ``daemon off`` and ``srs_log_tank console`` unless
the variables say otherwise, ``listen 1935`` unless SRS_LISTEN, and an empty ``vhost __defaultVhost__``.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Tuple

from srs.app.config.parser import Directive
from srs.app.config.row import ANY, BLOCK, STRS, Row
from srs.app.config.rows_unimplemented import NOT_IMPLEMENTED
from srs.app.config.table import BY_PATH, ROWS

ENV_ONLY_FILE = "<env>"  # the file name of an env-only config (messages, Config.file)


def _names(row: Row) -> Tuple[str, ...]:
    """The variables that set ``row``, or () when SRS reads none for it."""
    if row.kind in (BLOCK, ANY) or row.ignored or row.env is False:
        return ()
    parent = row.parent
    while parent:
        if BY_PATH[parent].env is False:
            return ()
        parent = BY_PATH[parent].parent
    return row.env if isinstance(row.env, tuple) else (row.env_name,)


# (row, its variable names) for every row settable by environment
ENV_ROWS: Tuple[Tuple[Row, Tuple[str, ...]], ...] = tuple((r, _names(r)) for r in ROWS if _names(r))


def _ignored_name(row: Row) -> str:
    """The variable SRS 5 reads for a row known here but not implemented ("" for none: removed rows,
    blocks, rows under a block SRS reads no variable for)."""
    if row.kind in (BLOCK, ANY) or row.ignored != NOT_IMPLEMENTED:
        return ""
    parent = row.parent
    while parent:
        if BY_PATH[parent].env is False:
            return ""
        parent = BY_PATH[parent].parent
    return row.env_name


# variable -> row, for the directives SRS 5 reads from the environment and this server does not implement
IGNORED_ENV = {_ignored_name(r): r for r in ROWS if _ignored_name(r)}


def ignored_env(env: Mapping[str, str]) -> List[str]:
    """One warning per set variable of a directive that is not implemented (``SRS_RTC_SERVER_TCP_ENABLED``):
    such a variable is known to SRS 5, so it is not silently dropped as an unknown one is."""
    return ["$%s: directive %s is %s and ignored" % (name, row.path, row.ignored)
            for name, row in IGNORED_ENV.items() if env.get(name)]


def env_only(env: Mapping[str, str]) -> bool:
    """``SRS_ENV_ONLY`` (any value) runs from the environment alone, as ``-e``."""
    return "SRS_ENV_ONLY" in env


def env_root() -> Directive:
    """The tree of an env-only config, before the variables are applied."""
    root = Directive("", file=ENV_ONLY_FILE)
    for name, value in (("listen", "1935"), ("daemon", "off"), ("srs_log_tank", "console")):
        root.children.append(Directive(name, (value,), file=ENV_ONLY_FILE, line=0))
    root.children.append(Directive("vhost", ("__defaultVhost__",), file=ENV_ONLY_FILE, block=True))
    return root


def apply_env(root: Directive, env: Mapping[str, str]) -> List[str]:
    """Writes the set variables into ``root`` (a transformed tree); returns the names applied."""
    applied = []
    for row, names in ENV_ROWS:
        name = next((n for n in names if env.get(n)), None)
        if name is None:
            continue
        value = env[name]
        args = tuple(value.split()) if row.kind == STRS else (value,)
        path = row.path.split(".")
        targets = root.get_all("vhost") if path[0] == "vhost" else [root]
        for target in targets:
            _set(target, path[1:] if path[0] == "vhost" else path, args, "$" + name)
        applied.append(name)
    return applied


def _set(d: Directive, path: List[str], args: Tuple[str, ...], where: str) -> None:
    for name in path[:-1]:
        child: Optional[Directive] = d.get(name)
        if child is None:
            child = Directive(name, (), file=where, block=True)
            d.children.append(child)
        d = child
    leaf = d.get(path[-1])
    if leaf is None:
        d.children.append(Directive(path[-1], args, file=where))
    else:  # the first one is the one read (SRS: the first wins)
        leaf.args, leaf.file, leaf.line = args, where, 0
