"""The snapshot's pure parts: sizes, paths, queries, and what cannot be decoded."""
from __future__ import annotations

import pytest

from fixtures.media import make_flv_bytes
from srs.app.snapshot.http import parse_size, split_path
from srs.app.snapshot.image import decode_keyframe, encode_picture, fit_size
from srs.kernel.errors import CodecError, RequestError
from srs.kernel.flv import iter_flv_tags


@pytest.mark.parametrize("want,expect", [
    ((0, 0), (1280, 720)), ((320, 0), (320, 180)), ((0, 90), (160, 90)), ((100, 100), (100, 100)),
    ((3840, 0), (1920, 1080)),   # bounded, aspect kept
    ((0, 2000), (1920, 1080)), ((3, 0), (4, 2)),
])
def test_fit_size(want, expect):
    assert fit_size(1280, 720, want[0], want[1], 1920, 1080) == expect


def test_split_path_and_sizes():
    assert split_path("/live/livestream.jpg") == ("live", "livestream", "jpg")
    assert split_path("/a/b/c.png") == ("a/b", "c", "png")
    assert split_path("/logo.png") is None and split_path("/live/x.gif") is None
    assert parse_size({}, "w", 1920) == 0 and parse_size({"w": "320"}, "w", 1920) == 320
    for bad in ("abc", "1", "1921", "-3", "99999999"):
        with pytest.raises(RequestError):
            parse_size({"w": bad}, "w", 1920)


def test_decode_once_encode_jpg_png():
    data, _ = make_flv_bytes(seconds=0.2, width=320, height=240)
    msgs = list(iter_flv_tags(data))
    sh = next(m for m in msgs if m.is_video and m.seq_header)
    key = next(m for m in msgs if m.is_video and m.keyframe and not m.seq_header)
    frame = decode_keyframe(sh.payload, key.payload)
    assert (frame.width, frame.height) == (320, 240)
    assert encode_picture(frame, "jpg", 160, 120)[:2] == b"\xff\xd8"
    assert encode_picture(frame, "png", 160, 120)[:4] == b"\x89PNG"
    with pytest.raises(CodecError):
        decode_keyframe(sh.payload, key.payload[:5] + b"\x00\x00\x00\x05garbage")
    with pytest.raises(CodecError):
        decode_keyframe(b"\x22\x00", key.payload)  # an H.263 header: not a codec we snapshot
