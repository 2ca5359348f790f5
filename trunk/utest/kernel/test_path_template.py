"""kernel/path_template: SRS's [vhost]/[app]/[stream] and [2006]-style date variables."""
from __future__ import annotations

import time

from srs.kernel.path_template import build_stream, build_timestamp


def test_build_stream_and_timestamp():
    assert build_stream("[vhost]/[app]/[stream].m3u8", "v", "live", "s") == "v/live/s.m3u8"
    assert build_timestamp("[2006]-[01]-[02] [15]:[04]:[05].[999]", 86_400_123, utc=True) == "1970-01-02 00:00:00.123"
    assert build_timestamp("[timestamp]-[seq].ts", 1_700_000_000_042, utc=True) == "1700000000042-[seq].ts"
    assert build_timestamp("plain.ts", 123, utc=False) == "plain.ts"


def test_local_time_by_default():
    now_ms = 1_709_622_489_042
    local = time.strftime("%Y/%m/%d/%H.%M.%S", time.localtime(now_ms // 1000))
    assert build_timestamp("[2006]/[01]/[02]/[15].[04].[05].[999]", now_ms) == local + ".042"
