"""The checker (whitelist + values), 2.0/3.0 spelling equivalence and the shipped conf files."""
from __future__ import annotations

import pathlib
import time

import pytest

from srs.app.config.conf import Config
from srs.app.config.table import ROWS
from srs.kernel.errors import ConfigError

CONF_DIR = pathlib.Path(__file__).resolve().parents[3] / "conf"


def load(text, file="t.conf"):
    return Config.parse_text(text, file)


def vhost_text(body, head="listen 1935;\n"):
    return head + "vhost v {\n" + body + "\n}\n"


@pytest.mark.parametrize("text,line,fragment", [
    ("listen 1935;\nfoo 1;", 2, "unknown directive foo"),
    ("listen 1935;\nvhost a {\n  foo on;\n}", 3, "unknown directive vhost.foo"),
    ("listen 1935;\nvhost a {\n  hls {\n    hls_foo 1;\n  }\n}", 4, "unknown directive vhost.hls.hls_foo"),
    ("listen 1935;\nhttp_api {\n raw_api { bad on; }\n}", 3, "unknown directive http_api.raw_api.bad"),
    ("listen 1935;\nvhost a {\n transcode { engine { vbad 1; } }\n}", 3,
     "unknown directive vhost.transcode.engine.vbad"),
    ("listen 1935;\nvhost a {\n play { mr on; }\n}", 3, "unknown directive vhost.play.mr"),
    ("listen 1935;\nvhost a {\n mr { bad 1; }\n}", 3, "unknown directive vhost.publish.mr.bad"),
    ("listen 1935;\nvhost a {\n hls on;\n}", 3, "must be a block"),
    ("listen 1935;\nvhost a {\n tcp_nodelay { }\n}", 3, "cannot be a block"),
    ("listen 1935;\nvhost a {\n gop_cache { }\n}", 3, "unknown directive vhost.gop_cache"),
    ("listen 1935;\nvhost {\n}", 2, "vhost takes 1 argument"),
    ("listen 1935;\nvhost a {\n ingest a b { }\n}", 3, "ingest takes 0-1 argument"),  # SRS takes `ingest {`
    ("listen 1935;\nhttp_api x { }", 2, "http_api takes 0 argument"),
])
def test_unknown_or_misshapen_directives(text, line, fragment):
    with pytest.raises(ConfigError) as info:
        load(text)
    assert info.value.line == line and info.value.file == "t.conf", str(info.value)
    assert fragment in str(info.value)
    assert f"t.conf:{line}: " in str(info.value)


@pytest.mark.parametrize("text,fragment", [
    ("vhost v {}", 'directive "listen" is empty'),
    ("listen;", 'directive "listen" is empty'),
    ("listen 0;", "port must be in"),
    ("listen 65536;", "port must be in"),
    ("listen abc;", "expect [ip:]port"),
    ("listen 1935 :80;", "expect [ip:]port"),
    ("listen ::1:1935;", "expect [ip:]port"),
    ("listen [::1;", "expect [ip:]port"),
    ("listen 1935;\nhttp_api { listen 0; }", "port must be in"),
    ("listen 1935;\nhttp_server { listen x:y; }", "expect [ip:]port"),
    ("listen 1935;\nchunk_size 127;", "expects an integer in [128, 65536], got '127'"),
    ("listen 1935;\nchunk_size 65537;", "in [128, 65536]"),
    ("listen 1935;\nchunk_size abc;", "expects an integer"),
    ("listen 1935;\nmax_connections 0;", "max_connections expects an integer in [1, 2147483647]"),
    ("listen 1935;\nmax_connections -3;", "max_connections expects an integer in [1,"),
    ("listen 1935;\nasprocess on;", "asprocess conflicts with daemon"),
    ("listen 1935;\nheartbeat { interval 0; }", "heartbeat.interval expects a number in (0, 3.1536e+07]"),
    ("listen 1935;\nsrs_log_tank syslog;", "expect one of file/console"),
    ("listen 1935;\nsrs_log_level loud;", "expect one of"),
    ("listen 1935;\nstream_caster { caster rtmp; }", "expect one of mpegts_over_udp/rtsp/flv"),
    ("listen 1935;\npid a b;", "takes one argument"),
    (vhost_text("chunk_size 100;"), "in [128, 65536]"),
    (vhost_text("hls { hls_on_error stop; }"), "expect one of ignore/disconnect/continue"),
    (vhost_text("hls { hls_acodec opus; }"), "expect one of aac/mp3/an"),
    (vhost_text("hls { hls_vcodec h265; }"), "expect one of h264/vn"),
    (vhost_text("hls { hls_fragment ten; }"), "expects a number"),
    (vhost_text("play { time_jitter some; }"), "expect one of full/zero/off"),
    (vhost_text("time_jitter some;"), "expect one of full/zero/off"),
    (vhost_text("dvr { time_jitter x; }"), "expect one of full/zero/off"),
    (vhost_text("dvr { dvr_plan daily; }"), "expect one of session/segment/append"),
    (vhost_text("cluster { mode proxy; }"), "expect one of local/remote"),
    (vhost_text("mode proxy;"), "expect one of local/remote"),
    (vhost_text("security { enabled on; allow publish; }"), "invalid security rule"),
    (vhost_text("security { enabled on; allow record all; }"), "invalid security rule"),
    (vhost_text("security { enabled on; deny play 1.2.3.400; }"), "invalid security rule target"),
    (vhost_text("security { enabled on; deny play 10.0.0.0/40; }"), "invalid security rule target"),
    (vhost_text("transcode { engine { vcodec libx265; } }"), "expect one of libx264/copy/vn"),
    (vhost_text("transcode { engine { acodec opus; } }"), "expect one of libfdk_aac"),
    (vhost_text("transcode { engine x { vcodec vn; acodec an; } }"), "vcodec vn and acodec an"),
    (vhost_text("ingest a { input { type device; } }"), "expect one of file/stream"),
    (vhost_text("ingest a { } ingest a { }"), "duplicated ingest id a"),
    ("listen 1935;\nvhost a {}\nvhost a {}", "duplicated vhost a"),
])
def test_value_checks(text, fragment):
    with pytest.raises(ConfigError) as info:
        load(text)
    assert fragment in str(info.value)
    assert info.value.file == "t.conf"


# Every number is range-checked: ASCII decimals only, finite, within the directive's range.
@pytest.mark.parametrize("directive,value,fragment", [
    ("listen", "9" * 5000, "invalid listen '" + "9" * 40 + "...', port must be in [1, 65535]"),
    ("listen", "\u00b2", "expect [ip:]port"),             # str.isdigit() says yes, int() says no
    ("listen", "\u0661\u0669\u0663\u0665", "expect [ip:]port"),
    ("listen", "+1935", "expect [ip:]port"),
    ("listen", "127.0.0.1:00001935", "port must be in"),
    ("max_connections", "9" * 5000, "expects an integer in [1, 2147483647], got '" + "9" * 40 + "...'"),
    ("max_connections", "2147483648", "expects an integer in [1, 2147483647]"),
    ("max_connections", "1_000", "got '1_000'"),
    ("max_connections", "1.5", "got '1.5'"),
    ("max_connections", " 10", "got ' 10'"),
    ("pithy_print_ms", "-1", "pithy_print_ms expects an integer in [0, 2147483647], got '-1'"),
    ("grace_start_wait", "\u0661", "expects an integer"),
    ("chunk_size", "0x80", "expects an integer in [128, 65536]"),
])
def test_global_numbers_are_range_checked(directive, value, fragment):
    text = "listen 1935;\n%s '%s';\n" % (directive, value) if directive != "listen" else "listen '%s';" % value
    with pytest.raises(ConfigError) as info:
        load(text)
    assert fragment in str(info.value) and info.value.line >= 1, str(info.value)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("body,fragment", [
    ("hls { hls_fragment nan; }", "hls_fragment expects a number in (0, 3.1536e+07], got 'nan'"),
    ("hls { hls_fragment inf; }", "got 'inf'"),
    ("hls { hls_fragment 1e999; }", "got '1e999'"),
    ("hls { hls_fragment 0; }", "(0, 3.1536e+07]"),
    ("hls { hls_window -1; }", "hls_window expects a number in [0, 3.1536e+07], got '-1'"),
    ("hls { hls_td_ratio 1e9; }", "hls_td_ratio expects a number in [0, 1000]"),
    ("hls { hls_fragments_per_key 0; }", "hls_fragments_per_key expects an integer in [1,"),
    ("hls { hls_dispose 1e300; }", "hls_dispose expects a number"),
    ("hds { hds_fragment 0; }", "hds_fragment expects a number in (0,"),
    ("dash { dash_update_period 0; }", "dash_update_period expects a number in (0,"),
    ("play { queue_length -0.5; }", "queue_length expects a number"),
    ("play { mw_latency -350; }", "mw_latency expects an integer in [0,"),
    ("play { send_min_interval NaN; }", "send_min_interval expects a number"),
    ("publish { normal_timeout 99999999999; }", "normal_timeout expects an integer in [0, 2147483647]"),
    ("dvr { dvr_duration -30; }", "dvr_duration expects a number"),
    ("transcode { engine { vfps 1e6; } }", "vfps expects a number in [0, 1000]"),
    ("transcode { engine { vwidth -768; } }", "vwidth expects an integer in [0,"),
    ("bandcheck { limit_kbps -1; }", "limit_kbps expects an integer"),
    ("http_remux { fast_cache 1e20; }", "fast_cache expects a number"),
    ("forward { enabled on; destination 127.0.0.1:" + "9" * 5000 + "; }",
     "invalid destination '127.0.0.1:" + "9" * 30 + "...', port must be in [1, 65535]"),
    ("forward { enabled on; destination 127.0.0.1:0; }", "port must be in [1, 65535]"),
    ("forward { enabled on; destination :1935; }", "invalid destination ':1935', empty host"),
    ("cluster { mode remote; origin a:\u00b2; }", "invalid origin 'a:\u00b2', port must be in"),
    ("cluster { mode remote; origin [::1; }", "missing ']'"),
    ("cluster { origin_cluster on; coworkers 127.0.0.1:65536; }", "invalid coworkers"),
])
def test_vhost_numbers_are_range_checked(body, fragment):
    with pytest.raises(ConfigError) as info:
        load(vhost_text(body))
    assert fragment in str(info.value) and info.value.line == 3, str(info.value)


@pytest.mark.parametrize("body,fragment", [
    ("stream_caster { caster rtsp; rtp_port_min 70000; }", "rtp_port_min expects an integer in [0, 65535]"),
    ("stream_caster { caster rtsp; rtp_port_min 100; rtp_port_max 99; }", "rtp_port_max 99 is below rtp_port_min 100"),
    ("stream_caster { caster flv; listen -1; }", "invalid listen '-1'"),
    ("heartbeat { interval -1; }", "heartbeat.interval expects a number in (0,"),
    ("stats { network -1; }", "stats.network expects an integer in [0,"),
])
def test_block_numbers_are_range_checked(body, fragment):
    with pytest.raises(ConfigError) as info:
        load("listen 1935;\n" + body)
    assert fragment in str(info.value) and info.value.line == 2, str(info.value)


@pytest.mark.parametrize("text", [
    vhost_text("hls { hls_fragment 0.5; hls_window 1e2; hls_td_ratio .5; hls_dispose 0; }"),
    vhost_text("play { queue_length +10; send_min_interval 10.5; mw_latency 0; }"),
    vhost_text("forward { enabled on; destination 127.0.0.1:19350 [::1]:1936 host ::1; }"),
    vhost_text("cluster { mode remote; origin 127.0.0.1 h:1 [::1]; }"),
    "listen 1935;\nmax_connections 2147483647;\nchunk_size 60000;",
    "listen 1935;\nstream_caster { caster rtsp; rtp_port_min 0; rtp_port_max 65535; }",
    "listen 1935;\nstream_caster { caster rtsp; rtp_port_min 100; rtp_port_max 0; }",  # 0: the default range
])
def test_numbers_in_range_accepted(text):
    load(text)


@pytest.mark.parametrize("text", [
    "listen 1935;",
    "listen 127.0.0.1:1935 [::]:1936 0.0.0.0:1937;",
    "listen 1935;\nchunk_size 128;\nmax_connections 1;",
    "listen 1935;\nchunk_size 65536;",
    "listen 1935;\ndaemon off;\nasprocess on;",
    "listen 1935;\nhttp_stream { enabled on; }",
    "listen 1935;\nstats { network 0; disk; }",
    vhost_text("security { enabled on; allow play all; allow publish 10.0.0.0/8; deny publish ::1; }"),
    vhost_text("dvr { dvr_plan append; dvr_apply live/a live/b; }"),
    vhost_text("hls { hls_entry_prefix ''; }"),
    vhost_text("transcode live/s { engine { vcodec copy; acodec an; vfilter { } perfile { re; } } }"),
    vhost_text("exec { enabled on; publish a b c; publish d; }"),
])
def test_accepted(text):
    load(text)


def test_removed_hls_directives_warn():
    config = load(vhost_text("hls { hls_storage disk; hls_mount [vhost]/[app]/[stream].m3u8; }"))
    assert len(config.warnings) == 2 and "hls_storage" in config.warnings[0]


# --- 2.0 flat spelling == 3.0 grouped spelling -------------------------------------------------

EQUIVALENT = [
    ("gop_cache off;", "play { gop_cache off; }"),
    ("queue_length 10; time_jitter zero; mix_correct on; atc on; atc_auto on;",
     "play { queue_length 10; time_jitter zero; mix_correct on; atc on; atc_auto on; }"),
    ("mw_latency 100; send_min_interval 10; reduce_sequence_header on;",
     "play { mw_latency 100; send_min_interval 10; reduce_sequence_header on; }"),
    ("forward 127.0.0.1:19350;", "forward { enabled on; destination 127.0.0.1:19350; }"),
    ("forward a:1 b;", "forward { enabled on; destination a:1 b; }"),
    ("mr { enabled on; latency 100; }", "publish { mr on; mr_latency 100; }"),
    ("publish_1stpkt_timeout 1000; publish_normal_timeout 2000;",
     "publish { firstpkt_timeout 1000; normal_timeout 2000; }"),
    ("mode remote; origin 1.2.3.4:19350 b; token_traverse on; vhost x.com; debug_srs_upnode off;",
     "cluster { mode remote; origin 1.2.3.4:19350 b; token_traverse on; vhost x.com; debug_srs_upnode off; }"),
    ("refer a.com;", "refer { enabled on; all a.com; }"),
    ("refer a.com; refer_publish b.com; refer_play c.com d.com;",
     "refer { enabled on; all a.com; publish b.com; play c.com d.com; }"),
    ("http { enabled on; mount [vhost]/x; dir ./d; }", "http_static { enabled on; mount [vhost]/x; dir ./d; }"),
    ("gop_cache off; play { queue_length 5; }", "play { queue_length 5; gop_cache off; }"),
]


@pytest.mark.parametrize("flat,grouped", EQUIVALENT)
def test_both_spellings_same_view(flat, grouped):
    a = load(vhost_text(flat)).vhost("v")
    b = load(vhost_text(grouped)).vhost("v")
    assert a == b
    assert a != load(vhost_text("")).vhost("v")  # and the directive did change something


def test_http_stream_is_http_server():
    a = load("listen 1935;\nhttp_stream { enabled on; listen 8081; dir ./x; }")
    b = load("listen 1935;\nhttp_server { enabled on; listen 8081; dir ./x; }")
    assert a.http_server == b.http_server and a.http_server.enabled and a.http_server.listen == ("0.0.0.0", 8081)


def test_compatible_conf_matches_grouped_spelling():
    old = Config.load(str(CONF_DIR / "compatible.conf"))
    new = load("""listen 1935; max_connections 1000; daemon off; srs_log_tank console;
        http_server { enabled on; listen 8080; dir ./objs/nginx/html; }
        vhost __defaultVhost__ {
            play { gop_cache on; queue_length 10; time_jitter full; mix_correct off; atc off; atc_auto off;
                   mw_latency 350; send_min_interval 10.0; reduce_sequence_header on; }
            publish { mr on; mr_latency 350; firstpkt_timeout 20000; normal_timeout 7000; }
            refer { enabled on; all github.com github.io; publish github.com; play github.com; }
            forward { enabled on; destination 127.0.0.1:19350; }
            http_static { enabled on; mount [vhost]/; dir ./objs/nginx/html; }
        }
        vhost edge.srs.com {
            cluster { mode remote; origin 127.0.0.1:1935 localhost:1935; token_traverse off;
                      vhost same.edge.srs.com; debug_srs_upnode on; }
        }""")
    assert old.vhosts == new.vhosts
    assert old.http_server == new.http_server
    edge = old.vhost("edge.srs.com")
    assert edge.is_edge and edge.origin == (("127.0.0.1", 1935), ("localhost", 1935))
    assert edge.edge_vhost == "same.edge.srs.com"


# --- shipped conf files ------------------------------------------------------------------------

REQUIRED = """srs rtmp console realtime hls http.hls http.flv.live http.ts.live http.aac.live http.mp3.live
http.server http.hooks.callback http.api.raw http.heartbeat security.deny.publish dvr.session dvr.segment dvr.path
dvr.mp4 forward.master forward.slave edge origin edge.token.traverse ffmpeg.transcode ingest exec
origin.cluster.serverA origin.cluster.edge push.mpegts.over.udp push.rtsp push.flv hds bandwidth compatible
full""".split()


def test_every_required_conf_is_shipped():
    missing = [n for n in REQUIRED if not (CONF_DIR / (n + ".conf")).exists()]
    assert not missing


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.conf")), ids=lambda p: p.name)
def test_shipped_conf_loads(path):
    config = Config.load(str(path))
    assert config.listen and config.vhosts
    assert config.warnings == ()


def test_srs_conf_content():
    c = Config.load(str(CONF_DIR / "srs.conf"))
    assert c.listen == (("0.0.0.0", 1935),) and c.max_connections == 1000 and c.daemon
    assert c.srs_log_file == "./objs/srs.log" and c.srs_log_tank == "file"
    assert c.http_api.enabled and c.http_api.listen == ("0.0.0.0", 1985)
    assert c.http_server.enabled and c.http_server.listen == ("0.0.0.0", 8080)
    assert c.http_server.dir == "./objs/nginx/html" and c.stats.network == 0
    v = c.vhost("__defaultVhost__")
    assert v.hls.enabled and v.http_remux.enabled and v.http_remux.mount == "[vhost]/[app]/[stream].flv"


def test_rtmp_and_console_conf():
    r = Config.load(str(CONF_DIR / "rtmp.conf"))
    assert not r.daemon and r.srs_log_tank == "console" and not r.http_api.enabled
    c = Config.load(str(CONF_DIR / "console.conf"))
    assert not c.daemon and c.srs_log_tank == "console" and c.http_api.enabled and c.http_server.enabled


def test_full_conf_documents_every_directive():
    """Every directive of the table appears in full.conf (written, with a comment)."""
    text = (CONF_DIR / "full.conf").read_text()
    root = Config.load(str(CONF_DIR / "full.conf")).root
    seen = set()

    def collect(d, path):
        for c in d.children:
            full = path + "." + c.name if path else c.name
            seen.add(full)
            collect(c, full)

    collect(root, "")
    # removed ones are not documented; ingest engines share the transcode engine's directives
    expected = [r.path for r in ROWS if not r.ignored and not (r.path.startswith("vhost.ingest.engine.")
                                                              and r.name not in ("enabled", "output"))]
    missing = [p for p in expected if p not in seen]
    assert not missing
    assert "include" in text


def test_many_flat_directives_check_in_linear_time():
    """Each 2.0 flat directive joins its 3.0 block: looked up once per block, not once per directive (a vhost of
    45,000 directives and 45,000 flat ones took 30 s; now well under a second)."""
    text = "listen 1935;\nvhost v {\n" + "enabled on;\n" * 40000 + "gop_cache off;\nmw_latency 100;\n" * 20000 + "}\n"
    t0 = time.monotonic()
    config = load(text)
    assert time.monotonic() - t0 < 10
    assert config.vhost("v").gop_cache is False and config.vhost("v").mw_latency == 100



# --- SRS's leniency (issue 13 §2) and what is not implemented (§6) ----------------------------

def test_ingest_without_an_id_as_srs():
    config = load(vhost_text("ingest {\n enabled on;\n input { type file; url a.flv; }\n ffmpeg f;\n"
                             " engine { enabled off; output rtmp://127.0.0.1/live/s; }\n}"))
    (ingest,) = config.vhost("v").ingests
    assert ingest.id == "" and ingest.enabled and ingest.input_url == "a.flv"
    assert config.vhost("v").ingest("") is ingest
    with pytest.raises(ConfigError, match=r"duplicated ingest id \(none\) in vhost v"):
        load(vhost_text("ingest { }\ningest { }"))


def test_a_flag_with_its_semicolon_missing_reads_the_first_argument_with_a_warning():
    """SRS 3/4's realtime.conf: `tcp_nodelay on` then `min_latency on;` is one directive for SRS too."""
    config = load(vhost_text("tcp_nodelay     on\n    min_latency     on;"))
    assert config.vhost("v").tcp_nodelay is True and config.vhost("v").min_latency is False
    assert config.warnings == ("t.conf:3: directive vhost.tcp_nodelay has 3 arguments, only the first is read "
                               "(a missing ';'?)",)
    with pytest.raises(ConfigError, match="takes one argument"):  # other kinds stay strict
        load(vhost_text("chunk_size 4096 8192;"))


@pytest.mark.parametrize("text,warning", [
    ("listen 1935;\nrtc_server { enabled on; listen 8000; candidate $CANDIDATE; tcp { enabled on; } }",
     "t.conf:2: directive rtc_server.tcp is not implemented and ignored"),
    ("listen 1935;\nin_docker on;", "t.conf:2: directive in_docker is not implemented and ignored"),
    (vhost_text("play { mw_msgs 8; }"),
     "t.conf:3: directive vhost.play.mw_msgs is not implemented and ignored"),
    ("listen 1935;\nstream_caster { enabled on; caster gb28181; listen 9000; }",
     "t.conf:2: directive stream_caster.caster gb28181 is not implemented and ignored"),
])
def test_what_is_not_implemented_warns_once(text, warning):
    assert load(text).warnings == (warning,)


def test_a_misspelt_name_inside_an_unimplemented_block_is_still_refused():
    with pytest.raises(ConfigError, match="unknown directive rtc_server.candidat"):
        load("listen 1935;\nrtc_server { candidat x; }")


def test_dash_does_not_warn():
    for on in ("on", "off"):  # issue 17: implemented
        assert load(vhost_text("dash { enabled %s; dash_fragment 30; dash_window_size 3; }" % on)).warnings == ()
