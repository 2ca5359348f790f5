"""Small pure helpers for time values; core reads no clock, callers pass the time in."""


def ms_to_s(ms: float) -> float:
    return ms / 1000.0


def format_log_time(now_s: float, utc: bool) -> str:
    """'YYYY-MM-DD HH:MM:SS.mmm' as SRS writes it in every log line."""
    import time as _time  # formatting only; the instant comes from the caller

    tm = _time.gmtime(now_s) if utc else _time.localtime(now_s)
    return "%04d-%02d-%02d %02d:%02d:%02d.%03d" % (
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(now_s * 1000) % 1000)
