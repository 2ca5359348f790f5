"""Reload (SIGHUP) of live features on a stream that is being published: dvr and forward start and
stop on the live source; an origin<->edge mode change is refused and the server keeps running."""
import glob
import os
import signal
import time

import av

from fixtures.srs_server import Player, SrsProcess, publish_bg, publish_flv, wait_for

MARK = "#LIVE"


class Reloadable:
    """A server whose vhost body is rewritten, then SIGHUP."""

    def __init__(self, srs: SrsProcess):
        self.srs = srs
        with open(srs.conf_path) as f:
            self.base = f.read()
        assert MARK in self.base

    def reload(self, body: str, expect: str = "reload ok") -> None:
        before = self.srs.log_text().count(expect)
        with open(self.srs.conf_path, "w") as f:
            f.write(self.base.replace(MARK, body))
        self.srs.signal(signal.SIGHUP)
        assert wait_for(lambda: self.srs.log_text().count(expect) > before, 5), self.srs.output()[-3000:]


def decode_flv(path):
    video = keyframes = 0
    first_key = None
    with av.open(path) as c:
        for pkt in c.demux():
            if pkt.size and pkt.stream.type == "video":
                if first_key is None:
                    first_key = bool(pkt.is_keyframe)
                keyframes += bool(pkt.is_keyframe)
                video += len(pkt.decode())
    return video, keyframes, first_key


def test_reload_dvr_on_then_off_on_a_live_stream(tmp_path, media_flv):
    rec = tmp_path / "rec"
    dvr_on = f"dvr {{ enabled on; dvr_plan session; dvr_path {rec}/[app]/[stream].[timestamp].flv; }}"
    with SrsProcess(tmp_path, vhost_body=MARK, http_server=False) as srs:
        r = Reloadable(srs)
        # 32 s of stream: the whole test happens on one publish, even on a loaded machine (8 s ran out once)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/rec"), speed=1.0, loops=8)
        assert wait_for(lambda: "RTMP publish __defaultVhost__/live/rec" in srs.log_text(), 5)
        time.sleep(0.5)  # "nothing happens" check: dvr off records nothing while the stream flows
        assert not glob.glob(f"{rec}/live/*")
        r.reload(dvr_on)
        assert wait_for(lambda: "reload dvr of __defaultVhost__/live/rec: restarted" in srs.log_text(), 3)
        # recording starts on the live stream, at once
        assert wait_for(lambda: any(os.path.getsize(p) > 20000 for p in glob.glob(f"{rec}/live/rec.*")), 5)
        assert pub.wait_sent(pub.sent_ms + 1500)  # record 1.5 s more of the stream
        r.reload("")  # off again: the file is closed while the stream goes on
        assert wait_for(lambda: "dvr: closed" in srs.log_text(), 3), srs.log_text()[-2000:]
        assert "reload dvr of __defaultVhost__/live/rec: stopped" in srs.log_text()
        files = glob.glob(f"{rec}/live/rec.*.flv")
        assert len(files) == 1 and not glob.glob(f"{rec}/live/*.tmp"), os.listdir(rec / "live")
        size = os.path.getsize(files[0])
        time.sleep(0.5)  # "nothing happens" check: the closed file does not grow while the stream goes on
        assert os.path.getsize(files[0]) == size and srs.alive()
        video, keyframes, first_key = decode_flv(files[0])
        assert first_key is True  # a file joined mid-GOP starts at the next keyframe
        assert keyframes >= 1 and video >= 25
        assert pub.is_alive()  # all of it happened on one publish (cut off by the server's stop)


def test_reload_forward_added_then_removed(tmp_path, media_flv):
    (tmp_path / "dest").mkdir()
    (tmp_path / "src").mkdir()
    dest = SrsProcess(tmp_path / "dest", http_server=False, http_api=False)
    src = SrsProcess(tmp_path / "src", vhost_body=MARK, http_server=False, http_api=False)
    with dest, src:
        r = Reloadable(src)
        # 32 s of stream: the whole test happens on one publish, even on a loaded machine (8 s ran out once)
        pub = publish_bg(media_flv.path, src.rtmp_url("live/fwd"), speed=1.0, loops=8)
        assert wait_for(lambda: "RTMP publish __defaultVhost__/live/fwd" in src.log_text(), 5)
        r.reload(f"forward {{ enabled on; destination 127.0.0.1:{dest.rtmp_port}; }}")
        assert wait_for(lambda: "RTMP publish __defaultVhost__/live/fwd" in dest.log_text(), 5), src.log_text()
        # forwarding starts mid-GOP (as SRS: sequence headers, then the live frames); after the next
        # keyframe (GOP 1 s) the destination's GOP cache starts at a keyframe
        assert pub.wait_sent(pub.sent_ms + 1200)
        player = Player(dest.rtmp_url("live/fwd"), read_timeout_s=3, stop_after_video=30)
        player.start()
        player.join(15)
        assert player.error is None, player.error
        assert player.first_video_key is True and player.video_frames >= 30
        r.reload("")
        assert wait_for(lambda: "forward __defaultVhost__/live/fwd to 127.0.0.1:%d stopped" % dest.rtmp_port
                        in src.log_text(), 3)
        # the destination sees the forwarded publish end while the source is still published
        assert wait_for(lambda: "unpublished" in dest.log_text(), 5), dest.log_text()[-2000:]
        assert pub.is_alive()


def test_reload_mode_change_is_refused_and_the_server_keeps_serving(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=MARK, http_server=False) as srs:
        r = Reloadable(srs)
        r.reload("cluster { mode remote; origin 127.0.0.1:1935; }", expect="reload failed, keep the running config")
        assert "code=2023" in srs.log_text()
        assert srs.alive()
        player = Player(srs.rtmp_url("live/still"), read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/still")
        publish_flv(media_flv.path, srs.rtmp_url("live/still"), realtime=True, speed=4.0)
        player.join(15)
        assert player.error is None, player.error
        assert player.video_frames == media_flv.video_frames  # still an origin
        assert "edge pull" not in srs.log_text()
