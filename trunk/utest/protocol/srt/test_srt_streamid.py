"""SRS's SRT stream id grammar (reference srs-4-5.md section 4.1), as a table."""
from __future__ import annotations

import pytest

from srs.protocol.srt.streamid import MODE_PLAY, MODE_PUBLISH, StreamId, StreamIdError, parse_streamid

TABLE = [
    ("", StreamId("", "live", "livestream", MODE_PUBLISH)),
    ("#!::r=live/livestream,m=publish", StreamId("", "live", "livestream", MODE_PUBLISH)),
    ("#!::r=live/livestream,m=request", StreamId("", "live", "livestream", MODE_PLAY)),
    ("#!::r=live/livestream", StreamId("", "live", "livestream", MODE_PLAY)),
    ("#!::h=live/livestream,m=request", StreamId("", "live", "livestream", MODE_PLAY)),
    ("#!::h=srs.srt.com.cn/live/livestream,m=publish",
     StreamId("srs.srt.com.cn", "live", "livestream", MODE_PUBLISH, "vhost=srs.srt.com.cn")),
    ("#!::h=host.com,r=app/stream,secret=xxx,m=publish",
     StreamId("host.com", "app", "stream", MODE_PUBLISH, "vhost=host.com&secret=xxx")),
    ("#!::h=live/livestream?secret=xxx,m=publish",
     StreamId("", "live", "livestream", MODE_PUBLISH, "secret=xxx")),
    ("#!::r=live/livestream;m=publish&a=1", StreamId("", "live", "livestream", MODE_PUBLISH, "a=1")),
    ("#!::r=livestream,m=publish", StreamId("", "live", "livestream", MODE_PUBLISH)),
    ("livestream", StreamId("", "live", "livestream", MODE_PLAY)),
    ("live/livestream", StreamId("", "live", "livestream", MODE_PLAY)),
    ("live/livestream?m=publish", StreamId("", "live", "livestream", MODE_PUBLISH)),
    ("app/s?m=request&token=t", StreamId("", "app", "s", MODE_PLAY, "token=t")),
]


@pytest.mark.parametrize("sid,expected", TABLE, ids=[t[0] or "empty" for t in TABLE])
def test_streamid_table(sid, expected):
    assert parse_streamid(sid) == expected


def test_default_app_applies_to_bare_names():
    assert parse_streamid("cam1", default_app="srt").app == "srt"
    assert parse_streamid("#!::r=cam1,m=publish", default_app="srt").app == "srt"


@pytest.mark.parametrize("sid", ["#!::m=publish", "#!::r=live/s,m=push", "#!::", "live/s?m=bad"])
def test_unroutable_streamids_refused(sid):
    with pytest.raises(StreamIdError):
        parse_streamid(sid)
