"""A bounded reordering jitter buffer for an RTC publisher's track, that decides which NACKs to send.

Packets are pushed as they arrive (any order, 16-bit sequence wrap); ``pop`` releases them in
sequence order. A hole is waited for while NACKs are sent for it (first after ``first_nack_ms``,
then every ``interval_ms``, at most ``max_tries``: SRS's 10/50/15) and given up after
``max_wait_ms`` or when more than ``capacity`` packets are held; a give-up is counted so the caller
sends a PLI. Time is the caller's ``now_ms``.
"""
from __future__ import annotations


class _Missing:
    __slots__ = ("since", "next_nack", "tries")

    def __init__(self, now_ms: int, first_nack_ms: int):
        self.since = now_ms
        self.next_nack = now_ms + first_nack_ms
        self.tries = 0


class JitterBuffer:
    def __init__(self, capacity: int = 1000, max_wait_ms: int = 1000, first_nack_ms: int = 10,
                 interval_ms: int = 50, max_tries: int = 15):
        self.capacity = capacity
        self.max_wait_ms = max_wait_ms
        self.first_nack_ms = first_nack_ms
        self.interval_ms = interval_ms
        self.max_tries = max_tries
        self.next = None               # the next sequence number to release
        self._held: dict = {}
        self._missing: dict = {}       # seq -> _Missing
        self._highest = None
        self.gave_up = 0               # packets skipped as lost (the caller asks for a keyframe)
        self.duplicates = 0
        self.late = 0

    def _diff(self, a: int, b: int) -> int:
        """a - b on the 16-bit circle, in [-32768, 32767]."""
        return ((a - b + 0x8000) & 0xFFFF) - 0x8000

    def push(self, pkt, now_ms: int) -> None:
        seq = pkt.seq & 0xFFFF
        if self.next is None:
            self.next = seq
            self._highest = seq
        behind = self._diff(seq, self.next)
        if behind < -self.capacity:      # far behind: the publisher restarted its sequence
            self.gave_up += len(self._missing)
            self._held.clear()
            self._missing.clear()
            self.next = self._highest = seq
        elif behind < 0:
            self.late += 1               # already released or skipped: too late to use
            return
        if seq in self._held:
            self.duplicates += 1
            return
        if self._diff(seq, self._highest) > 0:
            gap = self._diff(seq, self._highest)
            if gap > self.capacity:      # a jump (restart or hostile seq): resync at this packet
                self.gave_up += len(self._missing)
                self._held.clear()
                self._missing.clear()
                self.next = seq
            else:
                for i in range(1, gap):
                    self._missing[(self._highest + i) & 0xFFFF] = _Missing(now_ms, self.first_nack_ms)
            self._highest = seq
        self._missing.pop(seq, None)
        self._held[seq] = pkt

    def nacks(self, now_ms: int) -> list:
        """Sequence numbers to NACK now; each missing packet is asked at most ``max_tries`` times."""
        out = []
        for seq, m in self._missing.items():
            if m.tries < self.max_tries and now_ms >= m.next_nack:
                m.tries += 1
                m.next_nack = now_ms + self.interval_ms
                out.append(seq)
        return out

    def pop(self, now_ms: int) -> list:
        """Packets ready in order; holes older than ``max_wait_ms`` (or beyond capacity) are skipped."""
        out = []
        while self.next is not None and (self._held or self._missing):
            pkt = self._held.pop(self.next, None)
            if pkt is not None:
                out.append(pkt)
                self.next = (self.next + 1) & 0xFFFF
                continue
            m = self._missing.get(self.next)
            expired = m is None or now_ms - m.since >= self.max_wait_ms or len(self._held) > self.capacity
            if not expired:
                break
            self._missing.pop(self.next, None)
            self.gave_up += 1
            self.next = (self.next + 1) & 0xFFFF
        return out

    @property
    def held(self) -> int:
        return len(self._held)
