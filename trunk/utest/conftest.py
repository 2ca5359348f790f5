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
from srs.main.bench.rig import PORT_RANGE_ENV  # noqa: E402

# Parallel workers (pytest-xdist's gw0, gw1, ...) take ports from ranges of their own, below the kernel's
# ephemeral ports: a free port one worker picked for its server could otherwise be picked by another
# worker, or taken by an outgoing connection, before the server binds it ("Address already in use").
# From 20000: above every port Chromium refuses to load a page from (its "unsafe" list ends at 10080).
WORKER_PORTS = 1500
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
_n = int(_worker) if _worker.isdigit() else 0
if _n < 8:
    os.environ[PORT_RANGE_ENV] = f"{20000 + _n * WORKER_PORTS}-{20000 + (_n + 1) * WORKER_PORTS}"


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


@pytest.fixture(autouse=True)
def _ordinary_scheduling_after_each_test():
    """A test must leave its worker on the ordinary scheduler: a worker switched to SCHED_FIFO (SVT-AV1
    does that to the thread that opens it when run as root) hands real-time priority to every server
    and browser it starts afterwards, and they starve the machine (see fixtures.media_ex)."""
    yield
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        pytest.fail("the test left this thread on a real-time scheduling policy")
