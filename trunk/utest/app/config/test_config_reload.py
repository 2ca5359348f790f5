"""Reload diff: each directive change -> the SRS reload event; refused and ignored changes."""
from __future__ import annotations

import pytest

from srs.app.config.conf import Change, Config, diff
from srs.kernel.errors import ERROR_RTMP_EDGE_RELOAD, ConfigError

BASE_GLOBAL = "listen 1935;\ndaemon off;\n"


def cfg(globals_text="", vhost_body="", extra=""):
    return Config.parse_text(BASE_GLOBAL + globals_text + "\nvhost v {\n" + vhost_body + "\n}\n" + extra)


def test_identical_configs_have_no_changes():
    a = Config.parse_text("listen 1935;\nvhost v { hls { enabled on; } }")
    b = Config.parse_text("# reformatted\nlisten   1935 ;\nvhost v {\n hls {\n  enabled on;\n }\n}\n")
    changes = diff(a, b)
    assert changes == [] and changes.warnings == []


@pytest.mark.parametrize("old,new,kinds", [
    ("", "listen 1936;", ["listen"]),  # a second listen: the first one wins, so use a different base
    ("pid a.pid;", "pid b.pid;", ["pid"]),
    ("", "max_connections 10;", ["max_connections"]),
    ("", "srs_log_tank console;", ["srs_log_tank"]),
    ("", "srs_log_level warn;", ["srs_log_level"]),
    ("", "srs_log_file x.log;", ["srs_log_file"]),
    ("", "utc_time on;", ["utc_time"]),
    ("", "pithy_print_ms 1000;", ["pithy_print_ms"]),
    ("", "heartbeat { enabled on; }", ["heartbeat"]),
    ("", "stream_caster { enabled on; caster flv; listen 8936; }", ["stream_caster"]),
    ("", "ff_log_dir /tmp;", []),          # read on use
    ("", "grace_start_wait 1;", []),
])
def test_global_changes(old, new, kinds):
    if new.startswith("listen"):
        a = Config.parse_text("listen 1935;\nvhost v {}")
        b = Config.parse_text("listen 1936;\nvhost v {}")
    else:
        a, b = cfg(old), cfg(new)
    assert diff(a, b).kinds() == kinds


@pytest.mark.parametrize("old,new,detail", [
    ("", "http_api { enabled on; }", "enabled"),
    ("http_api { enabled on; }", "http_api { enabled off; }", "disabled"),
    ("http_api { enabled on; }", "", "disabled"),
    ("http_api { enabled on; }", "http_api { enabled on; listen 1986; }", "modified"),
    ("http_api { enabled on; }", "http_api { enabled on; raw_api { enabled on; } }", "modified"),
])
def test_http_api_and_server(old, new, detail):
    assert diff(cfg(old), cfg(new)) == [Change("http_api", detail=detail)]
    if "raw_api" not in new:
        assert diff(cfg(old.replace("http_api", "http_server")), cfg(new.replace("http_api", "http_server"))) == \
            [Change("http_server", detail=detail)]
    # knobs of a disabled block do not matter
    assert diff(cfg("http_api { listen 1; }"), cfg("http_api { listen 2; }")) == []


@pytest.mark.parametrize("name,value", [("daemon", "on"), ("work_dir", "/tmp"), ("asprocess", "on")])
def test_never_reloadable_are_warnings(name, value):
    a = Config.parse_text("listen 1935;\ndaemon off;\nvhost v {}")
    b = Config.parse_text("listen 1935;\ndaemon %s;\n%s\nvhost v {}"
                          % ("on" if name == "daemon" else "off", "" if name == "daemon" else name + " " + value + ";"))
    changes = diff(a, b)
    assert changes == [] and len(changes.warnings) == 1 and name in changes.warnings[0]


VHOST_TABLE = [
    ("play { atc on; }", ["atc"]),
    ("atc on;", ["atc"]),
    ("play { gop_cache off; }", ["gop_cache"]),
    ("play { queue_length 10; }", ["queue_length"]),
    ("play { time_jitter zero; }", ["time_jitter"]),
    ("play { mix_correct on; }", ["mix_correct"]),
    ("play { atc_auto on; }", ["play"]),
    ("play { reduce_sequence_header on; }", ["play"]),
    ("forward { enabled on; destination 127.0.0.1:19350; }", ["forward"]),
    ("forward 127.0.0.1:19350;", ["forward"]),
    ("hls { enabled on; }", ["hls"]),
    ("hds { enabled on; }", ["hds"]),
    ("dvr { enabled on; }", ["dvr"]),
    ("dvr { dvr_apply live/a; }", ["dvr"]),
    ("publish { mr on; }", ["mr"]),
    ("mr { enabled on; latency 100; }", ["mr"]),
    ("chunk_size 4096;", ["chunk_size"]),
    ("play { mw_latency 100; }", ["mw_latency"]),
    ("play { send_min_interval 10; }", ["send_min_interval"]),
    ("tcp_nodelay on;", ["tcp_nodelay"]),
    ("publish { firstpkt_timeout 1000; }", ["publish"]),
    ("publish_normal_timeout 1000;", ["publish"]),
    ("publish { parse_sps off; }", ["publish"]),
    ("min_latency on;", ["min_latency"]),
    ("http_static { enabled on; }", ["http_static"]),
    ("http { enabled on; }", ["http_static"]),
    ("http_remux { enabled on; }", ["http_remux"]),
    ("transcode live { enabled on; engine { enabled on; vcodec copy; acodec copy; output x; } }", ["transcode"]),
    ("exec { enabled on; publish echo [url]; }", ["exec"]),
    ("dash { enabled on; }", ["dash"]),
    ("refer { enabled on; all a.com; }", ["refer"]),
    ("refer a.com;", ["refer"]),
    ("security { enabled on; allow play all; }", ["security"]),
    ("http_hooks { enabled on; on_publish http://x; }", ["http_hooks"]),
    ("cluster { token_traverse on; }", ["cluster"]),
    ("bandcheck { enabled on; key k; }", ["bandcheck"]),
    ("out_ack_size 100;", ["ack_size"]),
    ("play { gop_cache off; queue_length 5; } hls { enabled on; }", ["gop_cache", "queue_length", "hls"]),
    ("ingest a { enabled off; }", []),   # a disabled ingest is no ingester
    ("# only a comment", []),
]


@pytest.mark.parametrize("body,kinds", VHOST_TABLE, ids=[b for b, _ in VHOST_TABLE])
def test_vhost_directive_changes(body, kinds):
    changes = diff(cfg(vhost_body=""), cfg(vhost_body=body))
    assert changes.kinds("v") == kinds
    assert all(c.vhost == "v" for c in changes)
    # and back again fires the same events
    assert diff(cfg(vhost_body=body), cfg(vhost_body="")).kinds("v") == kinds


def test_global_chunk_size_reaches_vhosts_without_their_own():
    a = Config.parse_text("listen 1935;\nvhost v {}\nvhost w { chunk_size 4096; }")
    b = Config.parse_text("listen 1935;\nchunk_size 8192;\nvhost v {}\nvhost w { chunk_size 4096; }")
    assert diff(a, b) == [Change("chunk_size", vhost="v")]


def test_vhost_added_removed_and_toggled():
    a = Config.parse_text("listen 1935;\nvhost keep {}\nvhost gone {}\nvhost off { enabled off; }\n"
                          "vhost turned_off {}")
    b = Config.parse_text("listen 1935;\nvhost keep {}\nvhost new {}\nvhost off { enabled on; }\n"
                          "vhost turned_off { enabled off; } vhost new_disabled { enabled off; }")
    changes = diff(a, b)
    assert sorted((c.kind, c.vhost) for c in changes) == [
        ("vhost_added", "new"), ("vhost_added", "off"), ("vhost_removed", "gone"), ("vhost_removed", "turned_off")]
    # an added vhost gets no per-directive events
    c = diff(Config.parse_text("listen 1935;"), Config.parse_text("listen 1935;\nvhost n { hls { enabled on; } }"))
    assert c == [Change("vhost_added", vhost="n")]


def test_ingest_added_removed_changed():
    old = cfg(vhost_body="ingest a { enabled on; input { url x.flv; } } ingest b { enabled on; }")
    new = cfg(vhost_body="ingest a { enabled on; input { url y.flv; } } ingest c { enabled on; }")
    changes = diff(old, new)
    assert sorted((c.kind, c.detail, c.ingest_id) for c in changes) == [
        ("ingest", "added", "c"), ("ingest", "changed", "a"), ("ingest", "removed", "b")]
    # disabling an ingest removes it
    off = cfg(vhost_body="ingest a { enabled off; input { url x.flv; } } ingest b { enabled on; }")
    assert diff(old, off) == [Change("ingest", vhost="v", detail="removed", ingest_id="a")]


@pytest.mark.parametrize("old,new", [
    ("", "cluster { mode remote; origin 127.0.0.1; }"),
    ("mode remote;", "mode local;"),
    ("cluster { mode remote; }", ""),
])
def test_mode_change_is_refused(old, new):
    with pytest.raises(ConfigError) as info:
        diff(cfg(vhost_body=old), cfg(vhost_body=new))
    assert info.value.code == ERROR_RTMP_EDGE_RELOAD == 2023
    assert "mode" in str(info.value)


def test_mode_change_with_vhost_toggle_is_allowed():
    # disabled -> enabled edge is a new vhost, not a mode change
    a = cfg(vhost_body="enabled off;")
    b = cfg(vhost_body="cluster { mode remote; origin 127.0.0.1; }")
    assert diff(a, b) == [Change("vhost_added", vhost="v")]


def test_change_repr_and_equality():
    c = Change("ingest", vhost="v", detail="added", ingest_id="a")
    assert "ingest" in repr(c) and "added" in repr(c)
    assert c == Change("ingest", vhost="v", detail="added", ingest_id="a") and c != Change("ingest")
