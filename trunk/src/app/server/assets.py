"""Where the files shipped beside the code are: the sample confs, the players and the console page.

In a checkout (and an editable install) they are trunk/conf, trunk/research/players and
trunk/research/console, beside trunk/src (the ``srs`` package). A wheel (``pip install .``) carries
them inside the package as srs/conf, srs/players and srs/console (setup.cfg maps these data-only
packages), so ``srs -c conf/srs.conf`` and ``/console/`` work from any directory of any install.

    asset_dir("console")            # -> ".../trunk/research/console" or ".../site-packages/srs/console"
    conf_path("conf/rtmp.conf")     # "conf/rtmp.conf" when it exists from here, else the shipped one
"""
from __future__ import annotations

import os
from typing import Optional

# trunk/src in a checkout, site-packages/srs in a wheel install (symlinks resolved: a linked package finds its tree)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
# asset -> its folder in the source tree, relative to trunk/
TREE_DIRS = {"conf": "conf", "players": os.path.join("research", "players"),
             "console": os.path.join("research", "console")}


def asset_dir(name: str, package_dir: str = PACKAGE_DIR) -> Optional[str]:
    """The folder of asset ``name`` (a key of TREE_DIRS): the installed copy first, else the tree's."""
    installed = os.path.join(package_dir, name)
    if os.path.isdir(installed):
        return installed
    tree = os.path.join(os.path.dirname(package_dir), TREE_DIRS[name])
    return tree if os.path.isdir(tree) else None


def conf_path(path: str, cwd: str = "", package_dir: str = PACKAGE_DIR) -> str:
    """``path`` as given when it names a file (SRS's ``-c conf/srs.conf`` from trunk/), else the shipped
    conf of that name (``conf/srs.conf`` or ``srs.conf`` -> <conf dir>/srs.conf), else ``path``
    unchanged so the caller reports the missing file under the name the user typed."""
    full = path if os.path.isabs(path) else os.path.join(cwd or os.getcwd(), path)
    if os.path.isfile(full) or os.path.isabs(path):
        return path
    folder = asset_dir("conf", package_dir)
    if folder is None:
        return path
    rel = os.path.normpath(path)
    if rel.startswith("conf" + os.sep):
        rel = rel[len("conf" + os.sep):]
    # only a plain name of the shipped folder: never a way out of it ("../x", "a/b.conf")
    if os.sep in rel or rel in ("", ".", ".."):
        return path
    shipped = os.path.join(folder, rel)
    return shipped if os.path.isfile(shipped) else path
