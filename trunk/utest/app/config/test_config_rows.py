"""The config table: every row is checked, viewed and reload-diffed from its one declaration.

The tests walk ROWS, so a row added to rows_global.py / rows_vhost.py is covered without touching
them: its default must be what the view gives for a conf without it, a non-default value must be
accepted by the checker, reach its view field and fire the row's reload event.
"""
from __future__ import annotations

import pytest

from srs.app.config import reload as config_reload
from srs.app.config.conf import Config, VhostConfig, diff
from srs.app.config.env import ENV_ROWS
from srs.app.config.row import (ANY, BLOCK, ENDPOINT, FLAG, ON_USE, RESTART, STR, STRS, Choice, Number, Ref,
                                Row)
from srs.app.config.table import BY_PATH, ROWS, SOURCE_OPTIONS, reload_kind, view_fields
from srs.app.live.source import SourceOptions
from srs.core import performance
from srs.kernel.errors import ERROR_RTMP_EDGE_RELOAD, ConfigError

LEAVES = [r for r in ROWS if r.kind != BLOCK and not r.ignored]
BLOCK_ARGS = {"vhost": "v", "ingest": "i", "rendition": "r"}  # a block that needs its name/id
SAMPLES = {"listen": "1936", "vhost.security.allow": "publish all", "vhost.security.deny": "play all",
           "vhost.abr.ladder": "r2:640x360:700:64"}
CONTEXT = {"asprocess": "daemon off;"}  # asprocess on conflicts with the default daemon on
BESIDE = {"vhost.forward.enabled": "destination a.com;"}  # written next to the row: what it switches on
INHERITED = {"chunk_size": ["chunk_size"]}  # the global chunk_size is each vhost's default: their event fires


def sample(row: Row) -> str:
    """A valid value other than the row's default, as conf text."""
    if row.path in SAMPLES:
        return SAMPLES[row.path]
    kind = row.kind
    if kind == FLAG:
        return "off" if row.default else "on"
    if isinstance(kind, Number):
        value = row.default + 1
        assert kind.parse(str(value)) is not None
        return str(value)
    if isinstance(kind, Choice):
        return next(c for c in kind.choices if c != row.default)
    if kind == ENDPOINT:
        return "1234"
    assert kind in (STR, STRS, ANY), row  # ANY: conf() writes a block
    return "a.com"


def conf(row: Row, value: str = None, env=None) -> Config:
    """A conf holding the blocks on ``row``'s path (each enabled but the vhost, unless the row is that
    enabled), with the row set to ``value`` when given."""
    names = row.path.split(".")
    if value is None:
        inner = ""
    elif row.kind == ANY:
        inner = "%s { a b; }" % row.name
    else:
        inner = "%s %s; %s" % (row.name, value, BESIDE.get(row.path, ""))
    for depth in range(len(names) - 1, 0, -1):
        block = BY_PATH[".".join(names[:depth])]
        enable = ""
        if block.name != "vhost" and not block.flat and "enabled" in _child_names(block) and \
                row.path != block.path + ".enabled":
            enable = "enabled on; "
        inner = "%s %s { %s%s }" % (block.name, BLOCK_ARGS.get(block.name, ""), enable, inner)
    text = "%s\n%s\n%s\n" % ("" if row.path == "listen" and value else "listen 1935;", CONTEXT.get(row.path, ""), inner)
    if not row.path.startswith("vhost."):
        text += "vhost v {}\n"
    return Config.parse_text(text, env=env or {})


def _child_names(block: Row):
    return {r.name for r in ROWS if r.parent == block.path}


def view_value(config: Config, row: Row):
    """The view's value for ``row``; for a row inside a block the view computes as a whole (refer,
    forward), that block's value."""
    obj, prefix = config, ""
    for name in row.path.split(".")[:-1]:
        prefix = prefix + "." + name if prefix else name
        block = BY_PATH[prefix]
        if block.flat:
            continue
        obj = getattr(obj, block.field)
        if block.many:
            obj = obj[0]
        elif block.custom:
            return obj
    return getattr(obj, row.field)


def _default(row: Row, config: Config):
    if isinstance(row.default, Ref):
        return view_value(config, BY_PATH[row.parent + "." + row.default.field])
    return row.default


@pytest.mark.parametrize("row", [r for r in ROWS if r.field and not (r.kind == BLOCK and not r.custom)
                                 and not BY_PATH.get(r.parent, r).custom], ids=lambda r: r.path)
def test_row_default_is_the_view_of_a_conf_without_it(row):
    config = conf(row)
    got = view_value(config, row)
    assert got == _default(row, config) and type(got) is type(_default(row, config))


@pytest.mark.parametrize("row", [r for r in LEAVES if r.field], ids=lambda r: r.path)
def test_every_row_is_checked_viewed_and_reload_diffed(row):
    before, after = conf(row), conf(row, sample(row))  # checkable: the non-default value loads
    assert view_value(after, row) != view_value(before, row)  # viewable
    kind = reload_kind(row)
    if kind == "mode":
        with pytest.raises(ConfigError) as err:
            diff(before, after)
        assert err.value.code == ERROR_RTMP_EDGE_RELOAD
        return
    changes = diff(before, after)
    if row.path in INHERITED:
        assert changes.kinds() == INHERITED[row.path]
    elif kind == RESTART:
        assert changes == [] and len(changes.warnings) == 1 and row.field in changes.warnings[0]
    elif kind == ON_USE:
        assert changes == [] and changes.warnings == []
    elif kind == "vhost":
        assert changes.kinds() == ["vhost_removed"]
    else:
        assert changes.kinds() == [kind]


@pytest.mark.parametrize("row,names", ENV_ROWS, ids=lambda x: x.path if isinstance(x, Row) else "")
def test_every_env_variable_sets_what_the_file_sets(row, names):
    for name in names:
        by_env = conf(row, env={name: sample(row)})
        assert view_value(by_env, row) == view_value(conf(row, sample(row)), row) != view_value(conf(row), row)


def test_rows_are_unique_and_each_has_a_distinct_env_name():
    assert len({r.path for r in ROWS}) == len(ROWS)
    assert len({r.env_name for r in ROWS}) == len(ROWS)
    assert BY_PATH["vhost.hls.hls_fragment"].env_name == "SRS_VHOST_HLS_HLS_FRAGMENT"
    assert BY_PATH["http_api.listen"].env_name == "SRS_HTTP_API_LISTEN"
    assert BY_PATH["listen"].env_name == "SRS_LISTEN"


def test_every_reload_event_is_fired_in_an_order():
    kinds = {reload_kind(r) for r in ROWS} - {ON_USE, RESTART, "vhost", "mode", "ingest"}
    ordered = set(config_reload.GLOBAL_ORDER) | set(config_reload.VHOST_ORDER)
    assert kinds == ordered
    assert config_reload.NEVER_RELOADED == ("server_id", "daemon", "work_dir", "asprocess", "exporter")


def test_views_take_their_fields_from_the_rows():
    assert VhostConfig.__slots__ == ("name",) + view_fields("vhost") + ("is_edge",)
    assert set(Config.__slots__) == {"file", "root", "warnings"} | set(view_fields(""))
    assert "mw_latency" in VhostConfig.__slots__ and "mr_enabled" in VhostConfig.__slots__


def test_source_options_come_from_the_rows():
    """SourceOptions has one field per row with a ``source`` name, its default the row's (from
    core/performance for the hot-path knobs), and from_vhost reads the vhost view's field."""
    assert set(SourceOptions.__slots__) == set(SOURCE_OPTIONS)
    assert SOURCE_OPTIONS["mw_latency_ms"] == ("mw_latency", performance.MW_SLEEP_MS)
    assert SOURCE_OPTIONS["chunk_size"] == ("chunk_size", performance.CHUNK_SIZE)
    default = SourceOptions()
    empty = SourceOptions.from_vhost(Config.parse_text("listen 1935;\nvhost v {}").vhost("v"))
    for name in SourceOptions.__slots__:
        assert getattr(default, name) == getattr(empty, name)
    tuned = SourceOptions.from_vhost(Config.parse_text(
        "listen 1935;\nvhost v { play { mw_latency 100; queue_length 5; } chunk_size 4096; }").vhost("v"))
    assert (tuned.mw_latency_ms, tuned.queue_length_s, tuned.chunk_size) == (100, 5.0, 4096)
    with pytest.raises(TypeError):
        SourceOptions(mw_latency=1)


@pytest.mark.parametrize("row", [r for r in ROWS if r.ignored], ids=lambda r: r.path)
def test_an_ignored_row_is_accepted_with_one_warning(row):
    """A directive known but not implemented (or removed) warns once, naming itself; inside an ignored
    block (rtc_server { candidate x; }) the block's warning is the one."""
    names = row.path.split(".")
    text = "%s x;" % names[-1] if row.kind != BLOCK else "%s { }" % names[-1]
    warned = row
    for depth in range(len(names) - 1, 0, -1):
        block = BY_PATH[".".join(names[:depth])]
        warned = block if block.ignored else warned
        text = "%s %s{ %s }" % (names[depth - 1], "v " if block.args[0] else "", text)
    config = Config.parse_text("listen 1935;\n" + text)
    assert config.warnings == ("<text>:2: directive %s is %s and ignored" % (warned.path, warned.ignored),)
