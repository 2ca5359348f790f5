"""Fixtures of the HLS hub output tests (test_hls_*.py); their helpers are in fixtures.hls_output."""
from __future__ import annotations

import pytest

from fixtures.api_server import ApiServer
from srs.kernel.flv import iter_flv_tags


@pytest.fixture(scope="module")
def av_msgs(media_flv):
    return list(iter_flv_tags(media_flv.data))


@pytest.fixture(scope="module")
def hook_srv():
    with ApiServer() as s:
        yield s
