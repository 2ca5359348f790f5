"""The table's snapshot rows: ``vhost { snapshot {} }`` (issue 14; SRS has no such block).

    snapshot { enabled on; interval 10; path ./objs/nginx/html/[app]/[stream].jpg; }

``http`` (default on) serves the latest keyframe of a live stream as ``GET /<app>/<stream>.jpg`` or
``.png`` on the HTTP server (app/snapshot/http.py); ``enabled`` adds the periodic files, written every
``interval`` seconds to ``path`` (``[vhost] [app] [stream]``, confined below the part before the first
variable, a ``.png`` suffix writes PNG). ``max_width``/``max_height`` bound the ``?w=``/``?h=`` a client
may ask. Read on each use (no reload event): the next request or tick sees a reload. The env forms
come from the paths (SRS_VHOST_SNAPSHOT_ENABLED, SRS_VHOST_SNAPSHOT_INTERVAL...).
"""
from __future__ import annotations

from srs.app.config.row import FLAG, ON_USE, PERIOD, POSITIVE, STR, Row, block
from srs.app.config.rows_global import DEFAULT_HTML_DIR

SNAPSHOT_ROWS = (
    block("vhost.snapshot", reload=ON_USE),
    Row("vhost.snapshot.enabled", FLAG, False),
    Row("vhost.snapshot.http", FLAG, True),
    Row("vhost.snapshot.interval", PERIOD, 10.0),
    Row("vhost.snapshot.path", STR, DEFAULT_HTML_DIR + "/[app]/[stream].jpg"),
    Row("vhost.snapshot.max_width", POSITIVE, 1920),
    Row("vhost.snapshot.max_height", POSITIVE, 1080),
)
