"""SRS's path templates (srs_path_build_stream, srs_path_build_timestamp): the ``[vhost]``,
``[app]``, ``[stream]`` and ``[2006]``-style date variables of hls_m3u8_file, hls_ts_file,
hls_key_file and dvr_path.

Pure: the instant comes in as ``now_ms``; core.timeutil turns it into calendar fields.
"""
from __future__ import annotations

from srs.core.timeutil import calendar_fields


def build_stream(template: str, vhost: str, app: str, stream: str) -> str:
    """``[vhost] [app] [stream]`` (srs_path_build_stream)."""
    return template.replace("[vhost]", vhost).replace("[app]", app).replace("[stream]", stream)


def build_timestamp(template: str, now_ms: int, utc: bool = False) -> str:
    """``[2006] [01] [02] [15] [04] [05] [999] [timestamp]`` from ``now_ms`` (srs_path_build_timestamp)."""
    if "[" not in template:
        return template
    tm = calendar_fields(now_ms / 1000.0, utc)
    for var, value in (("[2006]", "%04d" % tm.tm_year), ("[01]", "%02d" % tm.tm_mon),
                       ("[02]", "%02d" % tm.tm_mday), ("[15]", "%02d" % tm.tm_hour),
                       ("[04]", "%02d" % tm.tm_min), ("[05]", "%02d" % tm.tm_sec),
                       ("[999]", "%03d" % (now_ms % 1000)), ("[timestamp]", "%d" % now_ms)):
        template = template.replace(var, value)
    return template
