"""The table's rows for SRS 4/5/6 directives this server does not implement (yet): accepted, warned.

Every directive of SRS 4.0/5.0/6.0's check_normal_config whitelist and shipped conf files is a row
(so their conf files pass ``-t`` and start), but what a row here names does nothing: the checker
warns once per directive "directive X is not implemented and ignored" (schema.check), never
silently. A block here (``rtc_server``, ``vhost.rtc``...) warns once for the whole block: its rows
are listed so that a misspelt name inside it is still refused, as SRS refuses it.

When a feature lands, its rows move to rows_global.py / rows_vhost.py with a kind, a default and a
view field (and leave this file). The leaves here take any arguments (STRS): SRS's own values
(``candidate $CANDIDATE;``, ``listen 8000;``) are accepted whatever they are, since nothing reads them.

Order: after the implemented rows (a row's block must be declared above it, table.CHILDREN).
"""
from __future__ import annotations

from typing import Tuple

from srs.app.config.row import STRS, Row, block

NOT_IMPLEMENTED = "not implemented"
UNIMPLEMENTED_CASTERS = ("gb28181",)  # values of stream_caster.caster accepted with a warning


def _leaves(parent: str, *names: str) -> Tuple[Row, ...]:
    return tuple(Row(parent + "." + name if parent else name, STRS, ignored=NOT_IMPLEMENTED) for name in names)


def _block(path: str, *names: str, args: Tuple[int, int] = (0, 0), many: bool = False) -> Tuple[Row, ...]:
    return (block(path, ignored=NOT_IMPLEMENTED, args=args, many=many),) + _leaves(path, *names)


UNIMPLEMENTED_ROWS: Tuple[Row, ...] = (
    # --- top level (SRS 4/5/6 check_normal_config)
    *_leaves("", "srs_log_level_v2", "tcmalloc_release_rate", "query_latest_version",
             "first_wait_for_qlv", "is_full", "in_docker"),
    *_block("threads", "interval"),
    *_block("circuit_breaker", "enabled", "high_threshold", "high_pulse", "critical_threshold", "critical_pulse",
            "dying_threshold", "dying_pulse"),
    *_block("tencentcloud_apm", "enabled", "team", "token", "endpoint", "service_name", "debug_logging"),
    *_block("tencentcloud_cls", "enabled", "label", "tag", "secret_id", "secret_key", "endpoint", "topic_id",
            "stat_heartbeat", "stat_streams", "debug_logging", "heartbeat_ratio", "streams_ratio"),
    *_leaves("heartbeat", "ports"),
    *_leaves("stats", "enabled"),
    # WebRTC over TCP and the debug black hole (rtc_server itself: rows_rtc.py)
    block("rtc_server.tcp", ignored=NOT_IMPLEMENTED),
    *_leaves("rtc_server.tcp", "enabled", "listen"),
    block("rtc_server.black_hole", ignored=NOT_IMPLEMENTED),
    *_leaves("rtc_server.black_hole", "enabled", "addr", "publisher"),
    # GB28181 (SRS 4's and 5's stream_caster gb28181 and its sip block)
    *_leaves("stream_caster", "host", "tcp_enable", "rtp_idle_timeout", "audio_enable", "wait_keyframe",
             "jitterbuffer_enable", "auto_create_channel"),
    *_block("stream_caster.sip", "enabled", "listen", "timeout", "reinvite", "candidate", "ack_timeout",
            "keepalive_timeout", "host", "serial", "realm", "auto_play", "invite_port_fixed", "query_catalog_interval"),

    # --- vhost
    *_leaves("vhost.play", "mw_msgs"),
    *_leaves("vhost.cluster", "protocol", "follow_client"),
    *_leaves("vhost.publish", "try_annexb_first"),
)
