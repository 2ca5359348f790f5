"""SRT live-mode sender: sequence numbers, the send buffer kept for retransmission, ACK and NAK handling.

Each payload is one message (PP = solo). A packet stays in the buffer until the peer acknowledges it
or it is older than ``drop_us`` (past that, the receiver's TSBPD would drop it anyway; libsrt uses
max(1 s, 1.25 x latency) and so do we). NAKs for packets still held are answered with the original
bytes and the R flag set; NAKs for packets already gone get a DROPREQ so the peer stops asking.

The buffer is a deque of batches (first sequence number, [datagram as sent], send time), one per
``send_all``, holding ``first_seq .. next_seq - 1``, all unacknowledged: a send appends the list it
returns (no packet object, no copy), an ACK pops whole batches (trimming the head one), a NAK finds
its batch. This is the per-packet path of every SRT player (a thousand per stream in the
benchmark), so its Python work per packet is one header and one concatenation.
"""
from __future__ import annotations

import struct
from collections import deque

from .packet import MSGNO_MASK, PP_SOLO, SEQ_MASK, Ack, build_dropreq, seq_add, seq_diff

MAX_REXMIT_PER_NAK = 512  # bound the burst one NAK can trigger
_HEADER = struct.Struct(">IIII")
_SOLO = PP_SOLO << 30
_R_FLAG = 0x04            # the retransmitted flag: bit 26 of the second word, in its first byte


def sender_drop_us(latency_us: int) -> int:
    return max(1_000_000, latency_us * 5 // 4)


class Sender:
    def __init__(self, isn: int, peer_id: int, start_us: int, latency_us: int, capacity: int = 8192):
        self.next_seq = isn
        self.peer_id = peer_id
        self.start_us = start_us
        self.drop_us = sender_drop_us(latency_us)
        self.capacity = capacity
        self.msgno = 1
        self.buf = deque()        # (first seq, [datagram], send time): first_seq .. next_seq - 1
        self.held_count = 0
        self.last_acked = isn
        self.rtt_us = 100_000
        # statistics
        self.sent = 0
        self.sent_bytes = 0
        self.retransmitted = 0
        self.dropped = 0          # left the buffer unacknowledged (too old or overflow)

    @property
    def first_seq(self) -> int:
        return self.buf[0][0] if self.buf else self.next_seq

    def held(self) -> list:
        """The sequence numbers still held for retransmission."""
        return [seq_add(first, i) for first, dgrams, _ in self.buf for i in range(len(dgrams))]

    def timestamp(self, now_us: int) -> int:
        return (now_us - self.start_us) & 0xFFFFFFFF

    def send(self, payload: bytes, now_us: int, encrypt=None) -> bytes:
        """One payload -> one data packet; ``encrypt(seq, payload) -> (kk, bytes)`` when a cipher is set."""
        return self.send_all((payload,), now_us, encrypt)[0]

    def send_all(self, payloads, now_us: int, encrypt=None) -> list:
        """Payloads -> their data packets, numbered in order (the players' fan-out path)."""
        n = len(payloads)
        if not n:
            return []
        pack, peer, seq, m0 = _HEADER.pack, self.peer_id, self.next_seq, self.msgno - 1
        ts = (now_us - self.start_us) & 0xFFFFFFFF
        if encrypt is None:
            out = [pack((seq + i) & SEQ_MASK, _SOLO | ((m0 + i) % MSGNO_MASK + 1), ts, peer) + p
                   for i, p in enumerate(payloads)]
        else:
            out = []
            for i, p in enumerate(payloads):
                kk, body = encrypt((seq + i) & SEQ_MASK, p)
                out.append(pack((seq + i) & SEQ_MASK, _SOLO | (kk << 27) | ((m0 + i) % MSGNO_MASK + 1), ts,
                                peer) + body)
        self.next_seq = (seq + n) & SEQ_MASK
        self.msgno = (m0 + n) % MSGNO_MASK + 1
        self.sent += n
        self.sent_bytes += sum(map(len, payloads))
        buf = self.buf
        buf.append((seq, out, now_us))
        self.held_count += n
        if self.held_count > self.capacity:
            self._pop(self.held_count - self.capacity, count_dropped=True)
        # the time bound, here too (not only on the timer): a peer that never ACKs costs at most
        # drop_us of packets; only the head batch is looked at
        if buf[0][2] <= now_us - self.drop_us:
            self.drop_old(now_us)
        return out

    def _pop(self, n: int, count_dropped: bool) -> None:
        """Forget the ``n`` oldest packets held."""
        buf = self.buf
        while n > 0 and buf:
            first, dgrams, t = buf[0]
            if len(dgrams) <= n:
                buf.popleft()
                k = len(dgrams)
            else:
                buf[0] = (seq_add(first, n), dgrams[n:], t)
                k = n
            n -= k
            self.held_count -= k
            if count_dropped:
                self.dropped += k

    def on_ack(self, ack: Ack) -> None:
        if seq_diff(ack.last_ack_seq, self.next_seq) > 0:
            return  # acknowledges what we never sent: ignore
        if seq_diff(ack.last_ack_seq, self.last_acked) > 0:
            self.last_acked = ack.last_ack_seq
        n = seq_diff(self.last_acked, self.first_seq)
        if n > 0:
            self._pop(n, count_dropped=False)
        if not ack.light and ack.rtt_us:
            self.rtt_us = ack.rtt_us

    def _find(self, seq: int):
        for first, dgrams, _ in self.buf:
            idx = seq_diff(seq, first)
            if idx < 0:
                return None
            if idx < len(dgrams):
                return dgrams[idx]
        return None

    def on_nak(self, ranges, now_us: int) -> list:
        """Datagrams answering a NAK: retransmissions, and DROPREQs for what we no longer hold."""
        out, gone = [], []
        for lo, hi in ranges:
            count = seq_diff(hi, lo) + 1
            if seq_diff(hi, self.next_seq) >= 0 or count <= 0:
                continue  # loss of packets never sent: a confused or hostile peer
            for i in range(min(count, MAX_REXMIT_PER_NAK - len(out))):
                seq = seq_add(lo, i)
                d = self._find(seq)
                if d is None:
                    if seq_diff(seq, self.last_acked) >= 0:
                        gone.append(seq)
                    continue
                out.append(d[:4] + bytes((d[4] | _R_FLAG,)) + d[5:])
                self.retransmitted += 1
        if gone:
            out.append(build_dropreq(0, gone[0], gone[-1], self.timestamp(now_us), self.peer_id))
        return out

    def drop_old(self, now_us: int) -> None:
        limit = now_us - self.drop_us
        buf = self.buf
        while buf and buf[0][2] <= limit:
            k = len(buf.popleft()[1])
            self.held_count -= k
            self.dropped += k  # never acknowledged; a NAK for it now gets a DROPREQ
