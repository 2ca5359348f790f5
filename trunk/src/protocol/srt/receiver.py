"""SRT live-mode receiver: receive buffer, loss list, ACK/ACKACK (RTT), NAK reports and TSBPD delivery.

A packet is delivered at ``peer_start_us + timestamp + latency`` (TSBPD: the peer's clock mapped onto
ours at the handshake). A gap in sequence numbers goes to the loss list and is reported at once
(immediate NAK) and again every NAK period until it arrives. When a later packet is due and the
missing ones before it have not come (too-late packet drop), they are skipped and counted.
The buffer holds at most ``capacity`` packets after the delivery point; anything beyond is dropped.
"""
from __future__ import annotations

from .packet import MAX_NAK_RANGES, Ack, DataPacket, seq_add, seq_diff

ACK_PERIOD_US = 10_000
MIN_NAK_PERIOD_US = 20_000
NEVER_US = 1 << 62      # no timer
ACK_HISTORY = 64  # sent ACK numbers kept for ACKACK (RTT) matching


class LossList:
    """Missing sequence numbers as sorted, disjoint (first, last) ranges in circular order."""

    __slots__ = ("ranges",)

    def __init__(self):
        self.ranges = []

    def __len__(self) -> int:
        return sum(seq_diff(b, a) + 1 for a, b in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def first(self):
        return self.ranges[0][0] if self.ranges else None

    def append(self, first: int, last: int) -> None:
        """Add a range after every range held (new gaps are always past the highest received)."""
        if self.ranges and seq_add(self.ranges[-1][1]) == first:
            self.ranges[-1] = (self.ranges[-1][0], last)
        else:
            self.ranges.append((first, last))

    def remove(self, seq: int) -> bool:
        for i, (a, b) in enumerate(self.ranges):
            if seq_diff(seq, a) < 0:
                return False
            if seq_diff(seq, b) <= 0:
                parts = []
                if seq != a:
                    parts.append((a, seq_add(seq, -1)))
                if seq != b:
                    parts.append((seq_add(seq, 1), b))
                self.ranges[i:i + 1] = parts
                return True
        return False

    def remove_before(self, seq: int) -> int:
        """Forget every number before seq; returns how many were forgotten."""
        gone = 0
        while self.ranges:
            a, b = self.ranges[0]
            if seq_diff(seq, a) <= 0:
                break
            if seq_diff(seq, b) > 0:
                gone += seq_diff(b, a) + 1
                self.ranges.pop(0)
            else:
                gone += seq_diff(seq, a)
                self.ranges[0] = (seq, b)
                break
        return gone


class Receiver:
    def __init__(self, isn: int, latency_us: int, peer_start_us: int, capacity: int = 8192,
                 tlpktdrop: bool = True):
        self.latency_us = latency_us
        self.peer_start_us = peer_start_us
        self.capacity = capacity
        self.tlpktdrop = tlpktdrop
        self.head = isn                    # next sequence number to deliver
        self.max_seq = seq_add(isn, -1)    # highest sequence number received
        self.buf = {}                      # seq -> (extended timestamp, payload)
        self.loss = LossList()
        self._ts_ext = None                # last extended (wrap-corrected) timestamp seen
        self.rtt_us = 100_000
        self.rttvar_us = 50_000
        self._rtt_sampled = False
        self._ack_no = 0
        self._acks = {}                    # ack number -> sent time
        self._last_ack_seq = None
        self._next_ack_us = 0
        self._next_nak_us = 0
        self._rate_pkts = 0
        self._rate_bytes = 0
        self._rate_since_us = None
        self.pkt_rate = 0
        self.byte_rate = 0
        # statistics
        self.received = 0
        self.received_bytes = 0
        self.retransmitted = 0
        self.lost = 0           # sequence numbers found missing (each once)
        self.dropped = 0        # skipped by too-late drop (or the peer's DROPREQ)
        self.duplicates = 0     # already delivered or already buffered
        self.overflow = 0       # beyond the buffer

    # --- input
    def _extend_ts(self, ts: int) -> int:
        if self._ts_ext is None:
            self._ts_ext = ts
            return ts
        diff = (ts - self._ts_ext) & 0xFFFFFFFF
        if diff >= 0x80000000:
            diff -= 0x100000000
        ext = self._ts_ext + diff
        if ext > self._ts_ext:
            self._ts_ext = ext
        return ext

    def on_data(self, pkt: DataPacket, payload: bytes, now_us: int) -> list:
        """Store a packet; returns the loss ranges to NAK right away (a new gap), else []."""
        seq = pkt.seq
        if self._rate_since_us is None:
            self._rate_since_us = now_us
        if pkt.retransmitted:
            self.retransmitted += 1
        off = seq_diff(seq, self.head)
        if off < 0 or seq in self.buf:
            self.duplicates += 1
            return []
        if off >= self.capacity:
            self.overflow += 1
            return []
        self.received += 1
        self.received_bytes += len(payload)
        self._rate_pkts += 1
        self._rate_bytes += len(payload)
        self.buf[seq] = (self._extend_ts(pkt.timestamp), payload)
        gap = seq_diff(seq, self.max_seq)
        if gap > 1:
            first, last = seq_add(self.max_seq), seq_add(seq, -1)
            self.loss.append(first, last)
            self.lost += gap - 1
            self.max_seq = seq
            return [(first, last)]
        if gap == 1:
            self.max_seq = seq
        else:
            self.loss.remove(seq)
        return []

    def on_dropreq(self, first: int, last: int) -> None:
        """The sender gave up on first..last: stop asking for them."""
        for i in range(min(seq_diff(last, first) + 1, self.capacity)):
            seq = seq_add(first, i)
            if seq not in self.buf and seq_diff(seq, self.head) >= 0 and self.loss.remove(seq):
                self.dropped += 1

    def on_ackack(self, ack_no: int, now_us: int) -> None:
        sent = self._acks.pop(ack_no, None)
        if sent is None:
            return
        sample = now_us - sent
        if not self._rtt_sampled:  # the first sample replaces the 100 ms guess (as libsrt)
            self._rtt_sampled = True
            self.rtt_us, self.rttvar_us = sample, sample // 2
            return
        self.rttvar_us = (3 * self.rttvar_us + abs(self.rtt_us - sample)) // 4
        self.rtt_us = (7 * self.rtt_us + sample) // 8

    # --- output
    def deliver_time(self, ts_ext: int) -> int:
        return self.peer_start_us + ts_ext + self.latency_us

    def deliver(self, now_us: int) -> list:
        """Payloads whose play time has come, in sequence order (skipping what is too late)."""
        out = []
        while True:
            item = self.buf.get(self.head)
            if item is not None:
                if self.deliver_time(item[0]) > now_us:
                    break
                del self.buf[self.head]
                out.append(item[1])
                self.head = seq_add(self.head)
                continue
            if not self.buf or not self.tlpktdrop:
                break
            # The head is missing: skip it only when some later packet is already due.
            nxt = min(self.buf, key=lambda s: seq_diff(s, self.head))
            if self.deliver_time(self.buf[nxt][0]) > now_us:
                break
            skipped = seq_diff(nxt, self.head)
            self.dropped += skipped
            self.loss.remove_before(nxt)
            self.head = nxt
        if seq_diff(self.head, seq_add(self.max_seq)) > 0:
            self.max_seq = seq_add(self.head, -1)
        return out

    def flush(self) -> list:
        """Everything still buffered, in order, gaps skipped: the peer has shut down."""
        out = [self.buf.pop(s)[1] for s in sorted(self.buf, key=lambda s: seq_diff(s, self.head))]
        self.head = seq_add(self.max_seq)
        self.loss = LossList()
        return out

    def next_delivery_us(self):
        item = self.buf.get(self.head)
        if item is not None:
            return self.deliver_time(item[0])
        if self.buf and self.tlpktdrop:
            return min(self.deliver_time(ts) for ts, _ in self.buf.values())
        return None

    def ack_seq(self) -> int:
        first = self.loss.first()
        return first if first is not None else seq_add(self.max_seq)

    def on_timer(self, now_us: int) -> tuple:
        """-> (Ack to send or None, NAK ranges to send or [])."""
        ack, nak = None, []
        if now_us >= self._next_ack_us:
            self._next_ack_us = now_us + ACK_PERIOD_US
            ack = self._make_ack(now_us)
        if now_us >= self._next_nak_us:
            self._next_nak_us = now_us + max(MIN_NAK_PERIOD_US, self.rtt_us + 4 * self.rttvar_us)
            nak = self.loss.ranges[:MAX_NAK_RANGES]
        return ack, nak

    def _make_ack(self, now_us: int):
        seq = self.ack_seq()
        if self._rate_since_us is None:
            return None  # nothing received yet
        if seq == self._last_ack_seq:
            # Nothing new: repeat only an ACK that no ACKACK answered within RTT + 4 RTTVar (it or its
            # ACKACK was lost, and at the end of a stream no later ACK would replace it).
            sent = self._acks.get(self._ack_no)
            if sent is None or now_us - sent < self.rtt_us + 4 * self.rttvar_us:
                return None
        self._last_ack_seq = seq
        elapsed = now_us - self._rate_since_us
        if elapsed >= 1_000_000 or (elapsed > 0 and not self.pkt_rate):
            self.pkt_rate = self._rate_pkts * 1_000_000 // elapsed
            self.byte_rate = self._rate_bytes * 1_000_000 // elapsed
            self._rate_pkts = self._rate_bytes = 0
            self._rate_since_us = now_us
        self._ack_no = self._ack_no % 0x7FFFFFFF + 1
        self._acks[self._ack_no] = now_us
        if len(self._acks) > ACK_HISTORY:
            del self._acks[next(iter(self._acks))]
        avail = max(2, self.capacity - len(self.buf))
        return Ack(self._ack_no, seq, self.rtt_us, self.rttvar_us, avail, self.pkt_rate,
                   self.pkt_rate, self.byte_rate)

    def next_timer_us(self) -> int:
        """When ``on_timer`` has something to do: an ACK only once data came that is not yet
        acknowledged (or the last ACK awaits its ACKACK), so a connection that only sends (a
        player) is not woken every ACK period for nothing."""
        ack_due = self._rate_since_us is not None and (self.ack_seq() != self._last_ack_seq
                                                       or self._ack_no in self._acks)
        t = self._next_ack_us if ack_due else NEVER_US
        return min(t, self._next_nak_us) if self.loss else t
