"""DVR hub output: plans, paths, jitter, metadata patching, crash safety, mp4, on_dvr.

The output is driven directly with the Messages of the fixture FLV (4 s, 25 fps, 1 s GOPs, AAC),
as a LiveSource would; every recorded file is checked by decoding it with PyAV.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import time

import av
import pytest

from fixtures.api_server import ApiServer
from fixtures.hub_host import URL, VHOST, dvr_host, is_eos, looped
from srs.app.dvr.flv import dvr_metadata
from srs.app.dvr.plan import Dvr, Jitter, build_path, dvr_applies
from srs.app.live.source import LiveSource, SourceOptions
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO
from srs.protocol import amf0
from srs.protocol.request import Request

CID = 321


def dvr_conf(plan="session", path="./rec/[app]/[stream].[timestamp].flv", extra=""):
    return f"enabled on; dvr_plan {plan}; dvr_path {path}; {extra}"


@pytest.fixture(scope="module")
def msgs(media_flv):
    return list(iter_flv_tags(media_flv.data))


def new_source(cid=CID) -> LiveSource:
    src = LiveSource(URL, SourceOptions())
    src.on_publish(cid)
    return src


def record(host, messages, source=None, unpublish=True) -> Dvr:
    src = source or new_source()
    out = host.dvr_output(src, VHOST)
    assert isinstance(out, Dvr)
    out.on_publish(src)
    for m in messages:
        out.on_message(m)
    if unpublish:
        out.on_unpublish(src)
    return out


def decode(path, fmt=None):
    """Frame counts, size and per-stream timestamps (ms) of a media file."""
    info = {"video": 0, "audio": 0, "vts": [], "ats": [], "size": None}
    with av.open(path, format=fmt) as c:
        streams = [s for s in (c.streams.video[:1] + c.streams.audio[:1])]
        for frame in c.decode(*streams):
            ms = int(round(float(frame.pts * frame.time_base) * 1000))
            if isinstance(frame, av.VideoFrame):
                info["video"] += 1
                info["vts"].append(ms)
                info["size"] = (frame.width, frame.height)
            else:
                info["audio"] += 1
                info["ats"].append(ms)
    return info


def flv_meta(path):
    with open(path, "rb") as f:
        data = f.read()
    first = next(iter_flv_tags(data))
    assert first.kind == MSG_AMF0_DATA
    name, obj = amf0.decode_all(first.payload)[:2]
    return name, obj, data


def strictly_increasing(values):
    return all(b > a for a, b in zip(values, values[1:]))


def files_in(root, suffix):
    found = []
    for d, _, names in os.walk(root):
        found += [os.path.join(d, n) for n in names if n.endswith(suffix)]
    return sorted(found)


# ------------------------------------------------------------------ helpers: paths, filters, jitter

def test_build_path_templates_and_directory_form():
    now = int(time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))) * 1000 + 42
    tpl = "/data/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].flv"
    assert build_path(tpl, "v.com", "live", "s1", now) == "/data/v.com/live/s1/2024/03/05/07.08.09.042.flv"
    assert build_path("./objs/[app]/[stream].[timestamp].mp4", "v", "live", "s", now) == f"./objs/live/s.{now}.mp4"
    # not .flv/.mp4: a directory
    assert build_path("./objs/nginx/html/", "v", "live", "s", now) == f"./objs/nginx/html/s.{now}.flv"
    assert build_path("/rec/[app]", "v", "live", "s", now) == f"/rec/live/s.{now}.flv"


def test_apply_filter():
    assert dvr_applies(("all",), "live", "a") and dvr_applies((), "live", "a")
    assert dvr_applies(("live/a", "live/b"), "live", "b")
    assert not dvr_applies(("live/a",), "live", "b") and not dvr_applies(("live/a",), "other", "a")


@pytest.mark.parametrize("mode,raw,expected", [
    ("full", [5000, 5040, 5080, 900000, 900040], [0, 40, 80, 90, 130]),   # a jump counts 10 ms
    ("full", [100, 60, 20], [0, 0, 0]),                                   # never below zero
    ("zero", [5000, 5040, 9000], [0, 40, 4000]),
    ("off", [5000, 5040, 9000], [5000, 5040, 9000]),
])
def test_jitter_modes(mode, raw, expected):
    j = Jitter(mode)
    assert [j.correct(t) for t in raw] == expected


def test_metadata_placeholders_are_numbers_at_known_offsets():
    src = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(width=320.0, duration=99.0, filesize=5.0))
    body, size_off, dur_off = dvr_metadata(src)
    name, obj = amf0.decode_all(body)
    assert name == "onMetaData" and obj["width"] == 320.0 and obj["service"].startswith("SRS/")
    assert list(obj)[-2:] == ["filesize", "duration"] and obj["duration"] == 0.0
    assert body[dur_off - 1] == 0 and body[size_off - 1] == 0  # AMF0 number markers
    # not an object: kept as is, nothing to patch
    assert dvr_metadata(b"\x02\x00\x01x") == (b"\x02\x00\x01x", None, None)


def test_factory_disabled_or_filtered_returns_none(tmp_path):
    src = new_source()
    assert dvr_host("enabled off;", str(tmp_path)).dvr_output(src, VHOST) is None
    assert dvr_host(dvr_conf(extra="dvr_apply live/other;"), str(tmp_path)).dvr_output(src, VHOST) is None
    assert isinstance(dvr_host(dvr_conf(extra="dvr_apply live/livestream;"), str(tmp_path)).dvr_output(src, VHOST), Dvr)


# ------------------------------------------------------------------ session plan

def test_session_flv_decodes_fully_with_patched_metadata(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf(), str(tmp_path))
    out = record(host, msgs)
    [path] = out.files
    assert path.startswith("./rec/live/livestream.") and path.endswith(".flv")
    full = os.path.join(str(tmp_path), path)
    assert files_in(str(tmp_path), ".tmp") == []
    info = decode(full)
    assert info["video"] == media_flv.video_frames and info["audio"] == media_flv.audio_frames
    assert info["size"] == (320, 240)
    assert strictly_increasing(info["vts"]) and strictly_increasing(info["ats"])
    name, obj, data = flv_meta(full)
    assert name == "onMetaData" and obj["filesize"] == float(len(data))
    last_av = max(m.ts_ms for m in msgs if m.kind in (MSG_AUDIO, MSG_VIDEO))
    assert obj["duration"] == pytest.approx(last_av / 1000.0, abs=0.001)
    assert obj["width"] == 320.0  # the publisher's fields survive


@pytest.mark.parametrize("jitter,first_ts", [("full", 0), ("zero", 0), ("off", 100000)])
def test_time_jitter_for_file_timestamps(tmp_path, msgs, jitter, first_ts):
    host = dvr_host(dvr_conf(extra=f"time_jitter {jitter};"), str(tmp_path))
    shifted = [m.with_ts(m.ts_ms + 100000) for m in msgs]
    out = record(host, shifted)
    with open(os.path.join(str(tmp_path), out.files[0]), "rb") as f:
        tags = [m for m in iter_flv_tags(f.read()) if m.kind in (MSG_AUDIO, MSG_VIDEO)]
    assert tags[0].ts_ms == first_ts
    assert [t.ts_ms - first_ts for t in tags] == [m.ts_ms for m in msgs if m.kind in (MSG_AUDIO, MSG_VIDEO)]


def test_republish_makes_a_new_session_file(tmp_path, msgs):
    host = dvr_host(dvr_conf(), str(tmp_path))
    src = new_source()
    out = host.dvr_output(src, VHOST)
    for _ in range(2):
        out.on_publish(src)
        for m in msgs:
            out.on_message(m)
        out.on_unpublish(src)
    assert len(out.files) == 2 and out.files[0] != out.files[1]
    assert len(files_in(str(tmp_path), ".flv")) == 2


def test_tmp_file_is_playable_before_close(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf(), str(tmp_path))
    half = [m for m in msgs if m.ts_ms < 2000 and not is_eos(m)]
    out = record(host, half, unpublish=False)
    [tmp] = files_in(str(tmp_path), ".flv.tmp")
    copy = str(tmp_path / "copy.flv")
    shutil.copyfile(tmp, copy)  # a reader of the live file, as after a crash
    info = decode(copy)
    assert info["video"] == sum(1 for m in half if m.kind == MSG_VIDEO and not m.seq_header)
    assert info["audio"] == sum(1 for m in half if m.kind == MSG_AUDIO and not m.seq_header)
    assert strictly_increasing(info["vts"])
    for m in msgs:
        if m.ts_ms >= 2000:
            out.on_message(m)
    out.on_unpublish(new_source())
    assert files_in(str(tmp_path), ".tmp") == []
    assert decode(os.path.join(str(tmp_path), out.files[0]))["video"] == media_flv.video_frames


def test_wait_keyframe_drops_leading_non_keyframes(tmp_path, msgs):
    host = dvr_host(dvr_conf(), str(tmp_path))
    first_key = next(i for i, m in enumerate(msgs) if m.kind == MSG_VIDEO and m.keyframe and not m.seq_header)
    # start the publish in the middle of a GOP: headers, then frames 5.. of the first GOP
    heads = [m for m in msgs if m.kind == MSG_AMF0_DATA or m.seq_header]
    rest = [m for m in msgs[first_key + 10:] if not (m.kind == MSG_AMF0_DATA or m.seq_header)]
    out = record(host, heads + rest)
    with open(os.path.join(str(tmp_path), out.files[0]), "rb") as f:
        video = [m for m in iter_flv_tags(f.read()) if m.kind == MSG_VIDEO and not m.seq_header]
    assert video[0].keyframe
    assert decode(os.path.join(str(tmp_path), out.files[0]))["video"] == 75  # GOPs 2..4


# ------------------------------------------------------------------ segment plan

def test_segment_plan_cuts_at_keyframes_near_duration(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf("segment", extra="dvr_duration 2; dvr_wait_keyframe on;"), str(tmp_path))
    stream = looped(msgs, 3)  # 12 s, a keyframe every second
    out = record(host, stream)
    assert len(out.files) == 6
    total_v = total_a = 0
    for i, rel in enumerate(out.files):
        path = os.path.join(str(tmp_path), rel)
        with open(path, "rb") as f:
            tags = list(iter_flv_tags(f.read()))
        # metadata, both sequence headers, then a keyframe: each file plays alone
        assert tags[0].kind == MSG_AMF0_DATA
        assert {(t.kind, t.seq_header) for t in tags[1:3]} == {(MSG_VIDEO, True), (MSG_AUDIO, True)}
        first_video = next(t for t in tags if t.kind == MSG_VIDEO and not t.seq_header)
        assert first_video.keyframe and first_video.ts_ms <= 50
        info = decode(path)
        assert info["size"] == (320, 240) and strictly_increasing(info["vts"]) and strictly_increasing(info["ats"])
        total_v += info["video"]
        total_a += info["audio"]
        _, obj, data = flv_meta(path)
        assert obj["filesize"] == float(len(data))
        if i < len(out.files) - 1:
            assert 1.9 <= obj["duration"] <= 2.2, obj["duration"]
    assert total_v == 3 * media_flv.video_frames and total_a == 3 * media_flv.audio_frames


def test_segment_plan_without_wait_keyframe_cuts_on_duration(tmp_path, msgs):
    host = dvr_host(dvr_conf("segment", extra="dvr_duration 1.5; dvr_wait_keyframe off;"), str(tmp_path))
    out = record(host, looped(msgs, 1))
    assert len(out.files) == 3  # ~4 s / 1.5 s
    for rel in out.files[:-1]:
        _, obj, _ = flv_meta(os.path.join(str(tmp_path), rel))
        assert 1.45 <= obj["duration"] <= 1.6


# ------------------------------------------------------------------ append plan

def test_append_plan_continues_timestamps_across_publishes(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf("append", path="./rec/[app]/[stream].flv"), str(tmp_path))
    src = new_source()
    out = host.dvr_output(src, VHOST)
    for i in range(2):
        out.on_publish(src)
        for m in msgs:  # the second publisher starts at 0 again
            out.on_message(m)
        out.on_unpublish(src)
    path = os.path.join(str(tmp_path), "rec/live/livestream.flv")
    assert out.files == ["./rec/live/livestream.flv"] * 2
    assert not os.path.exists(path + ".tmp")
    info = decode(path)
    assert info["video"] == 2 * media_flv.video_frames and info["audio"] == 2 * media_flv.audio_frames
    assert strictly_increasing(info["vts"]) and strictly_increasing(info["ats"])
    with open(path, "rb") as f:
        tags = list(iter_flv_tags(f.read()))
    assert sum(1 for t in tags if t.kind == MSG_AMF0_DATA) == 1  # one onMetaData, at the start
    last_av = max(m.ts_ms for m in msgs if m.kind in (MSG_AUDIO, MSG_VIDEO))
    _, obj, data = flv_meta(path)
    assert obj["filesize"] == float(len(data))
    assert obj["duration"] == pytest.approx((2 * last_av + 10) / 1000.0, abs=0.001)


def test_append_after_a_crash_drops_the_cut_tag(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf("append", path="./rec/[stream].flv"), str(tmp_path))
    out = record(host, msgs)
    path = os.path.join(str(tmp_path), "rec/livestream.flv")
    with open(path, "ab") as f:
        f.write(b"\x09\x00\x10\x00" + b"\x00" * 20)  # half a video tag, as a killed writer leaves
    out.on_publish(new_source())
    for m in msgs:
        out.on_message(m)
    out.on_unpublish(None)
    info = decode(path)
    assert info["video"] == 2 * media_flv.video_frames
    assert strictly_increasing(info["vts"])


def test_append_plan_refreshes_metadata_every_minute(tmp_path, msgs):
    host = dvr_host(dvr_conf("append", path="./rec/[stream].flv"), str(tmp_path))
    record(host, looped(msgs, 17), unpublish=False)  # ~68 s, still publishing
    _, obj, data = flv_meta(str(tmp_path / "rec/livestream.flv"))
    assert 60.0 <= obj["duration"] < 61.0  # patched once, at 60 s of media
    assert 0 < obj["filesize"] < len(data)


# ------------------------------------------------------------------ mp4

def test_mp4_session_plays_with_right_frame_count(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf(path="./rec/[app]/[stream].[timestamp].mp4"), str(tmp_path))
    out = record(host, msgs)
    [rel] = out.files
    assert rel.endswith(".mp4") and files_in(str(tmp_path), ".tmp") == []
    info = decode(os.path.join(str(tmp_path), rel))
    assert info["video"] == media_flv.video_frames and info["audio"] == media_flv.audio_frames
    assert info["size"] == (320, 240)
    assert strictly_increasing(info["vts"]) and strictly_increasing(info["ats"])
    assert info["vts"][-1] == pytest.approx(max(m.ts_ms for m in msgs if m.kind == MSG_VIDEO), abs=2)


def test_mp4_segments_each_play(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf("segment", path="./rec/[stream].[timestamp].mp4", extra="dvr_duration 2;"), str(tmp_path))
    out = record(host, looped(msgs, 2))
    assert len(out.files) == 4
    infos = [decode(os.path.join(str(tmp_path), rel)) for rel in out.files]
    assert sum(i["video"] for i in infos) == 2 * media_flv.video_frames
    assert sum(i["audio"] for i in infos) == 2 * media_flv.audio_frames
    # each file's timeline starts at 0 (the fixture's first video frame is at 23 ms)
    assert min(infos[0]["vts"][0], infos[0]["ats"][0]) == 0
    assert all(i["vts"][0] == 0 for i in infos[1:])


def test_mp4_video_only_starts_after_probe(tmp_path, media_flv_video_only):
    host = dvr_host(dvr_conf(path="./rec/[stream].mp4"), str(tmp_path))
    out = record(host, list(iter_flv_tags(media_flv_video_only.data)))
    info = decode(os.path.join(str(tmp_path), out.files[0]))
    assert info["video"] == media_flv_video_only.video_frames and info["audio"] == 0


# ------------------------------------------------------------------ failures never reach the publisher

def test_unwritable_path_never_raises(tmp_path, msgs, caplog):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    host = dvr_host(dvr_conf(path=f"{blocker}/sub/[stream].flv"), str(tmp_path))
    out = record(host, msgs)  # would raise out of on_publish/on_message otherwise
    assert out.files == [] and not out.active
    assert any("recording of" in r.getMessage() for r in caplog.records)


def test_disk_full_at_open_never_raises(tmp_path, msgs):
    rec = tmp_path / "rec"
    rec.mkdir()
    os.symlink("/dev/full", rec / "livestream.flv.tmp")  # every write fails with ENOSPC
    host = dvr_host(dvr_conf(path="./rec/[stream].flv"), str(tmp_path))
    out = record(host, msgs)
    assert out.files == [] and not out.active


def test_write_error_mid_publish_stops_recording_only(tmp_path, msgs):
    """A file-size limit makes write() fail (EFBIG) in the middle of the stream."""
    host = dvr_host(dvr_conf(path="./rec/[stream].flv"), str(tmp_path))
    src = LiveSource(URL, SourceOptions())
    out = host.dvr_output(src, VHOST)
    src.add_hub_output(out)
    src.on_publish(CID)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, old_limit[1]))
    try:
        for m in msgs:
            src.on_message(m)  # raises nothing
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert out in src.hub and not out.active  # still attached, just not recording
    assert src.frames == sum(1 for m in msgs if m.kind in (MSG_AUDIO, MSG_VIDEO))  # the stream went on
    src.on_unpublish()
    assert out.files == []
    tmp = str(tmp_path / "rec/livestream.flv.tmp")
    # abandoned, cut back to the last whole tag: it plays up to there
    size = os.path.getsize(tmp)
    assert 50_000 < size < 60_000
    with open(tmp, "rb") as f:
        tags = list(iter_flv_tags(f.read()))  # strict: no trailing partial tag
    info = decode(tmp, "flv")
    assert info["video"] == sum(1 for t in tags if t.kind == MSG_VIDEO and not t.seq_header) > 10


def test_through_a_live_source(tmp_path, msgs, media_flv):
    host = dvr_host(dvr_conf(path="./rec/[stream].flv"), str(tmp_path))
    src = LiveSource(URL, SourceOptions())
    src.add_hub_output(host.dvr_output(src, VHOST))
    src.on_publish(CID)
    for m in msgs:
        src.on_message(m)
    src.on_unpublish()
    assert decode(str(tmp_path / "rec/livestream.flv"))["video"] == media_flv.video_frames


# ------------------------------------------------------------------ on_dvr

@pytest.fixture(scope="module")
def hook_srv():
    with ApiServer() as s:
        yield s


def test_on_dvr_after_each_file(tmp_path, msgs, hook_srv):
    hook_srv.clear()
    hooks_block = f"http_hooks {{ enabled on; on_dvr {hook_srv.url('/api/v1/dvrs')}; }}"
    host = dvr_host(dvr_conf("segment", extra="dvr_duration 2;"), str(tmp_path), hooks_block)
    req_stat = host.statistic
    req = Request.from_url("rtmp://127.0.0.1/live/livestream", ip="10.2.3.4")
    req.update_vhost(VHOST)
    req_stat.on_client(CID, req, "fmle-publish", "10.2.3.4", None, 0)
    try:
        out = record(host, msgs)
        assert len(out.files) == 2
        assert host.hooks.join(10)
    finally:
        host.hooks.stop()
    bodies = [e["body"] for e in hook_srv.received() if e.get("body", {}).get("action") == "on_dvr"]
    assert [b["file"] for b in bodies] == out.files
    for b in bodies:
        assert b["cwd"] == str(tmp_path) and b["app"] == "live" and b["stream"] == "livestream"
        assert b["client_id"] == str(CID) and b["ip"] == "10.2.3.4" and b["vhost"] == VHOST


def test_no_on_dvr_when_hooks_disabled(tmp_path, msgs, hook_srv):
    hook_srv.clear()
    hooks_block = f"http_hooks {{ enabled off; on_dvr {hook_srv.url('/api/v1/dvrs')}; }}"
    host = dvr_host(dvr_conf(), str(tmp_path), hooks_block)
    out = record(host, msgs)
    assert len(out.files) == 1 and host.hooks.pending() == 0
    assert not [e for e in hook_srv.received() if e.get("body", {}).get("action") == "on_dvr"]
