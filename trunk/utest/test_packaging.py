"""``make install`` (pip install of the root setup.cfg) ships every package of the tree: a new
subpackage (app/srt, protocol/rtc, ...) missing from ``packages =`` would install a server that
fails at its first import of it."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "trunk" / "src"


def test_setup_cfg_lists_every_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = {line.strip() for line in cfg["options"]["packages"].splitlines() if line.strip()}
    in_tree = {".".join(["srs", *init.parent.relative_to(SRC).parts]) for init in SRC.rglob("__init__.py")}
    assert in_tree - listed == set(), "add these to setup.cfg [options] packages"
    assert listed - in_tree == set(), "setup.cfg lists packages the tree no longer has"
