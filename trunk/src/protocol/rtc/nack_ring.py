"""A bounded ring of recent outgoing RTP packets, indexed by sequence number, to answer NACKs.

One ring per published track holds the plaintext packets once (SRS: 1000 video / 100 audio);
each player's NACK is served from it and encrypted per player. A slot is reused by the packet
1 ring-size later, so a NACK for a packet that old finds a different sequence number: a miss.
"""
from __future__ import annotations

VIDEO_RING_SIZE = 1000
AUDIO_RING_SIZE = 100


class NackRing:
    def __init__(self, size: int = VIDEO_RING_SIZE):
        if size <= 0:
            raise ValueError(f"ring size {size}")
        self.size = size
        self._slots = [None] * size
        self.hits = self.misses = 0

    def put(self, pkt) -> None:
        """Keep ``pkt`` (anything with ``.seq``: an RtpPacket or a (seq, bytes) wrapper)."""
        self._slots[pkt.seq % self.size] = pkt

    def get(self, seq: int):
        pkt = self._slots[(seq & 0xFFFF) % self.size]
        if pkt is None or pkt.seq != (seq & 0xFFFF):
            self.misses += 1
            return None
        self.hits += 1
        return pkt

    def answer(self, lost) -> list:
        """The packets still held for a NACK's lost sequence numbers, in the NACK's order."""
        out = []
        for seq in lost:
            pkt = self.get(seq)
            if pkt is not None:
                out.append(pkt)
        return out
