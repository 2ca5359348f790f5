"""Reload of the live features that are hub outputs of a source: ``dvr {}`` and ``forward``.

SRS (on_reload_vhost_dvr / on_reload_vhost_forward) tears the component of every live source of the
changed vhost down and builds it again from the new config: a recording in progress is closed (its
on_dvr hook fires) and a new one starts under the new settings; forwarders are stopped and the new
destinations started. Here that is: for each source of the vhost, remove the hub outputs of that
kind (``remove_hub_output`` runs their on_unpublish while the stream is published) and add what the
kind's hub factory builds now (``add_hub_output`` runs on_publish and replays metadata and sequence
headers; the video of a new DVR file starts at the next keyframe).

The other live knobs need nothing here: HLS has its own handler (hls.HlsManager.on_reload), the
source options (gop_cache, queue_length, time_jitter, mw_latency...) are refreshed by the server,
and http_remux mounts, security, refer, hooks and chunk_size are read from the config on each use.
A mode change (origin <-> edge) never reaches this: config_reload.diff refuses the whole reload.
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, Dict, Iterable, Optional, Tuple

from srs.app.cluster import forward
from srs.app.config.reload import Change
from srs.app.dvr import plan as dvr
from srs.app.live.source import SourceRegistry

log = logging.getLogger(__name__)

# change kind -> (the hub output type of that feature, the module function its factory wraps)
FEATURES: Dict[str, Tuple[type, Callable]] = {
    "dvr": (dvr.Dvr, dvr.make_hub_output),
    "forward": (forward.ForwardHub, forward.make_hub_output),
}


class LiveReload:
    """A ``server.reload_handlers`` entry (called as ``handler(old, new, changes)``); it needs only
    the source registry: its sources and the hub factories the server registered on it."""

    def __init__(self, sources: SourceRegistry):
        self.sources = sources

    def __call__(self, old=None, new=None, changes: Iterable[Change] = ()) -> None:
        done = set()
        for change in changes:
            kind, vhost = change.kind, change.vhost
            if kind in FEATURES and vhost is not None and (kind, vhost) not in done:
                done.add((kind, vhost))
                self.restart(kind, vhost)

    def factory(self, kind: str) -> Optional[Callable]:
        """The registered hub factory of ``kind`` (a partial of its module's make_hub_output), or
        None when the server does not run that feature."""
        func = FEATURES[kind][1]
        for f in self.sources.hub_factories:
            if (f.func if isinstance(f, functools.partial) else f) is func:
                return f
        return None

    def restart(self, kind: str, vhost: str) -> int:
        """Rebuild ``kind`` on every source of ``vhost``; returns how many sources now have it."""
        out_type = FEATURES[kind][0]
        factory = self.factory(kind)
        if factory is None:
            return 0
        nb = 0
        for src in list(self.sources.sources.values()):
            if src.url.split("/", 1)[0] != vhost:
                continue
            for out in [o for o in src.hub if isinstance(o, out_type)]:
                src.remove_hub_output(out)
            out = factory(src, vhost)
            if out is not None:
                src.add_hub_output(out)
                nb += 1
            log.info("reload %s of %s: %s", kind, src.url, "restarted" if out is not None else "stopped")
        return nb
