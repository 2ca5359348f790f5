"""Start every enabled ``stream_caster {}`` of the config; ``stop()`` stops them all.

SRS 2.0 starts casters once, with the server; a reload does not restart them (the config
reload lists stream_caster as TODO), and neither do we.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence

from srs.app.casters.flv import FlvCaster
from srs.app.casters.mpegts import MpegtsCaster
from srs.app.casters.output import CasterPorts
from srs.app.casters.rtsp import RtspCaster
from srs.kernel.errors import SrsError

log = logging.getLogger(__name__)


# stream_caster's ``caster`` directive -> the class that runs it
CASTER_CLASSES: Dict[str, type] = {"mpegts_over_udp": MpegtsCaster, "rtsp": RtspCaster, "flv": FlvCaster}


class Casters:
    def __init__(self, casters: List):
        self.casters = casters

    def stop(self) -> None:
        for c in self.casters:
            try:
                c.stop()
            except Exception:  # noqa: BLE001 - stop the others anyway
                log.exception("stop caster %s failed", type(c).__name__)
        self.casters = []


def start_casters(confs: Sequence, parts: CasterPorts) -> Casters:
    """Start the enabled casters. As SRS, a caster that cannot listen fails the server start:
    the ones already started are stopped and the SrsError propagates."""
    started = []
    for conf in confs:  # the config's stream_casters
        if not conf.enabled:
            continue
        cls = CASTER_CLASSES.get(conf.caster)
        if cls is None:
            log.warning("stream_caster %r is not supported, ignored", conf.caster)
            continue
        caster = cls(parts, conf)
        try:
            caster.start()
        except SrsError as e:
            log.error("stream_caster %s failed to start: %s", conf.caster, e)
            Casters(started).stop()
            raise
        started.append(caster)
    return Casters(started)
