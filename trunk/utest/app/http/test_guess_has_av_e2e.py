"""http_remux { guess_has_av; has_audio; has_video; } (SRS 5) on the real server: the FLV header's flags
follow what the stream holds (a video-only stream says no audio, so flv.js does not wait for it), or the
configured flags when guessing is off."""
from __future__ import annotations

import urllib.request

import pytest

from fixtures.srs_server import SrsProcess, publish_bg, wait_port
from srs.app.http.stream import flv_av_flags
from srs.app.live.source import LiveSource, SourceOptions
from srs.kernel.flv import iter_flv_tags

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


def flv_tag_types(srs, stream: str, nbytes: int) -> dict:
    """{tag type: count} of the first tags of an FLV player (header flags checked by the caller)."""
    with urllib.request.urlopen(srs.http_url(f"live/{stream}.flv"), timeout=10) as resp:
        data = resp.read(13)
        while len(data) < nbytes:
            more = resp.read(nbytes - len(data))
            if not more:
                break
            data += more
    counts: dict = {}
    pos = 13
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        if pos + 11 + size + 4 > len(data):
            break
        counts[data[pos] & 0x1f] = counts.get(data[pos] & 0x1f, 0) + 1
        pos += 11 + size + 4
    return counts


@pytest.mark.parametrize("extra,audio_tags", [
    ("guess_has_av off; has_audio off;", False),                           # drop_if_not_match on (SRS 5)
    ("guess_has_av off; has_audio off; drop_if_not_match off;", True),
])
def test_drop_if_not_match(tmp_path, media_flv, extra, audio_tags):
    with SrsProcess(tmp_path, vhost_body=REMUX.format(extra=extra)) as srs:
        assert wait_port(srs.http_port)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/av"), speed=2.0)
        assert pub.wait_sent(1500)
        types = flv_tag_types(srs, "av", 60_000)  # the sequence headers and the cached GOP, at least
        pub.join(30)
    assert types.get(9, 0) >= 10, types  # video tags always
    assert (types.get(8, 0) > 0) is audio_tags, types


def source_fed_until_keyframe(tags, nth_key: int) -> LiveSource:
    """A live source fed a real stream up to (and with) its ``nth_key`` video keyframe: its gop cache
    then holds that keyframe alone, and no audio frame yet."""
    src = LiveSource("/live/av", SourceOptions())
    src.on_publish(1)
    keys = 0
    for m in tags:
        src.on_message(m)
        if m.is_video and m.keyframe and not m.seq_header:
            keys += 1
            if keys == nth_key:
                break
    assert keys == nth_key and [m.is_video for m in src.gop] == [True], src.gop
    return src


@pytest.mark.parametrize("media,expected", [
    # the audio sequence header counts as audio (SRS counts every message the player gets first):
    # a player arriving just after a keyframe still gets a header announcing the audio
    ("media_flv", (True, True)),
    ("media_flv_video_only", (False, True)),
])
def test_guess_counts_sequence_headers(request, media, expected):
    tags = list(iter_flv_tags(request.getfixturevalue(media).data))
    src = source_fed_until_keyframe(tags, 2)
    assert flv_av_flags(src, True, True, True) == expected
    assert flv_av_flags(src, True, True, False) == (True, True)      # guessing off: configured
    assert flv_av_flags(src, False, True, True) == (False, True)     # guessing never adds a track
