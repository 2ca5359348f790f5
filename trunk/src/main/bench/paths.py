"""Where the bench finds its files: the trunk directory (research/bench templates, objs/, utest's
media generator), from the installed package's location (an editable install of trunk/src)."""
from __future__ import annotations

import os

import srs


def trunk_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(srs.__file__)))
