"""The typed view: SRS defaults of every getter, on/off convention, vhost lookup, immutability."""
from __future__ import annotations

import pytest

from srs.app.config.conf import Config, VhostConfig

MINIMAL = "listen 1935;\nvhost __defaultVhost__ {}\n"


@pytest.fixture(scope="module")
def minimal():
    return Config.parse_text(MINIMAL)


GLOBAL_DEFAULTS = [
    ("listen", (("0.0.0.0", 1935),)), ("pid", "./objs/srs.pid"), ("chunk_size", 60000), ("ff_log_dir", "./objs"),
    ("ff_log_level", "info"), ("srs_log_tank", "file"), ("srs_log_level", "trace"),
    ("srs_log_file", "./objs/srs.log"), ("max_connections", 1000), ("server_id", ""), ("daemon", True), ("work_dir", "./"),
    ("asprocess", False), ("utc_time", False), ("pithy_print_ms", 10000), ("empty_ip_ok", True),
    ("grace_start_wait", 2300), ("grace_final_wait", 3200), ("force_grace_quit", False),
    ("disable_daemon_for_docker", True), ("inotify_auto_reload", False), ("auto_reload_for_docker", True),
    ("reuseport", False), ("stream_casters", ()), ("warnings", ()),
    ("http_api.enabled", False), ("http_api.listen", ("0.0.0.0", 1985)), ("http_api.crossdomain", True),
    ("http_api.raw_api.enabled", False), ("http_api.raw_api.allow_reload", False),
    ("http_api.raw_api.allow_query", False), ("http_api.raw_api.allow_update", False),
    ("http_server.enabled", False), ("http_server.listen", ("0.0.0.0", 8080)),
    ("http_server.dir", "./objs/nginx/html"), ("http_server.crossdomain", True),
    # SRS 4/5's auth and https blocks (SRS's defaults), and RTMPS as SRS's PR #3949 names it
    ("http_api.auth.enabled", False), ("http_api.auth.username", ""), ("http_api.auth.password", ""),
    ("http_api.https.enabled", False), ("http_api.https.listen", ("0.0.0.0", 1990)),
    ("http_api.https.key", "./conf/server.key"), ("http_api.https.cert", "./conf/server.crt"),
    ("http_server.https.enabled", False), ("http_server.https.listen", ("0.0.0.0", 8088)),
    ("http_server.https.key", "./conf/server.key"), ("http_server.https.cert", "./conf/server.crt"),
    ("rtmps.enabled", False), ("rtmps.listen", ("0.0.0.0", 1943)), ("rtmps.key", "./conf/server.key"),
    ("rtmps.cert", "./conf/server.crt"),
    ("heartbeat.enabled", False), ("heartbeat.interval", 9.9),
    ("heartbeat.url", "http://127.0.0.1:8085/api/v1/servers"), ("heartbeat.device_id", ""),
    ("heartbeat.summaries", False), ("stats.network", 0), ("stats.disk", ()),
    ("exporter.enabled", False), ("exporter.listen", ("0.0.0.0", 9972)), ("exporter.label", ""), ("exporter.tag", ""),
    ("srt_server.enabled", False), ("srt_server.listen", ("0.0.0.0", 10080)), ("srt_server.latency", 120),
    ("srt_server.recvlatency", 120), ("srt_server.peerlatency", 0), ("srt_server.tlpktdrop", True),
    ("srt_server.peer_idle_timeout", 10000), ("srt_server.payloadsize", 1316), ("srt_server.passphrase", ""),
    ("srt_server.pbkeylen", "0"), ("srt_server.default_app", "live"),
    ("rtc_server.enabled", False), ("rtc_server.listen", ("0.0.0.0", 8000)), ("rtc_server.candidate", "*"),
    ("rtc_server.protocol", "udp"), ("rtc_server.api_as_candidates", True), ("rtc_server.ecdsa", True),
]

VHOST_DEFAULTS = [
    ("name", "__defaultVhost__"), ("enabled", True), ("chunk_size", 60000), ("mode", "local"), ("is_edge", False),
    ("origin", ()), ("token_traverse", False), ("edge_vhost", "[vhost]"), ("debug_srs_upnode", True),
    ("origin_cluster", False), ("coworkers", ()), ("gop_cache", True), ("queue_length", 30.0),
    ("time_jitter", "full"), ("mix_correct", False), ("atc", False), ("atc_auto", False), ("mw_latency", 350),
    ("send_min_interval", 0.0), ("reduce_sequence_header", False), ("mr_enabled", False), ("mr_latency", 350),
    ("publish_1stpkt_timeout", 20000), ("publish_normal_timeout", 5000), ("parse_sps", True),
    ("kickoff_for_idle", 0.0), ("gop_cache_max_frames", 2500),
    ("min_latency", False), ("tcp_nodelay", False), ("in_ack_size", 0), ("out_ack_size", 2500000),
    ("refer", None), ("forward_destinations", ()), ("security.enabled", False), ("security.rules", ()),
    ("hls.enabled", False), ("hls.hls_fragment", 10.0), ("hls.hls_td_ratio", 1.5), ("hls.hls_aof_ratio", 2.0),
    ("hls.hls_window", 60.0), ("hls.hls_on_error", "continue"), ("hls.hls_path", "./objs/nginx/html"),
    ("hls.hls_m3u8_file", "[app]/[stream].m3u8"), ("hls.hls_ts_file", "[app]/[stream]-[seq].ts"),
    ("hls.hls_use_fmp4", False), ("hls.hls_fmp4_file", "[app]/[stream]-[seq].m4s"),
    ("hls.hls_ll", False), ("hls.hls_part", 0.333),
    ("hls.hls_ts_floor", False), ("hls.hls_entry_prefix", ""), ("hls.hls_acodec", "aac"),
    ("hls.hls_vcodec", "h264"), ("hls.hls_cleanup", True), ("hls.hls_dispose", 0.0), ("hls.hls_nb_notify", 64),
    ("hls.hls_ctx", True), ("hls.hls_ts_ctx", True),
    ("hls.hls_wait_keyframe", True), ("hls.hls_keys", False), ("hls.hls_fragments_per_key", 5),
    ("hls.hls_key_file", "[app]/[stream]-[seq].key"), ("hls.hls_key_file_path", "./objs/nginx/html"),
    ("hls.hls_key_url", ""), ("hls.hls_dts_directly", True),
    ("hds.enabled", False), ("hds.hds_fragment", 10.0), ("hds.hds_window", 60.0),
    ("hds.hds_path", "./objs/nginx/html"),
    ("dvr.enabled", False), ("dvr.plan", "session"),
    ("dvr.path", "./objs/nginx/html/[app]/[stream].[timestamp].flv"), ("dvr.duration", 30.0),
    ("dvr.wait_keyframe", True), ("dvr.time_jitter", "full"), ("dvr.apply", ("all",)),
    ("http_hooks.enabled", False), ("http_hooks.on_connect", ()), ("http_hooks.on_close", ()),
    ("http_hooks.on_publish", ()), ("http_hooks.on_unpublish", ()), ("http_hooks.on_play", ()),
    ("http_hooks.on_stop", ()), ("http_hooks.on_dvr", ()), ("http_hooks.on_hls", ()),
    ("http_hooks.on_hls_notify", ()),
    ("exec.enabled", False), ("exec.publish", ()),
    ("dash.enabled", False), ("dash.dash_fragment", 10.0), ("dash.dash_update_period", 5.0),
    ("dash.dash_timeshift", 300.0), ("dash.dash_path", "./objs/nginx/html"),
    ("dash.dash_mpd_file", "[app]/[stream].mpd"), ("dash.dash_window_size", 5), ("dash.dash_cleanup", True),
    ("dash.dash_dispose", 0.0),
    ("http_static.enabled", False), ("http_static.mount", "[vhost]/"), ("http_static.dir", "./objs/nginx/html"),
    ("http_remux.enabled", False), ("http_remux.fast_cache", 0.0),
    ("http_remux.mount", "[vhost]/[app]/[stream].flv"), ("http_remux.hstrs", True),
    ("http_remux.has_audio", True), ("http_remux.has_video", True), ("http_remux.guess_has_av", True),
    ("http_remux.drop_if_not_match", True),
    ("bandcheck.enabled", False), ("bandcheck.key", ""), ("bandcheck.interval", 30.0),
    ("bandcheck.limit_kbps", 1000), ("transcodes", ()), ("ingests", ()),
    ("snapshot.enabled", False), ("snapshot.http", True), ("snapshot.interval", 10.0),
    ("snapshot.path", "./objs/nginx/html/[app]/[stream].jpg"), ("snapshot.max_width", 1920),
    ("snapshot.max_height", 1080), ("abr.enabled", False), ("abr.preset", "veryfast"),
    ("abr.master", "[app]/[stream]_abr.m3u8"), ("abr.renditions", ()),
    ("srt.enabled", False), ("srt.srt_to_rtmp", True),
    ("rtc.enabled", False), ("rtc.nack", True), ("rtc.twcc", True), ("rtc.stun_timeout", 30.0),
    ("rtc.dtls_role", "passive"), ("rtc.rtmp_to_rtc", False), ("rtc.rtc_to_rtmp", False),
    ("rtc.keep_bframe", False), ("rtc.keep_avc_nalu_sei", True), ("rtc.opus_bitrate", 48000),
    ("rtc.pli_for_rtmp", 6.0), ("rtc.aac_bitrate", 48000),
]

ENGINE_DEFAULTS = [
    ("name", ""), ("enabled", False), ("iformat", "flv"), ("vfilter", ()), ("vcodec", ""), ("vbitrate", 0),
    ("vfps", 0.0), ("vwidth", 0), ("vheight", 0), ("vthreads", 1), ("vprofile", ""), ("vpreset", ""),
    ("vparams", ()), ("acodec", ""), ("abitrate", 0), ("asample_rate", 0), ("achannels", 0), ("aparams", ()),
    ("oformat", "flv"), ("output", ""), ("perfile", ()),
]


def dotted(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("path,value", GLOBAL_DEFAULTS, ids=[p for p, _ in GLOBAL_DEFAULTS])
def test_global_defaults(minimal, path, value):
    got = dotted(minimal, path)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("path,value", VHOST_DEFAULTS, ids=[p for p, _ in VHOST_DEFAULTS])
def test_vhost_defaults(minimal, path, value):
    got = dotted(minimal.vhost("__defaultVhost__"), path)
    assert got == value and type(got) is type(value)


def test_defaults_tables_cover_every_field(minimal):
    vhost = minimal.vhost("x")
    covered = {p.split(".")[0] for p, _ in VHOST_DEFAULTS}
    assert covered == set(VhostConfig.__slots__)
    for name in ("security", "hls", "hds", "dvr", "http_hooks", "exec", "dash", "http_static", "http_remux",
                 "bandcheck"):
        sub = getattr(vhost, name)
        assert {p.split(".")[1] for p, _ in VHOST_DEFAULTS if p.startswith(name + ".")} == set(sub.__slots__)
    glob = {p.split(".")[0] for p, _ in GLOBAL_DEFAULTS} | {"file", "root", "vhosts"}
    assert glob == set(type(minimal).__slots__)


@pytest.mark.parametrize("path,value", ENGINE_DEFAULTS, ids=[p for p, _ in ENGINE_DEFAULTS])
def test_engine_defaults(path, value):
    c = Config.parse_text("listen 1935;\nvhost v { transcode { engine {} } ingest i { engine {} } }")
    v = c.vhost("v")
    assert getattr(v.transcodes[0].engines[0], path) == value
    assert getattr(v.ingests[0].engines[0], path) == value
    t, i = v.transcodes[0], v.ingests[0]
    assert (t.scope, t.enabled, t.ffmpeg) == ("", False, "")
    assert (i.id, i.enabled, i.input_type, i.input_url, i.ffmpeg) == ("i", False, "file", "", "")


@pytest.mark.parametrize("text,path,value", [
    # default-on options: anything but "off" keeps them on
    ("gop_cache off;", "gop_cache", False), ("gop_cache on;", "gop_cache", True),
    ("gop_cache yes;", "gop_cache", True), ("gop_cache;", "gop_cache", True),
    # default-off options: only "on" enables them
    ("tcp_nodelay on;", "tcp_nodelay", True), ("tcp_nodelay yes;", "tcp_nodelay", False),
    ("tcp_nodelay;", "tcp_nodelay", False),
    ("enabled off;", "enabled", False),
    ("chunk_size 4096;", "chunk_size", 4096),
    ("play { mw_latency 100; queue_length 2.5; send_min_interval 10; }", "mw_latency", 100),
    ("play { queue_length 2.5; }", "queue_length", 2.5),
    ("play { time_jitter zero; }", "time_jitter", "zero"),
    ("cluster { mode remote; origin 1.1.1.1 [::1]:1936 h:19350; }", "origin",
     (("1.1.1.1", 1935), ("::1", 1936), ("h", 19350))),
    ("cluster { mode remote; }", "is_edge", True),
    ("cluster { coworkers a:9091 b:9092; origin_cluster on; }", "coworkers", ("a:9091", "b:9092")),
    ("forward { enabled off; destination a:1; }", "forward_destinations", ()),
    ("forward { enabled on; destination a:1 b; }", "forward_destinations", (("a", 1), ("b", 1935))),
    ("refer { enabled off; all a.com; }", "refer", None),
    ("security { enabled on; allow play all; deny publish 10.0.0.0/8; }", "security.rules",
     (("allow", "play", "all"), ("deny", "publish", "10.0.0.0/8"))),
    ("hls { enabled on; hls_fragment 2; hls_path /x; }", "hls.hls_key_file_path", "/x"),
    ("hls { hls_fragment 2.5; }", "hls.hls_fragment", 2.5),
    ("dvr { dvr_apply live/a live/b; }", "dvr.apply", ("live/a", "live/b")),
    ("http_hooks { enabled on; on_publish http://a http://b; }", "http_hooks.on_publish", ("http://a", "http://b")),
    ("exec { enabled on; publish ffmpeg -i [url] -y x.flv; publish echo; }", "exec.publish",
     (("ffmpeg", "-i", "[url]", "-y", "x.flv"), ("echo",))),
    ("transcode live { enabled on; engine e { vfilter { i logo.png; filter_complex 'overlay=1:1'; } } }",
     "transcodes", None),
])
def test_vhost_values(text, path, value):
    v = Config.parse_text("listen 1935;\nvhost v {\n" + text + "\n}\n").vhost("v")
    if path == "transcodes":
        t = v.transcodes[0]
        assert t.scope == "live" and t.enabled and t.engines[0].name == "e"
        assert t.engines[0].vfilter == (("i", "logo.png"), ("filter_complex", "overlay=1:1"))
        return
    assert dotted(v, path) == value


def test_refer_lists():
    v = Config.parse_text("listen 1935;\nvhost v { refer { enabled on; all a.com; play b.com; } }").vhost("v")
    assert (v.refer.all, v.refer.publish, v.refer.play) == (("a.com",), (), ("b.com",))


def test_globals_values():
    c = Config.parse_text("""listen 127.0.0.1:1935 [::]:1936 19350; chunk_size 4096; daemon off; pid x.pid;
        srs_log_tank console; srs_log_level warn; max_connections 5; utc_time on; pithy_print_ms 1000;
        grace_start_wait 10; grace_final_wait 20; force_grace_quit on; reuseport on;
        http_api { enabled on; listen 127.0.0.1:1985; crossdomain off; raw_api { enabled on; allow_reload on; } }
        http_server { enabled on; listen 8081; dir ./www; crossdomain off; }
        heartbeat { enabled on; interval 3; device_id d; summaries on; url http://x/; }
        stats { network 1; disk sda sdb; }
        stream_caster { enabled on; caster rtsp; output rtmp://h/[app]/[stream]; listen 554;
                        rtp_port_min 100; rtp_port_max 200; }
        vhost v { } vhost w { chunk_size 128; }""")
    assert c.listen == (("127.0.0.1", 1935), ("::", 1936), ("0.0.0.0", 19350))
    assert (c.chunk_size, c.daemon, c.pid, c.srs_log_tank, c.srs_log_level) == (4096, False, "x.pid", "console", "warn")
    assert (c.max_connections, c.utc_time, c.pithy_print_ms) == (5, True, 1000)
    assert (c.grace_start_wait, c.grace_final_wait, c.force_grace_quit, c.reuseport) == (10, 20, True, True)
    assert c.http_api.listen == ("127.0.0.1", 1985) and not c.http_api.crossdomain
    assert c.http_api.raw_api.enabled and c.http_api.raw_api.allow_reload and not c.http_api.raw_api.allow_query
    assert c.http_server.listen == ("0.0.0.0", 8081) and c.http_server.dir == "./www"
    assert (c.heartbeat.enabled, c.heartbeat.interval, c.heartbeat.device_id, c.heartbeat.url) == \
        (True, 3.0, "d", "http://x/")
    assert c.stats.network == 1 and c.stats.disk == ("sda", "sdb")
    sc = c.stream_casters[0]
    assert (sc.enabled, sc.caster, sc.output, sc.listen, sc.rtp_port_min, sc.rtp_port_max) == \
        (True, "rtsp", "rtmp://h/[app]/[stream]", ("0.0.0.0", 554), 100, 200)
    # vhost chunk_size falls back to the global one
    assert c.vhost("v").chunk_size == 4096 and c.vhost("w").chunk_size == 128


def test_vhost_lookup_and_fallback():
    c = Config.parse_text("listen 1935;\nvhost a.com {}\nvhost off.com { enabled off; }\nvhost __defaultVhost__ {}")
    assert c.vhost("a.com").name == "a.com"
    assert c.vhost("b.com").name == "__defaultVhost__"
    assert c.vhost("off.com").name == "off.com" and not c.vhost("off.com").enabled
    assert c.vhost_names() == ("a.com", "off.com", "__defaultVhost__")
    assert [v.name for v in c.vhosts] == list(c.vhost_names())
    c2 = Config.parse_text("listen 1935;\nvhost a.com {}")
    assert c2.vhost("b.com") is None and c2.vhost("a.com") is not None
    assert Config.parse_text("listen 1935;").vhost("x") is None


def test_views_are_read_only(minimal):
    v = minimal.vhost("x")
    with pytest.raises(AttributeError):
        v.gop_cache = False
    with pytest.raises(AttributeError):
        v.hls.enabled = True
    with pytest.raises(AttributeError):
        minimal.listen = ()
    with pytest.raises(AttributeError):
        v.new_field = 1
    with pytest.raises(AttributeError):
        del v.name
    assert isinstance(minimal.vhosts, tuple) and isinstance(v.hls.hls_fragment, float)


def test_views_compare_by_value():
    a = Config.parse_text(MINIMAL).vhost("x")
    b = Config.parse_text("listen 1936;\n# other\nvhost __defaultVhost__ {\n}\n").vhost("x")
    assert a == b and not (a != b)
    c = Config.parse_text("listen 1935;\nvhost __defaultVhost__ { hls { enabled on; } }").vhost("x")
    assert a != c and a.hls != c.hls and a.dvr == c.dvr
    assert a.as_dict()["hls"]["hls_fragment"] == 10.0


def test_dumps_reparses_to_same_view(tmp_path):
    import pathlib
    full = pathlib.Path(__file__).resolve().parents[3] / "conf" / "full.conf"
    c = Config.load(str(full))
    again = Config.parse_text(c.dumps())
    assert again.vhosts == c.vhosts and again.http_api == c.http_api and again.listen == c.listen


def test_forward_backend_rides_on_the_destinations():
    """SRS 5's forward { backend }: an attribute of the destinations, compared with them (reload)."""
    def dests(body):
        return Config.parse_text("listen 1935;\nvhost v { %s }" % body).vhost("v").forward_destinations
    on = dests("forward { enabled on; backend http://b/f; }")
    assert tuple(on) == () and on.backend == "http://b/f"
    assert on != dests("forward { enabled on; }") and dests("forward { enabled off; backend http://b/f; }") == ()
    assert dests("forward { enabled on; destination a:1; }") == (("a", 1),)
