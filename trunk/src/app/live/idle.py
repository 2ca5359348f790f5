"""``publish { kickoff_for_idle <s>; }`` (SRS 5): a publisher nobody plays for that long is disconnected.

SRS checks it in each publisher's receive loop (SrsLiveSource::publisher_is_idle_for); here one greenlet
of the server looks at every source once a second, so publishers pay nothing per message. Idle = the
source has a publisher and no consumer (players; the hub's HLS/DVR/forward outputs are not players).
The publisher is kicked as the API kicks (the Statistic's kick entry), so its unpublish and on_close
hooks run as for any disconnect.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict

import gevent

from srs.kernel import log as srslog

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0  # the resolution of kickoff_for_idle (SRS's is its receive timeout, about as coarse)


class IdleKicker:
    """``timeout_s(vhost) -> seconds`` (0: off) is read at each check, so a reload applies at once;
    ``kick(cid) -> bool`` disconnects a client; ``sources()`` lists the live sources."""

    def __init__(self, sources: Callable[[], list], timeout_s: Callable[[str], float],
                 kick: Callable[[int], bool], clock: Callable[[], int]):
        self.sources = sources
        self.timeout_s = timeout_s
        self.kick = kick
        self.clock = clock
        self._idle_since: Dict[str, int] = {}  # source url -> ms it became idle (publisher, no consumer)

    def check(self) -> None:
        now = self.clock()
        seen = set()
        for src in self.sources():
            cid = src.publisher_cid
            if cid is None or src.consumers:
                continue
            url = src.url
            timeout_s = self.timeout_s(url.split("/", 1)[0])
            if timeout_s <= 0:
                continue
            seen.add(url)
            since = self._idle_since.setdefault(url, now)
            if now - since >= timeout_s * 1000:
                srslog.trace(log, "kickoff publisher cid=%d of %s: no player for %.1fs (kickoff_for_idle %gs)",
                             cid, url, (now - since) / 1000.0, timeout_s)
                self.kick(cid)
                seen.discard(url)
        for url in list(self._idle_since):
            if url not in seen:
                del self._idle_since[url]

    def run(self) -> None:
        """The server's greenlet (killed with the server's others at stop)."""
        srslog.set_cid(0)
        while True:
            gevent.sleep(CHECK_INTERVAL_S)
            try:
                self.check()
            except Exception:  # a bug here must not end the loop (or the server)
                log.exception("kickoff_for_idle check failed")
