"""``/console/`` on the HTTP API port: our own page (trunk/research/console) over the API, where SRS
serves its console (``http://host:1985/console/``).

It is served by the API's bottle app, so ``http_api { auth {} }`` covers it as every API route: the
browser asks once for the credentials and the page's same-origin fetches carry them; no CORS needed.
The files are the console's folder plus the two players' scripts (research/players/js) as
``/console/js/*``, listed once when the app is built: a name outside that list is a 404, so nothing
of a URL ever becomes a filesystem path.

``/console/env.json`` is what the page cannot learn from /api/v1 to build its preview links: the
HTTP server's ports and, per vhost, the HTTP-FLV mount and the HLS playlist pattern (null when the
vhost has no http_remux / no HLS under the HTTP server's folder).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Dict, Optional

import bottle

from srs.app.ports import ConfigSource
from srs.app.server.assets import asset_dir

log = logging.getLogger(__name__)

# what the console folder may serve, by extension
SERVED = {".html", ".js", ".css", ".png", ".svg", ".ico"}
PLAYER_SCRIPTS = ("mpegts.js", "hls.min.js")


def console_files(console_dir: Optional[str], players_dir: Optional[str]) -> Dict[str, str]:
    """URL name below /console/ -> file: the console's own files and the players' scripts."""
    files: Dict[str, str] = {}
    if console_dir:
        for name in sorted(os.listdir(console_dir)):
            path = os.path.join(console_dir, name)
            if os.path.isfile(path) and os.path.splitext(name)[1] in SERVED:
                files[name] = path
    if players_dir:
        for name in PLAYER_SCRIPTS:
            path = os.path.join(players_dir, "js", name)
            if os.path.isfile(path):
                files["js/" + name] = path
    return files


def _hls_prefix(hls_path: str, http_dir: str) -> Optional[str]:
    """Where hls_path's files are on the HTTP server ("" for its root), None when not below its dir."""
    hls, root = os.path.abspath(hls_path), os.path.abspath(http_dir)
    if hls == root:
        return ""
    if not hls.startswith(root + os.sep):
        return None
    return os.path.relpath(hls, root).replace(os.sep, "/") + "/"


def console_env(config) -> dict:
    """The body of /console/env.json for the running ``config``."""
    http = config.http_server
    rtc_server = config.rtc_server.enabled
    vhosts = []
    for vc in config.vhosts:
        flv = vc.http_remux.mount if vc.http_remux.enabled and http.enabled else None
        hls = None
        if vc.hls.enabled and http.enabled:
            prefix = _hls_prefix(vc.hls.hls_path, http.dir)
            hls = None if prefix is None else prefix + vc.hls.hls_m3u8_file
        # WHEP plays a stream of this vhost (an RTMP one needs rtmp_to_rtc, as the signalling asks)
        webrtc = bool(rtc_server and vc.rtc.enabled and vc.rtc.rtmp_to_rtc)
        vhosts.append({"name": vc.name, "flv": flv, "hls": hls, "webrtc": webrtc})
    return {"http_server": {"enabled": http.enabled, "port": http.listen[1]},
            "https_server": {"enabled": http.https.enabled, "port": http.https.listen[1]},
            "vhosts": vhosts}


def mount(app: bottle.Bottle, config: ConfigSource) -> None:
    """Adds the console's routes to the API ``app`` (read ``config`` at each request)."""
    files = console_files(asset_dir("console"), asset_dir("players"))
    if "index.html" not in files:
        log.warning("console: no index.html found (research/console or the installed srs/console)")

    def serve(name: str = "index.html"):
        path = files.get(name)
        if path is None:
            raise bottle.HTTPError(404)
        res = bottle.static_file(os.path.basename(path), root=os.path.dirname(path))
        res.set_header("Cache-Control", "no-cache")  # a new version shows at the next reload
        return res

    def env() -> str:
        bottle.response.content_type = "application/json"
        bottle.response.set_header("Cache-Control", "no-store")
        return json.dumps(console_env(config()), separators=(",", ":"))

    app.route("/console", callback=lambda: bottle.redirect("/console/", 302))
    app.route("/console/", callback=serve)
    app.route("/console/env.json", callback=env)
    app.route("/console/<name:path>", callback=serve)
