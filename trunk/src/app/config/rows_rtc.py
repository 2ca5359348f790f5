"""The table's WebRTC rows: ``rtc_server {}`` (the UDP media port, SRS 4/5) and ``vhost { rtc {} }``.

Defaults are SRS 5's (srs_app_config.cpp get_rtc_*): listen 8000, candidate ``*``, ECDSA certificate,
SRTP on; per vhost nack/twcc on, stun_timeout 30 s, DTLS passive, the RTMP bridges off, Opus/AAC at
48 kbps, a PLI to an RTC publisher every 6 s when bridged to RTMP. ``candidate $NAME`` reads the env
variable NAME when the answer is made (app/rtc/server.py; unset -> ``*``, as SRS). The env forms come
from the paths (SRS_RTC_SERVER_CANDIDATE, SRS_VHOST_RTC_RTMP_TO_RTC). A reload of rtc_server listens
again (app/rtc/server.py on_reload); the vhost's rtc block is read at each session.
What this server does not do (WebRTC over TCP, black_hole, merged NALUs) stays in rows_unimplemented.
"""
from __future__ import annotations

from srs.app.config.row import COUNT, ENDPOINT, FLAG, HOST_ANY, ON_USE, STR, Choice, Number, Row, block

from srs.app.config.rows_unimplemented import NOT_IMPLEMENTED

RTC_ROWS = (
    block("rtc_server", reload="rtc_server"),
    Row("rtc_server.enabled", FLAG, False),
    Row("rtc_server.listen", ENDPOINT, (HOST_ANY, 8000)),
    Row("rtc_server.candidate", STR, "*"),
    Row("rtc_server.protocol", Choice("udp", "tcp", "all"), "udp"),
    Row("rtc_server.ip_family", Choice("ipv4", "ipv6", "all"), "ipv4"),
    Row("rtc_server.api_as_candidates", FLAG, True),
    Row("rtc_server.resolve_api_domain", FLAG, True),
    Row("rtc_server.keep_api_domain", FLAG, False),
    Row("rtc_server.use_auto_detect_network_ip", FLAG, True),
    Row("rtc_server.ecdsa", FLAG, True),
    Row("rtc_server.encrypt", FLAG, True),
    Row("rtc_server.dir", STR, ignored="unused since SRS 4"),
    Row("rtc_server.reuseport", STR, ignored=NOT_IMPLEMENTED),
    Row("rtc_server.merge_nalus", STR, ignored=NOT_IMPLEMENTED),
    Row("rtc_server.sendmmsg", STR, ignored="unused since SRS 4"),
    Row("rtc_server.perf_stat", STR, ignored="unused since SRS 4"),
    Row("rtc_server.queue_length", STR, ignored="unused since SRS 4"),

    block("vhost.rtc", reload=ON_USE),
    Row("vhost.rtc.enabled", FLAG, False),
    Row("vhost.rtc.nack", FLAG, True),
    Row("vhost.rtc.nack_no_copy", FLAG, True),
    Row("vhost.rtc.twcc", FLAG, True),
    Row("vhost.rtc.stun_timeout", Number(False, 1, 3600.0), 30.0),
    Row("vhost.rtc.stun_strict_check", FLAG, False),
    Row("vhost.rtc.dtls_role", Choice("passive", "active"), "passive"),
    Row("vhost.rtc.dtls_version", Choice("auto", "dtls1.0", "dtls1.2"), "auto"),
    Row("vhost.rtc.drop_for_pt", COUNT, 0),
    Row("vhost.rtc.rtmp_to_rtc", FLAG, False),
    Row("vhost.rtc.keep_bframe", FLAG, False),
    Row("vhost.rtc.keep_avc_nalu_sei", FLAG, True),
    Row("vhost.rtc.opus_bitrate", Number(True, 8000, 320000), 48000),
    Row("vhost.rtc.rtc_to_rtmp", FLAG, False),
    Row("vhost.rtc.pli_for_rtmp", Number(False, 0.5, 30.0), 6.0),
    Row("vhost.rtc.aac_bitrate", Number(True, 8000, 320000), 48000),
    Row("vhost.rtc.bframe", STR, ignored="SRS 4.0's spelling; use keep_bframe"),
    Row("vhost.rtc.aac", STR, ignored="SRS 4.0's spelling; use rtmp_to_rtc"),
)
