"""The ladder's pure parts: the conf's renditions, sizes, the loop guard and the master playlist."""
from __future__ import annotations

import pytest

from fixtures.media import make_flv_bytes
from srs.app.abr.dash_master import dash_master
from srs.app.abr.ladder import is_rendition
from srs.app.abr.master import PeakRate, Variant, audio_codecs, bandwidth_bps, render_master, video_codecs
from srs.app.abr.worker import even_size
from srs.app.config.conf import Config
from srs.app.server.file_root import PathOutsideRoot
from srs.kernel.errors import ConfigError
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message


def abr_of(body: str):
    return Config.parse_text("listen 1935; vhost v { abr { %s } }" % body).vhost("v").abr


def test_renditions_from_blocks_then_ladder_line():
    abr = abr_of("enabled on; rendition hi { width 1280; height 720; vbitrate 2500; abitrate 128; } "
                 "ladder lo:0x240:300:0 mid:640x360:700:64;")
    assert [(r.name, r.width, r.height, r.vbitrate, r.abitrate) for r in abr.renditions] == [
        ("hi", 1280, 720, 2500, 128), ("lo", 0, 240, 300, 0), ("mid", 640, 360, 700, 64)]


@pytest.mark.parametrize("body", [
    "rendition ../x { height 240; }",          # a name that would leave a directory
    "rendition a { height 240; } rendition a { height 120; }",
    "ladder 240p;",                             # not name:WxH:v:a
    "ladder x:9000x240:300:0;",                 # over 7680 wide
    "rendition a { height 240; vbitrate 5; }",  # under 16 kbps
    " ".join("rendition r%d { height 240; }" % i for i in range(9)),
    "ladder source:0x240:300:0;",               # reserved: abr { source on; } publishes [stream]_source
])
def test_bad_renditions_are_located_config_errors(body):
    with pytest.raises(ConfigError, match=r"<text>:1: abr"):
        abr_of(body)


def test_rendition_sizes_keep_the_aspect_and_are_even():
    assert even_size(1280, 720, 0, 480) == (852, 480)
    assert even_size(1280, 720, 640, 0) == (640, 360)
    assert even_size(1280, 720, 0, 0) == (1280, 720)
    assert even_size(1280, 720, 301, 171) == (300, 170)


def test_loop_guard_knows_the_renditions_streams():
    abr = abr_of("enabled on; ladder 480p:0x480:800:0 240p:0x240:300:0;")
    assert is_rendition(abr, "livestream_480p") and is_rendition(abr, "x_240p")
    assert not is_rendition(abr, "livestream") and not is_rendition(abr, "_480p") and not is_rendition(abr, "s480p")
    assert not is_rendition(abr, "livestream_source")
    assert is_rendition(abr_of("enabled on; source on; ladder 240p:0x240:300:0;"), "livestream_source")


def test_source_peak_rate_is_the_busiest_gop():
    rate = PeakRate()
    assert rate.peak() == (0, 0)
    ts = 1000  # a stream whose timestamps do not start at 0
    for gop, size in enumerate((1000, 3000, 2000)):  # bytes of video per 40 ms frame, one 1 s GOP each
        for i in range(25):
            rate.add(Message(MSG_VIDEO, ts, b"v" * size, keyframe=i == 0))
            rate.add(Message(MSG_AUDIO, ts, b"a" * 100))
            ts += 40
    rate.add(Message(MSG_VIDEO, ts, b"v", keyframe=True))
    assert rate.peak() == (3000 * 25 * 8, 100 * 25 * 8)  # the second GOP, video and audio apart
    rate.add(Message(MSG_VIDEO, 0, b"v", keyframe=True))  # time went back (a new timeline): no rate from it
    assert rate.peak() == (3000 * 25 * 8, 100 * 25 * 8) and len(rate.rates) == 3


def test_master_playlist_from_real_sequence_headers():
    data, _ = make_flv_bytes(seconds=0.2, width=320, height=240, preset="veryfast")
    msgs = list(iter_flv_tags(data))
    vsh = next(m for m in msgs if m.is_video and m.seq_header)
    ash = next(m for m in msgs if m.is_audio and m.seq_header)
    codec, w, h = video_codecs(vsh)
    assert codec.startswith("avc1.64") and (w, h) == (320, 240)  # x264 veryfast: High profile
    assert audio_codecs(ash) == "mp4a.40.2" and audio_codecs(None) == ""
    assert video_codecs(ash) is None
    assert bandwidth_bps(1000, 96, True) == 1205600 and bandwidth_bps(1000, 0, False) == 1100000
    text = render_master([Variant("s_480p.m3u8", 1205600, 852, 480, "%s,mp4a.40.2" % codec)]).decode()
    assert text.splitlines() == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS",
                                 '#EXT-X-STREAM-INF:BANDWIDTH=1205600,RESOLUTION=852x480,CODECS="%s,mp4a.40.2"' % codec,
                                 "s_480p.m3u8"]


def test_dash_master_and_source_from_the_conf_and_the_env():
    abr = abr_of("enabled on; ladder 240p:0x240:300:0;")
    assert abr.dash_master == "[app]/[stream]_abr.mpd" and not abr.source
    env = {"SRS_VHOST_ABR_ENABLED": "on", "SRS_VHOST_ABR_SOURCE": "on", "SRS_VHOST_ABR_LADDER": "240p:0x240:300:0",
           "SRS_VHOST_ABR_DASH_MASTER": "[app]/[stream]_x.mpd"}
    abr = Config.parse_text("listen 1935; vhost v { }", env=env).vhost("v").abr
    assert abr.enabled and abr.source and abr.dash_master == "[app]/[stream]_x.mpd"


def test_dash_master_name_leaving_dash_path_is_refused(tmp_path):
    vc = Config.parse_text("listen 1935; vhost v { dash { enabled on; dash_path %s; } abr { enabled on; "
                           "ladder 240p:0x240:300:0; dash_master ../[stream]_abr.mpd; } }" % tmp_path).vhost("v")
    with pytest.raises(PathOutsideRoot):
        dash_master(vc, {}, "live", "s", [("240p", "s_240p", 300000, 0)], str(tmp_path))
    vc = Config.parse_text("listen 1935; vhost v { dash { enabled on; dash_path %s; } abr { enabled on; "
                           "ladder 240p:0x240:300:0; } }" % tmp_path).vhost("v")
    assert dash_master(vc, {}, "live", "s", [("240p", "s_240p", 300000, 0)], str(tmp_path)) is None  # none ready
