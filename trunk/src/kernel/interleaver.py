"""Audio and video messages of one stream put back in timestamp order (sans-IO).

TS muxers bundle up to 0.7 s of AAC frames in one PES and RTP sends a burst of them in one
packet; a publish whose audio runs that far ahead of its video looks like jitter to the server
(time_jitter full turns every jump over 250 ms into 10 ms), which stretched the casters' output
to half speed. The casters therefore pass their messages through an ``Interleaver``.
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, List

from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

__all__ = ["Interleaver", "INTERLEAVE_MS", "MAX_QUEUED"]

INTERLEAVE_MS = 1500  # a track silent for this much stream time no longer holds the other back
MAX_QUEUED = 1024     # messages held at most: a stalled clock (untrusted input) must not grow the queues


class Interleaver:
    """Audio and video messages in, the same messages out in timestamp order.

    A message leaves once every expected track has something queued (so nothing older can still
    come), or once it is ``window_ms`` older than the newest queued message (a track that stopped
    or never comes costs that much latency, no more), or once ``max_queued`` messages are held
    (timestamps that do not advance never open the window). ``expect`` names the tracks the input
    announced (PMT, SDP); until then both are expected. Other messages (metadata) are never
    waited for and leave as soon as they are the oldest.
    """

    AV = (MSG_VIDEO, MSG_AUDIO)

    def __init__(self, window_ms: int = INTERLEAVE_MS, max_queued: int = MAX_QUEUED):
        self.window_ms = window_ms
        self.max_queued = max_queued
        self.queued = 0
        self.expected = set(self.AV)
        self.queues = {MSG_VIDEO: deque(), MSG_AUDIO: deque(), None: deque()}

    def expect(self, kinds: Iterable[int]) -> None:
        kinds = set(kinds) & set(self.AV)
        if kinds:
            self.expected = kinds

    def push(self, msgs) -> List[Message]:
        for m in msgs:
            self.queues[m.kind if m.kind in self.queues else None].append(m)
            self.queued += 1
        return self._drain(False)

    def flush(self) -> List[Message]:
        return self._drain(True)

    def _drain(self, everything: bool) -> List[Message]:
        out: List[Message] = []
        queues = self.queues
        while True:
            heads = [q for q in queues.values() if q]
            if not heads:
                return out
            q = min(heads, key=lambda d: d[0].ts_ms)
            # the newest is the latest tail (not a running max: a source that restarts its
            # clock must not open the window for good)
            if not (everything or q is queues[None] or self.queued > self.max_queued
                    or all(queues[k] for k in self.expected)
                    or max(d[-1].ts_ms for d in heads) - q[0].ts_ms > self.window_ms):
                return out
            out.append(q.popleft())
            self.queued -= 1
