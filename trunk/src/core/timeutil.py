"""Small pure helpers for time values; core reads no clock, callers pass the time in.

The one module of core/kernel/protocol that imports ``time``: only to turn an instant it is given
into calendar fields (``gmtime``/``localtime`` with an argument), because the stdlib has no other
way to apply the local time zone. utest/test_layering.py holds it to that.
"""
import time


def ms_to_s(ms: float) -> float:
    return ms / 1000.0


def calendar_fields(now_s: float, utc: bool) -> time.struct_time:
    """Year, month, day, hour, minute, second of ``now_s`` (UTC, or the local time zone as SRS)."""
    return time.gmtime(now_s) if utc else time.localtime(now_s)


_last_second = [None, ""]  # (whole second, utc), its 'YYYY-MM-DD HH:MM:SS': lines come in bursts


def format_log_time(now_s: float, utc: bool) -> str:
    """'YYYY-MM-DD HH:MM:SS.mmm' as SRS writes it in every log line."""
    second = (int(now_s), utc)
    if _last_second[0] != second:
        tm = calendar_fields(now_s, utc)
        _last_second[:] = [second, "%04d-%02d-%02d %02d:%02d:%02d" % (
            tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)]
    return "%s.%03d" % (_last_second[1], int(now_s * 1000) % 1000)
