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
    # data-only packages (conf, players, console: srs.app.server.assets) map folders outside src
    data_only = {name.strip() for name, _, folder in (line.partition("=") for line in
                 cfg["options"]["package_dir"].splitlines()) if folder.strip() and name.strip() != "srs"}
    assert data_only <= listed, "a package_dir mapping names a package setup.cfg does not list"
    listed -= data_only
    in_tree = {".".join(["srs", *init.parent.relative_to(SRC).parts]) for init in SRC.rglob("__init__.py")}
    assert in_tree - listed == set(), "add these to setup.cfg [options] packages"
    assert listed - in_tree == set(), "setup.cfg lists packages the tree no longer has"
