"""HLS hub output on a failing disk: hls_on_error continue (recovers when the path comes back),
ignore (off until the next publish), disconnect (kicks the publisher), and a full disk.

Recording never raises into the publisher; the playlist only ever lists whole, decodable segments.
"""
from __future__ import annotations

import os

import pytest

from fixtures.hls_output import CID, conf, decode_ts, files, new_source, parse_m3u8, publish, ts_paths
from fixtures.hub_host import VHOST, hls_host, looped
from srs.app.config.conf import Config


def test_unwritable_path_continue_recovers(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = hls_host(conf(blocker / "hls"), str(tmp_path))
    out = publish(host, looped(av_msgs, 2))  # never raises
    assert out.errors > 0 and out.segments == [] and out.seq == 0

    root = tmp_path / "hls"
    host = hls_host(conf(root), str(tmp_path))
    msgs = looped(av_msgs, 4)
    src = new_source()
    out = host.hls.output_for(src, VHOST)
    out.on_publish(src)
    live = root / "live"
    state = "ok"
    for m in msgs:
        if state == "ok" and m.ts_ms >= 4500:        # the disk goes away
            state = "gone"
            live.rename(root / "live.bak")
            live.write_bytes(b"not a dir")
        elif state == "gone" and m.ts_ms >= 9500:    # and comes back
            state = "back"
            live.unlink()
            (root / "live.bak").rename(live)
        out.on_message(m)
    out.on_unpublish(src)
    assert out.active is False and out.errors > 0
    _, entries = parse_m3u8(live / "livestream.m3u8")
    assert [e["uri"] for e in entries] == ["livestream-%d.ts" % s.seq for s in out.segments]
    assert [s.seq for s in out.segments] == list(range(len(out.segments)))
    assert len(out.segments) >= 5
    for p in ts_paths(out):
        assert os.path.exists(p) and decode_ts(p)["first_key"] is True
    assert files(tmp_path, ".tmp") == []


def test_unwritable_path_ignore_disables_until_republish(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = hls_host(conf(blocker / "hls", "hls_on_error ignore;"), str(tmp_path))
    src = new_source()
    out = host.hls.output_for(src, VHOST)
    out.on_publish(src)
    assert out.active is False and out.errors == 1  # the m3u8 dir cannot be made
    for m in av_msgs:
        out.on_message(m)
    assert out.errors == 1
    out.on_unpublish(src)
    host.config = Config.parse_text(f"listen 1935; vhost {VHOST} {{ hls {{ {conf(tmp_path / 'ok')} }} }}")
    out = publish(host, av_msgs, source=src)
    assert out.active is False and len(out.segments) == 2


def test_disconnect_kicks_the_publisher(tmp_path, av_msgs):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = hls_host(conf(blocker / "hls", "hls_on_error disconnect;"), str(tmp_path))

    class Conn:  # a PublisherConnection (app.ports), as the server's connection table holds it
        ip = "10.1.2.3"
        req = None

        def __init__(self):
            self.kicks = 0

        def kick(self):
            self.kicks += 1
    conn = host.connections[CID] = Conn()
    out = publish(host, av_msgs)
    assert conn.kicks == 1 and out.active is False
    # a publisher already gone from the table: HLS stops, nothing to kick, nothing raised
    host2 = hls_host(conf(blocker / "hls2", "hls_on_error disconnect;"), str(tmp_path))
    out2 = publish(host2, av_msgs, source=new_source(CID + 5))
    assert out2.active is False and conn.kicks == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_full_disk_drops_the_segment_and_goes_on(tmp_path, av_msgs):
    live = tmp_path / "live"
    live.mkdir()
    (live / "livestream-1.ts.tmp").symlink_to("/dev/full")  # writes to it fail with ENOSPC
    host = hls_host(conf(tmp_path), str(tmp_path))
    out = publish(host, looped(av_msgs, 3))
    assert out.errors > 0
    assert [s.seq for s in out.segments] == list(range(len(out.segments)))  # the number is reused
    assert len(out.segments) >= 4
    _, entries = parse_m3u8(live / "livestream.m3u8")
    assert [e["uri"] for e in entries] == [os.path.basename(s.path) for s in out.segments]
    for p in ts_paths(out):
        assert os.path.isfile(p) and not os.path.islink(p) and decode_ts(p)["first_key"] is True
    assert files(tmp_path, ".tmp") == []
