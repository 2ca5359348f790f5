"""app/server/assets.py: the shipped confs, players and console, from a checkout or an installed package."""
from __future__ import annotations

import os

from srs.app.server.assets import PACKAGE_DIR, asset_dir, conf_path

TRUNK = os.path.dirname(PACKAGE_DIR)


def _installed(tmp_path):
    """A site-packages/srs with the data folders a wheel carries."""
    pkg = tmp_path / "site-packages" / "srs"
    for name in ("conf", "players", "console"):
        (pkg / name).mkdir(parents=True)
    (pkg / "conf" / "rtmp.conf").write_text("listen 1935;")
    return str(pkg)


def test_checkout_finds_the_tree():
    assert asset_dir("conf") == os.path.join(TRUNK, "conf")
    assert asset_dir("players") == os.path.join(TRUNK, "research", "players")
    assert asset_dir("console") == os.path.join(TRUNK, "research", "console")


def test_installed_package_first(tmp_path):
    pkg = _installed(tmp_path)
    assert asset_dir("console", pkg) == os.path.join(pkg, "console")
    assert asset_dir("conf", str(tmp_path / "nowhere" / "srs")) is None


def test_conf_path(tmp_path):
    pkg = _installed(tmp_path)
    here = tmp_path / "run"
    here.mkdir()
    shipped = os.path.join(pkg, "conf", "rtmp.conf")
    # SRS's spelling and a bare name both find the shipped conf when the folder has none
    assert conf_path("conf/rtmp.conf", str(here), pkg) == shipped
    assert conf_path("rtmp.conf", str(here), pkg) == shipped
    # a file in the folder wins; absolute paths and unknown names are left to the caller's error
    (here / "rtmp.conf").write_text("listen 1;")
    assert conf_path("rtmp.conf", str(here), pkg) == "rtmp.conf"
    assert conf_path("/etc/none.conf", str(here), pkg) == "/etc/none.conf"
    assert conf_path("conf/none.conf", str(here), pkg) == "conf/none.conf"
    # never a way out of the shipped folder
    for name in ("../rtmp.conf", "conf/../../rtmp.conf", "x/rtmp.conf", "conf/", ".."):
        assert conf_path(name, str(here), pkg) == name, name
