"""SRT live-mode sender: sequence numbers, the send buffer kept for retransmission, ACK and NAK handling.

Each payload is one message (PP = solo). A packet stays in the buffer until the peer acknowledges it
or it is older than ``drop_us`` (past that, the receiver's TSBPD would drop it anyway; libsrt uses
max(1 s, 1.25 x latency) and so do we). NAKs for packets still held are answered with the original
bytes and the R flag set; NAKs for packets already gone get a DROPREQ so the peer stops asking.
"""
from __future__ import annotations

from collections import OrderedDict

from .packet import (KK_NONE, MSGNO_MASK, PP_SOLO, Ack, DataPacket, build_dropreq, seq_add,
                     seq_diff)

MAX_REXMIT_PER_NAK = 512  # bound the burst one NAK can trigger


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
        self.buf = OrderedDict()  # seq -> (DataPacket, payload as sent (maybe encrypted), send time)
        self.last_acked = isn
        self.rtt_us = 100_000
        # statistics
        self.sent = 0
        self.sent_bytes = 0
        self.retransmitted = 0
        self.dropped = 0          # left the buffer unacknowledged (too old or overflow)

    def timestamp(self, now_us: int) -> int:
        return (now_us - self.start_us) & 0xFFFFFFFF

    def send(self, payload: bytes, now_us: int, encrypt=None) -> bytes:
        """One payload -> one data packet; ``encrypt(seq) -> (kk, bytes)`` when a cipher is set."""
        seq = self.next_seq
        self.next_seq = seq_add(seq)
        kk, body = (KK_NONE, payload) if encrypt is None else encrypt(seq, payload)
        pkt = DataPacket(seq, self.msgno, self.timestamp(now_us), self.peer_id, body, PP_SOLO, key=kk)
        self.msgno = self.msgno % MSGNO_MASK + 1
        if len(self.buf) >= self.capacity:
            self.buf.popitem(last=False)
            self.dropped += 1
        self.buf[seq] = (pkt, now_us)
        self.sent += 1
        self.sent_bytes += len(payload)
        return pkt.header() + body

    def on_ack(self, ack: Ack) -> None:
        if seq_diff(ack.last_ack_seq, self.next_seq) > 0:
            return  # acknowledges what we never sent: ignore
        if seq_diff(ack.last_ack_seq, self.last_acked) > 0:
            self.last_acked = ack.last_ack_seq
        while self.buf:
            seq = next(iter(self.buf))
            if seq_diff(seq, self.last_acked) >= 0:
                break
            self.buf.popitem(last=False)
        if not ack.light and ack.rtt_us:
            self.rtt_us = ack.rtt_us

    def on_nak(self, ranges, now_us: int) -> list:
        """Datagrams answering a NAK: retransmissions, and DROPREQs for what we no longer hold."""
        out, gone = [], []
        for first, last in ranges:
            count = seq_diff(last, first) + 1
            if seq_diff(last, self.next_seq) >= 0 or count <= 0:
                continue  # loss of packets never sent: a confused or hostile peer
            for i in range(min(count, MAX_REXMIT_PER_NAK - len(out))):
                seq = seq_add(first, i)
                item = self.buf.get(seq)
                if item is None:
                    if seq_diff(seq, self.last_acked) >= 0:
                        gone.append(seq)
                    continue
                pkt = item[0]
                pkt.retransmitted = True
                out.append(pkt.header() + pkt.payload)
                self.retransmitted += 1
        if gone:
            out.append(build_dropreq(0, gone[0], gone[-1], self.timestamp(now_us), self.peer_id))
        return out

    def drop_old(self, now_us: int) -> None:
        limit = now_us - self.drop_us
        while self.buf:
            seq, (pkt, sent_us) = next(iter(self.buf.items()))
            if sent_us > limit:
                break
            self.buf.popitem(last=False)
            if seq_diff(seq, self.last_acked) >= 0:
                self.dropped += 1  # never acknowledged; a NAK for it now gets a DROPREQ
