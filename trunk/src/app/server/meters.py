"""What each playing output has sent, counted into the statistic by sampling (the Server's pithy
greenlet), never per send: a ``SendMeter`` (app.ports) for RTMP and HTTP players."""
from __future__ import annotations

from typing import Dict, List

from srs.app.api.statistic import Statistic
from srs.app.ports import SentBytes


class SendMeters:
    def __init__(self, statistic: Statistic):
        self.statistic = statistic
        self.meters: Dict[int, List] = {}  # cid -> [output, its sent bytes already counted]

    def meter(self, cid: int, output: SentBytes) -> None:
        """Count what ``output`` sends while it lives."""
        self.meters[cid] = [output, output.sent_bytes]

    def unmeter(self, cid: int) -> None:
        m = self.meters.pop(cid, None)
        if m is not None:
            self.statistic.add_bytes(cid, 0, m[0].sent_bytes - m[1])

    def sample(self) -> None:
        add = self.statistic.add_bytes
        for cid, m in self.meters.items():
            sent = m[0].sent_bytes
            if sent != m[1]:
                add(cid, 0, sent - m[1])
                m[1] = sent
