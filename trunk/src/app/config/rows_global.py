"""The table's top-level rows: process, logs, listeners, HTTP API/server, heartbeat, stats, casters.

Order is the view's field order (Config). Reload events name themselves after the directive (SRS's
on_reload_listen, on_reload_pid...); config/reload.py fires them in SRS's order.
"""
from __future__ import annotations

from srs.app.config.row import (CHUNK, COUNT, ENDPOINT, FLAG, HOST_ANY, ON_USE, PERIOD, PORT_OR_0, POSITIVE,
                                RESTART, STR, STRS, Choice, block, Row)
from srs.core.performance import CHUNK_SIZE

DEFAULT_HTML_DIR = "./objs/nginx/html"  # SRS's default for every served/written folder

GLOBAL_ROWS = (
    Row("listen", STRS, ((HOST_ANY, 1935),), custom=True, reload="listen"),  # required; endpoints parsed
    Row("pid", STR, "./objs/srs.pid", reload="pid"),
    # SRS 4/5: the identity in the API, hooks and exporter; empty: the one kept in <pid>.id (api/statistic.py)
    Row("server_id", STR, "", reload=RESTART),
    # also each vhost's default; SRS 5 reads SRS_VHOST_CHUNK_SIZE for both (its full.conf says SRS_CHUNK_SIZE)
    Row("chunk_size", CHUNK, CHUNK_SIZE, env=("SRS_VHOST_CHUNK_SIZE", "SRS_CHUNK_SIZE")),
    Row("ff_log_dir", STR, "./objs"),
    Row("ff_log_level", Choice("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace"),
        "info"),
    Row("srs_log_tank", Choice("file", "console"), "file", reload="srs_log_tank",
        env=("SRS_SRS_LOG_TANK", "SRS_LOG_TANK")),
    Row("srs_log_level", Choice("verbose", "info", "trace", "warn", "error"), "trace", reload="srs_log_level",
        env=("SRS_SRS_LOG_LEVEL", "SRS_LOG_LEVEL")),
    Row("srs_log_file", STR, "./objs/srs.log", reload="srs_log_file",
        env=("SRS_SRS_LOG_FILE", "SRS_LOG_FILE")),
    Row("max_connections", POSITIVE, 1000, reload="max_connections"),
    Row("daemon", FLAG, True, reload=RESTART),
    Row("work_dir", STR, "./", reload=RESTART),
    Row("asprocess", FLAG, False, reload=RESTART),
    Row("utc_time", FLAG, False, reload="utc_time"),
    Row("pithy_print_ms", COUNT, 10000, reload="pithy_print_ms"),
    Row("empty_ip_ok", FLAG, True),
    Row("grace_start_wait", COUNT, 2300),
    Row("grace_final_wait", COUNT, 3200),
    Row("force_grace_quit", FLAG, False),
    Row("disable_daemon_for_docker", FLAG, True),
    Row("inotify_auto_reload", FLAG, False),
    Row("auto_reload_for_docker", FLAG, True),
    Row("reuseport", FLAG, False),

    block("http_api", reload="http_api"),
    Row("http_api.enabled", FLAG, False),
    Row("http_api.listen", ENDPOINT, (HOST_ANY, 1985)),
    Row("http_api.crossdomain", FLAG, True),
    block("http_api.raw_api"),
    Row("http_api.raw_api.enabled", FLAG, False),
    Row("http_api.raw_api.allow_reload", FLAG, False),
    Row("http_api.raw_api.allow_query", FLAG, False),
    Row("http_api.raw_api.allow_update", FLAG, False),
    # SRS 5: HTTP Basic auth for the API (api/routes.py checks it on every route but /metrics)
    block("http_api.auth"),
    Row("http_api.auth.enabled", FLAG, False),
    Row("http_api.auth.username", STR, ""),
    Row("http_api.auth.password", STR, ""),
    # SRS 4: the API over TLS on its own port (http/entry.py); SRS's defaults, its demo key pair
    block("http_api.https"),
    Row("http_api.https.enabled", FLAG, False),
    Row("http_api.https.listen", ENDPOINT, (HOST_ANY, 1990)),
    Row("http_api.https.key", STR, "./conf/server.key"),
    Row("http_api.https.cert", STR, "./conf/server.crt"),

    block("http_server", reload="http_server", alias="http_stream"),
    Row("http_server.enabled", FLAG, False),
    Row("http_server.listen", ENDPOINT, (HOST_ANY, 8080)),
    Row("http_server.dir", STR, DEFAULT_HTML_DIR),
    Row("http_server.crossdomain", FLAG, True),
    # SRS 4: the same streams, HLS and files over TLS (http/entry.py)
    block("http_server.https"),
    Row("http_server.https.enabled", FLAG, False),
    Row("http_server.https.listen", ENDPOINT, (HOST_ANY, 8088)),
    Row("http_server.https.key", STR, "./conf/server.key"),
    Row("http_server.https.cert", STR, "./conf/server.crt"),

    # RTMPS: no SRS release has it; the name and default port are those of SRS's PR #3949
    # (``rtmps { enabled; listen 1943; key; cert; }``), so a conf written for it keeps working.
    block("rtmps", reload="rtmps"),
    Row("rtmps.enabled", FLAG, False),
    Row("rtmps.listen", ENDPOINT, (HOST_ANY, 1943)),
    Row("rtmps.key", STR, "./conf/server.key"),
    Row("rtmps.cert", STR, "./conf/server.crt"),

    block("heartbeat", reload="heartbeat"),
    Row("heartbeat.enabled", FLAG, False),
    Row("heartbeat.interval", PERIOD, 9.9),
    Row("heartbeat.url", STR, "http://127.0.0.1:8085/api/v1/servers"),
    Row("heartbeat.device_id", STR, ""),
    Row("heartbeat.summaries", FLAG, False),

    # SRS 5's Prometheus exporter on its own port (app/api/exporter.py); label and tag go into srs_build_info
    block("exporter", reload=RESTART),
    Row("exporter.enabled", FLAG, False),
    Row("exporter.listen", ENDPOINT, (HOST_ANY, 9972)),
    Row("exporter.label", STR, ""),
    Row("exporter.tag", STR, ""),

    block("stats", reload=ON_USE, env=False),
    Row("stats.network", COUNT, 0),
    Row("stats.disk", STRS, ()),

    block("stream_caster", field="stream_casters", many=True, reload="stream_caster", env=False),
    Row("stream_caster.enabled", FLAG, False),
    # SRS 5's gb28181 is accepted with a warning (schema: not implemented; app/casters skips it)
    Row("stream_caster.caster", Choice("mpegts_over_udp", "rtsp", "flv", "gb28181"), ""),
    Row("stream_caster.output", STR, ""),
    Row("stream_caster.listen", ENDPOINT, (HOST_ANY, 0)),
    Row("stream_caster.rtp_port_min", PORT_OR_0, 0),  # 0: the default range
    Row("stream_caster.rtp_port_max", PORT_OR_0, 0),
)
