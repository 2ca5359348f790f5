"""http_remux { guess_has_av; has_audio; has_video; } (SRS 5) on the real server: the FLV header's flags
follow what the stream holds (a video-only stream says no audio, so flv.js does not wait for it), or the
configured flags when guessing is off."""
from __future__ import annotations

import urllib.request

import pytest

from fixtures.srs_server import SrsProcess, publish_bg, wait_port

REMUX = "http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; {extra} }}"
AUDIO, VIDEO = 0x04, 0x01


def flv_flags(srs, stream: str) -> int:
    with urllib.request.urlopen(srs.http_url(f"live/{stream}.flv"), timeout=10) as resp:
        head = resp.read(13)
    assert head[:3] == b"FLV", head
    return head[4]


@pytest.mark.parametrize("media,extra,flags", [
    ("media_flv_video_only", "", VIDEO),                                   # guessed: no audio
    ("media_flv_audio_only", "", AUDIO),                                   # guessed: no video
    ("media_flv", "", AUDIO | VIDEO),
    ("media_flv_video_only", "guess_has_av off;", AUDIO | VIDEO),          # configured (defaults on)
    ("media_flv", "guess_has_av off; has_audio off;", VIDEO),
])
def test_flv_header_flags(tmp_path, request, media, extra, flags):
    flv = request.getfixturevalue(media)
    with SrsProcess(tmp_path, vhost_body=REMUX.format(extra=extra)) as srs:
        assert wait_port(srs.http_port)
        pub = publish_bg(flv.path, srs.rtmp_url("live/av"), speed=2.0)
        assert pub.wait_sent(1500)  # sequence headers and a GOP are cached
        assert flv_flags(srs, "av") == flags
        pub.join(30)
