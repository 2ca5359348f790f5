"""Files named by clients stay inside their configured root (issue 18 §1, the file layer).

Every output file whose path is built from a template with client parts (``[vhost] [app]
[stream] [param]``: HLS m3u8/ts/keys, DVR, HDS, exec/transcode/ingest logs) goes through
``confine(root, relative)`` before anything touches the disk, and every cleanup through
``unlink_confined``. The name checks at the protocol boundary are the first depth; this is the
second, so a name that slips past them (a new protocol, an admin template with ``[param]``) still
cannot write, create a directory or delete outside the root.

    path = confine(cfg.hls_path, "live/../../etc/x.m3u8")   # raises PathOutsideRoot
    path = confine(cfg.hls_path, "live/s.m3u8")             # -> cfg.hls_path + "/live/s.m3u8"

The rules, on the part of the path after the root (the template with client parts substituted):
- no ``..`` component, no NUL, nothing that cannot be encoded as a file name (lone surrogates);
  no component over NAME_MAX bytes and no path over PATH_MAX bytes (refused here rather than as
  ENAMETOOLONG half-way through a makedirs);
- symlinks: the ROOT is resolved (``realpath``), so an admin may mount the output directory as a
  symlink (``hls_path ./objs/nginx/html`` -> ``/data/hls``). Below the root, the deepest existing
  directory of the target must still resolve inside the resolved root: a symlink inside the root
  that points elsewhere is refused too. That defends a root shared with other local users (a
  planted ``root/live -> /etc``); an admin who wants a sub-directory on another disk points the
  root itself there (or mounts the disk there).
The path returned is the root as configured + "/" + the relative part, unchanged, so hooks, URIs
and logs keep SRS's form. A refusal is a ``PathOutsideRoot`` whose message shows the names
escaped (``%r``); the caller logs it once and stops that output for the publish.
"""
from __future__ import annotations

import logging
import os

from srs.kernel.errors import ERROR_SYSTEM_PATH_OUTSIDE_ROOT, SrsError

log = logging.getLogger(__name__)

NAME_MAX = 255    # bytes in one path component (Linux)
PATH_MAX = 4096   # bytes in a whole path (Linux)


class PathOutsideRoot(SrsError):
    """A file path built from a template would leave (or cannot be checked against) its root."""

    code = ERROR_SYSTEM_PATH_OUTSIDE_ROOT
    peer = True  # almost always a client-chosen name; the admin's templates are checked the same way


SHOW_CHARS = 200  # a refused name is logged escaped and cut: a 10 KB name must not make a 10 KB line


def show_name(name: str) -> str:
    """A client string for a log line: escaped (repr) and cut at SHOW_CHARS."""
    if len(name) <= SHOW_CHARS:
        return repr(name)
    return "%r...(%d chars)" % (name[:SHOW_CHARS], len(name))


def _refuse(root: str, relative: str, why: str) -> PathOutsideRoot:
    return PathOutsideRoot("refused path %s under root %r: %s" % (show_name(relative), root, why))


def _inside(path: str, real_root: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip("/") + "/")


def confine(root: str, relative: str, cwd: str = "") -> str:
    """``root + "/" + relative`` once checked to stay inside ``root`` (a relative root is taken
    from ``cwd``, or the process's cwd). Raises PathOutsideRoot; touches nothing but lstat."""
    bare = not root  # no directory in the template: the path is the relative part itself
    root = root or "."
    if "\x00" in root or "\x00" in relative:
        raise _refuse(root, relative, "NUL byte")
    try:
        encoded = os.fsencode(relative)
        os.fsencode(root)
    except UnicodeEncodeError:
        raise _refuse(root, relative, "not encodable as a file name") from None
    parts = relative.split("/")
    if ".." in parts:
        raise _refuse(root, relative, "'..' component")
    if any(len(os.fsencode(p)) > NAME_MAX for p in parts):
        raise _refuse(root, relative, "component longer than %d bytes" % NAME_MAX)
    path = relative if bare else (root.rstrip("/") + "/" + relative if root != "/" else "/" + relative)
    full = os.path.join(cwd, path) if cwd else path
    if len(encoded) > PATH_MAX or len(os.fsencode(full)) > PATH_MAX:
        raise _refuse(root, relative, "path longer than %d bytes" % PATH_MAX)
    root_full = os.path.abspath(os.path.join(cwd, root) if cwd else root)
    target = os.path.abspath(full)
    if not _inside(target, root_full):
        raise _refuse(root, relative, "not below the root")  # an absolute name in a bare template
    real_root = os.path.realpath(root_full)
    # The deepest existing directory below the root decides where the kernel creates the rest:
    # what does not exist yet cannot be a symlink, and holds no ".." (checked above). Up to the
    # root itself (which may not exist yet: makedirs creates it) nothing is the client's.
    parent = os.path.dirname(target)
    while parent != root_full and len(parent) > len(root_full) and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if parent != root_full and not _inside(os.path.realpath(parent), real_root):
        raise _refuse(root, relative, "resolves to %r, outside %r" % (os.path.realpath(parent), real_root))
    if os.path.islink(full) and not _inside(os.path.realpath(full), real_root):
        raise _refuse(root, relative, "a symlink to %r, outside %r" % (os.path.realpath(full), real_root))
    return path


def relative_to(root: str, path: str) -> str:
    """The part of ``path`` after ``root + "/"`` (as ``confine`` built it); raises PathOutsideRoot
    when ``path`` was not built under ``root``."""
    if not root:
        return path
    prefix = root.rstrip("/") + "/" if root != "/" else "/"
    if not path.startswith(prefix):
        raise _refuse(root, path, "not built under the root")
    return path[len(prefix):]


def unlink_confined(root: str, path: str, cwd: str = "") -> bool:
    """Delete ``path`` (built as ``root + "/" + relative``) only if it is still inside ``root``.
    True when a file was removed; False when absent. Raises PathOutsideRoot; other OSErrors
    propagate."""
    confine(root, relative_to(root, path), cwd)
    full = os.path.join(cwd, path) if cwd else path
    try:
        os.unlink(full)
        return True
    except FileNotFoundError:
        return False


def remove_inside(root: str, path: str, tag: str, cwd: str = "") -> bool:
    """unlink_confined for cleanups (hls_cleanup, hls_dispose, HDS window): never raises; a refusal
    or an OSError is one log line, tagged with the stream (``tag``, shown escaped)."""
    try:
        return unlink_confined(root, path, cwd)
    except PathOutsideRoot as e:
        log.error("%s: not deleted: %s", show_name(tag), e)
    except OSError as e:
        log.warning("%s: unlink %s failed: %s", show_name(tag), show_name(path), e)
    return False


def confined_argument(template: str, value: str) -> str:
    """A program argument (exec, transcode) with the stream's names substituted into ``template``.

    We cannot tell which arguments are files (``-y ./[app]-[stream].flv``), so every one is held
    to what its template allows: no NUL (Popen would raise ValueError deep inside), no ``..``
    component the template did not have, and not absolute when the template is not. Raises
    PathOutsideRoot."""
    if "\x00" in value:
        raise _refuse("", value, "NUL byte in a program argument")
    if value.split("/").count("..") > template.split("/").count(".."):
        raise _refuse("", value, "'..' component in a program argument (template %r)" % template)
    if value.startswith("/") and not template.startswith("/"):
        raise _refuse("", value, "absolute program argument (template %r)" % template)
    return value


def template_root(template: str) -> tuple:
    """Split a path template into (root, rest): the root is the directory part before the first
    ``[`` variable (every variable, client or clock, is below it), as for ``dvr_path``.

    ``./objs/nginx/html/[app]/[stream].[timestamp].flv`` -> (``./objs/nginx/html``, ``[app]/...``);
    a template without variables -> (its directory, its file name); no directory -> ("", template).
    """
    cut = template.find("[")
    head = template if cut < 0 else template[:cut]
    slash = head.rfind("/")
    if slash < 0:
        return "", template
    if slash == 0:
        return "/", template[1:]
    return template[:slash], template[slash + 1:]


def write_file_atomic(path: str, data: bytes) -> None:
    """Write ``path`` (already confined) through ``path.tmp`` + rename, creating its directories:
    a reader (the HTTP server, nginx) sees the old file or the new one, never half of one."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
