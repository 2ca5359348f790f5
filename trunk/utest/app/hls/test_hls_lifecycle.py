"""HLS life cycle: on_hls/on_hls_notify hooks from a real server, hls_dispose (idle timer and stop),
the hub factory on a SourceRegistry, and reload attaching, restarting and detaching the output.
"""
from __future__ import annotations

import re
import time

import gevent

from fixtures.hls_output import CID, cc_check, conf, decode_ts, files, new_source, publish, ts_paths
from fixtures.hub_host import T0, URL, VHOST, hls_host, looped
from fixtures.srs_server import SrsProcess, publish_flv
from srs.app.config.conf import Config
from srs.app.hls.muxer import HlsStream
from srs.app.live.source import SourceOptions, SourceRegistry


def test_on_hls_and_notify_hooks(tmp_path, media_flv, hook_srv):
    """on_hls after every segment and on_hls_notify GETs, from a real server process to the real receiver.
    (The hooks worker runs in the server process; this test only reads what the receiver got.)"""
    hook_srv.clear()
    body = (f"hls {{ enabled on; hls_fragment 2; hls_window 60; hls_path {tmp_path}/html; }}\n"
            f"http_hooks {{ enabled on; on_hls {hook_srv.url('/api/v1/hls')}; "
            f"on_hls_notify {hook_srv.url('/api/v1/hls/[app]/[stream]/[ts_url]')}; }}")
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"), realtime=True, speed=4.0, loops=2)
        m3u8_path = tmp_path / "html" / "live" / "livestream.m3u8"
        deadline = time.monotonic() + 30
        while True:
            seqs = [int(n) for n in re.findall(r"livestream-(\d+)\.ts", m3u8_path.read_text())]
            got = hook_srv.received()
            on_hls = [r["body"] for r in got if r["body"].get("action") == "on_hls"]
            notify = [r for r in got if r["body"].get("action") == "on_hls_notify"]
            # one consistent view: the playlist and the hooks name the same segments (the unpublish may
            # close one more segment between the two reads; the next round then sees it in both)
            if (seqs and [b["seq_no"] for b in on_hls] == seqs and len(notify) == len(seqs)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert [b["seq_no"] for b in on_hls] == seqs, (on_hls, seqs)
    first = on_hls[0]
    assert first["vhost"] == "__defaultVhost__" and first["app"] == "live" and first["stream"] == "livestream"
    assert isinstance(first["client_id"], str) and 1.5 <= first["duration"] <= 2.5
    assert first["file"] == f"{tmp_path}/html/live/livestream-{seqs[0]}.ts" and first["cwd"] == str(tmp_path)
    assert first["m3u8"] == f"{tmp_path}/html/live/livestream.m3u8" and first["m3u8_url"] == "live/livestream.m3u8"
    assert first["url"] == f"live/livestream-{seqs[0]}.ts"
    assert [r["body"]["path"] for r in notify] == ["/live/livestream/livestream-%d.ts" % n for n in seqs]


def test_dispose_after_idle_and_at_stop(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path, "hls_dispose 2;"), str(tmp_path))
    out = publish(host, av_msgs)
    manager = host.hls
    assert files(tmp_path, ".ts") and (tmp_path / "live" / "livestream.m3u8").exists()
    manager.check_dispose(T0 + 1500)
    assert files(tmp_path, ".ts")
    manager.check_dispose(T0 + 2500)
    assert files(tmp_path, ".ts") == [] and not (tmp_path / "live" / "livestream.m3u8").exists()
    assert out.segments == []
    manager.stop()

    # The timer greenlet, on the wall clock; and hls_dispose 0 keeps the files at stop.
    root = tmp_path / "timer"
    host = hls_host(conf(root, "hls_dispose 0.2;"), str(tmp_path))
    host.clock = None
    out = publish(host, av_msgs)
    assert files(root, ".ts")
    deadline = time.monotonic() + 10  # the timer greenlet runs while this one yields
    while files(root, ".ts") and time.monotonic() < deadline:
        gevent.sleep(0.05)
    assert files(root, ".ts") == []
    host.hls.stop()
    assert host.hls.timer is None

    keep = tmp_path / "keep"
    host = hls_host(conf(keep), str(tmp_path))
    out = publish(host, av_msgs, unpublish=False)
    host.hls.stop()  # closes the open segment, keeps the files (no hls_dispose)
    assert not out.active and len(files(keep, ".ts")) == len(out.segments) == 2


def test_factory_and_registry_wiring(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path), str(tmp_path))
    off = hls_host("enabled off;", str(tmp_path))
    assert off.hls.output_for(new_source(), VHOST) is None

    registry = SourceRegistry(lambda vhost: SourceOptions())
    registry.hub_factories.append(host.hls.output_for)
    for cid in (1, 2):  # publish twice; the registry drops the idle source in between
        src = registry.fetch_or_create(URL, VHOST)
        src.on_publish(cid)
        for m in av_msgs:
            src.on_message(m)
        src.on_unpublish()
        assert registry.get(URL) is None
        if src.timer is not None:
            src.timer.kill()
    stream = host.hls.streams[URL]
    assert [s.seq for s in stream.segments] == [0, 1, 2, 3]
    assert [s.discontinuity for s in stream.segments] == [True, False, True, False]
    cc_check(ts_paths(stream))


def test_reload_attaches_restarts_and_detaches(tmp_path, av_msgs):
    host = hls_host("enabled off;", str(tmp_path))
    registry = host.sources
    registry.hub_factories.append(host.hls.output_for)
    src = registry.fetch_or_create(URL, VHOST)
    src.on_publish(CID)
    msgs = looped(av_msgs, 3)
    thirds = [msgs[:len(msgs) // 3], msgs[len(msgs) // 3:2 * len(msgs) // 3], msgs[2 * len(msgs) // 3:]]
    for m in thirds[0]:
        src.on_message(m)
    assert not [o for o in src.hub if isinstance(o, HlsStream)]

    def set_conf(block):
        host.config = Config.parse_text(f"listen 1935; vhost {VHOST} {{ hls {{ {block} }} }}")
        host.hls.on_reload()

    set_conf(conf(tmp_path / "a"))           # turned on while publishing
    out = next(o for o in src.hub if isinstance(o, HlsStream))
    for m in thirds[1]:
        src.on_message(m)
    set_conf(conf(tmp_path / "b"))           # settings changed: restart in the new place
    assert next(o for o in src.hub if isinstance(o, HlsStream)) is out
    for m in thirds[2]:
        src.on_message(m)
    assert files(tmp_path / "a", ".ts") and files(tmp_path / "b", ".ts")
    assert out.segments[-1].path.startswith(str(tmp_path / "b"))
    set_conf("enabled off;")                 # turned off: detached, the open segment closed
    assert not [o for o in src.hub if isinstance(o, HlsStream)] and not out.active
    for p in ts_paths(out):
        info = decode_ts(p)
        assert info["vcodec"] == "h264" and info["first_key"] is True
    src.on_unpublish()
    if src.timer is not None:
        src.timer.kill()
