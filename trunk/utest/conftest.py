"""Root conftest: shared test media, generated once per run with PyAV.

Test files import the generator directly when they need other parameters:

    from fixtures.media import make_flv, make_flv_bytes

(pytest puts this directory on sys.path because utest has no __init__.py.)
Each media fixture is a ``fixtures.media.MediaInfo``: ``.path`` (str), ``.data`` (bytes),
``.video_frames``, ``.keyframes``, ``.audio_frames``, ``.duration_ms``, ``.width``, ``.height``...
"""
from __future__ import annotations

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from fixtures.media import make_flv  # noqa: E402


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def media_flv(media_dir):
    """4 s, 320x240, 25 fps, GOP 25 (4 keyframes), H.264 + AAC 44100 stereo."""
    return make_flv(media_dir / "av.flv", seconds=4, width=320, height=240, fps=25, gop=25,
                    audio="aac")


@pytest.fixture(scope="session")
def media_flv_mp3(media_dir):
    """As media_flv with MP3 audio."""
    return make_flv(media_dir / "av_mp3.flv", seconds=4, audio="mp3")


@pytest.fixture(scope="session")
def media_flv_audio_only(media_dir):
    """4 s of AAC 44100 stereo, no video."""
    return make_flv(media_dir / "audio.flv", seconds=4, audio="aac", video=False)


@pytest.fixture(scope="session")
def media_flv_video_only(media_dir):
    """4 s H.264 320x240 25 fps GOP 25, no audio."""
    return make_flv(media_dir / "video.flv", seconds=4, audio=None)
