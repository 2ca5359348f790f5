"""``GET /<app>/<stream>.jpg`` and ``.png`` (``?w=320``, ``?h=``): the latest keyframe of a live stream.

The HTTP server's live router (app/http/stream.py) asks ``SnapshotRoute.serve`` first for a path
ending in .jpg/.png; False means "not ours" and the static files answer (a periodic snapshot file
of a stream that is no longer live, a logo...). Answers: 200 with the picture (no-cache: it changes
at the next keyframe), 400 for a bad name or size, 404 when the stream is not live or has no
decodable keyframe yet (and no such file exists), 403 when the vhost's ``security`` or ``on_play``
hook refuses the client (a picture of a stream is a play of it), 503 when the workers are busy.
"""
from __future__ import annotations

import logging
import os
from typing import Optional, Tuple

from srs.app.http.stream import authorize_play, play_request
from srs.app.ports import ConfigSource, PlayHooks
from srs.app.server.file_root import show_name
from srs.app.snapshot.cache import Snapshots
from srs.app.snapshot.image import FORMATS
from srs.kernel.errors import AccessDenied, RequestError
from srs.kernel.log import trace
from srs.protocol import names

log = logging.getLogger(__name__)

EXTENSIONS = (".jpg", ".png")
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def parse_size(query: dict, key: str, limit: int) -> int:
    """``?w=``/``?h=``: 0 when absent, else an integer in [2, limit]; RequestError otherwise."""
    text = query.get(key)
    if text is None or text == "":
        return 0
    if not text.isdigit() or len(text) > 5 or not 2 <= int(text) <= limit:
        raise RequestError("snapshot %s=%s: expect an integer in [2, %d]" % (key, show_name(text), limit))
    return int(text)


def split_path(path: str) -> Optional[Tuple[str, str, str]]:
    """``/live/livestream.jpg`` -> ("live", "livestream", "jpg"); None for a path with no app part."""
    base, dot, ext = path.rpartition(".")
    app, slash, stream = base.strip("/").rpartition("/")
    if not dot or not slash or ext not in FORMATS:
        return None
    return app, stream, ext


class SnapshotRoute:
    def __init__(self, snapshots: Snapshots, config: ConfigSource, hooks: PlayHooks):
        self.snapshots = snapshots
        self.config = config
        self.hooks = hooks

    def serve(self, conn, req, root_dir: str) -> bool:
        """Answer a snapshot request (True), or leave it to the static files (False)."""
        vc = self.config().vhost(req.host or "")
        parts = split_path(req.path)
        if vc is None or not vc.enabled or not vc.snapshot.http or parts is None:
            return False
        app, stream, fmt = parts
        cfg = vc.snapshot
        try:
            names.check_path_name("app", app)
            names.check_path_name("stream", stream)
            want_w = parse_size(req.query, "w", cfg.max_width)
            want_h = parse_size(req.query, "h", cfg.max_height)
        except RequestError as e:
            log.warning("HTTP client %s snapshot refused: %s", conn.ip, e)
            conn.send_response(400, _TEXT, b"bad snapshot request\n")
            return True
        url = "%s/%s/%s" % (vc.name, app, stream)
        out = self.snapshots.find(url)
        if out is not None and out.keyframe is not None:
            try:  # a picture of the stream is a play of it: the same security rules and on_play hook
                authorize_play(self.hooks, vc, play_request(req, conn, vc.name, app, stream), conn.cid, conn.ip)
            except AccessDenied as e:
                log.warning("HTTP snapshot %s denied: %s", show_name(url), e)
                conn.send_response(403, _TEXT, b"forbidden\n")
                return True
        data = out.picture(fmt, want_w, want_h) if out is not None else None
        if data is None:
            if os.path.isfile(os.path.join(root_dir, req.path.lstrip("/"))):
                return False  # a snapshot file written while it was live (or any file of that name)
            trace(log, "snapshot %s: no live video", show_name(url))
            conn.send_response(404, _TEXT, b"no video\n")
            return True
        conn.send_response(200, [("Content-Type", FORMATS[fmt][2]), ("Cache-Control", "no-cache")], data)
        return True
