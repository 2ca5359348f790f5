"""One accepted SRT peer, both directions (sans-IO): datagrams in -> datagrams out + payloads.

The application owns the socket and the clock: it feeds ``on_packet`` with each parsed packet,
calls ``on_timer`` at ``next_timer_us()`` (or sooner), sends what both return, and collects
received payloads with ``take_payloads``. ``send`` packetises one payload (live mode: one message,
at most 1456 bytes). The connection is ``closed`` after a SHUTDOWN either way or an idle timeout.
"""
from __future__ import annotations

from enum import Enum

from .crypto import KeyMaterial, PayloadCipher, unwrap_keys
from .errors import SrtError
from .handshake import ConnectRequest, HandshakeListener
from .packet import (ACK, ACKACK, DROPREQ, EXT_KMREQ, EXT_KMRSP, HANDSHAKE, KEEPALIVE,
                     KK_NONE, MAX_PAYLOAD, NAK, PEERERROR, SHUTDOWN, USER_DEFINED, Ack, ControlPacket,
                     DataPacket, build_ackack, build_keepalive, build_nak, build_shutdown,
                     decode_loss_list, parse_dropreq)
from .receiver import Receiver
from .sender import Sender

KEEPALIVE_US = 1_000_000
PEER_IDLE_TIMEOUT_US = 5_000_000  # SRTO_PEERIDLETIMEO default, SRS's peer_idle_timeout


class State(Enum):
    CONNECTED = "connected"
    CLOSED = "closed"


class CloseReason(Enum):
    PEER_SHUTDOWN = "peer-shutdown"
    LOCAL = "local"
    IDLE_TIMEOUT = "idle-timeout"
    PEER_ERROR = "peer-error"


class SrtConnection:
    def __init__(self, listener: HandshakeListener, req: ConnectRequest, socket_id: int, now_us: int,
                 peer_idle_timeout_us: int = PEER_IDLE_TIMEOUT_US, capacity: int = 8192,
                 send_capacity: int = 0):
        """``capacity``: the receive buffer in packets (SRTO_RCVBUF / payload size); ``send_capacity``
        the send buffer's (SRTO_SNDBUF), ``capacity`` when 0."""
        self.socket_id = socket_id
        self.peer = req.peer
        self.peer_id = req.peer_socket_id
        self.request = req
        self.streamid = req.streamid
        self.state = State.CONNECTED
        self.close_reason = None
        self.start_us = now_us
        self.idle_timeout_us = peer_idle_timeout_us
        self._passphrase = listener.config.passphrase
        self.cipher = PayloadCipher(req.km.salt, req.keys) if req.km is not None else None
        self._send_kk = min(req.keys) if req.keys else KK_NONE
        # TSBPD base: the peer's clock reading 0 maps to our now minus its handshake timestamp
        self.receiver = Receiver(req.isn, req.recv_latency_ms * 1000, now_us - req.peer_timestamp,
                                 capacity, req.tlpktdrop)
        self.sender = Sender(req.isn, self.peer_id, now_us, req.send_latency_ms * 1000, send_capacity or capacity)
        self.response = ControlPacket(HANDSHAKE, 0, self.peer_id,
                                      listener.response(req, socket_id).build()).build()
        self._payloads = []
        self._last_recv_us = now_us
        self._last_send_us = now_us
        self.errors = 0   # control packets we could not use (dropped)

    # --- input
    def on_packet(self, pkt, now_us: int) -> list:
        """A packet addressed to us -> datagrams to send now. Bad content raises SrtError."""
        if self.state is State.CLOSED:
            return []
        self._last_recv_us = now_us
        if isinstance(pkt, DataPacket):
            return self._on_data(pkt, now_us)
        t = pkt.type
        ts = self.sender.timestamp(now_us)
        if t == ACK:
            ack = Ack.parse(pkt)
            self.sender.on_ack(ack)
            return [] if ack.light else [self._sent(build_ackack(ack.ack_no, ts, self.peer_id), now_us)]
        if t == NAK:
            return self._sent_all(self.sender.on_nak(decode_loss_list(pkt.cif), now_us), now_us)
        if t == ACKACK:
            self.receiver.on_ackack(pkt.info, now_us)
            self.sender.rtt_us = self.receiver.rtt_us
        elif t == DROPREQ:
            self.receiver.on_dropreq(*parse_dropreq(pkt))
        elif t == SHUTDOWN:
            # live mode has no linger: what waits for its TSBPD time is all the peer will send
            self._payloads += self.receiver.flush()
            self._close(CloseReason.PEER_SHUTDOWN)
        elif t == PEERERROR:
            self._close(CloseReason.PEER_ERROR)
        elif t == HANDSHAKE:
            return [self.response]  # our conclusion got lost: the caller repeats its own
        elif t == USER_DEFINED and pkt.subtype == EXT_KMREQ:
            return [self._sent(self._on_kmreq(pkt, ts), now_us)]
        # KEEPALIVE, congestion warning and other extensions: only refresh the idle timer
        return []

    def _on_data(self, pkt: DataPacket, now_us: int) -> list:
        payload = pkt.payload
        if pkt.key != KK_NONE:
            if self.cipher is None:
                raise SrtError("SRT encrypted data without keys")
            payload = self.cipher.crypt(pkt.key, pkt.seq, payload)
        if len(payload) > MAX_PAYLOAD:
            raise SrtError(f"SRT payload of {len(payload)} bytes")
        lost = self.receiver.on_data(pkt, payload, now_us)
        if not lost:
            return []
        return [self._sent(build_nak(lost, self.sender.timestamp(now_us), self.peer_id), now_us)]

    def _on_kmreq(self, pkt: ControlPacket, ts: int) -> bytes:
        """Key refresh from the peer: take the new keys and answer with the same KM (KMRSP)."""
        if self.cipher is None:
            raise SrtError("SRT KMREQ on a plain connection")
        km = KeyMaterial.parse(pkt.cif)
        self.cipher.update_keys(unwrap_keys(km, self._passphrase))
        return ControlPacket(USER_DEFINED, ts, self.peer_id, km.build(), subtype=EXT_KMRSP).build()

    # --- output
    def send(self, payload: bytes, now_us: int) -> bytes:
        if len(payload) > MAX_PAYLOAD or not payload:
            raise ValueError(f"SRT live payload of {len(payload)} bytes (1..{MAX_PAYLOAD})")
        return self.send_all((payload,), now_us)[0]

    def send_all(self, payloads, now_us: int) -> list:
        """Payloads already cut to 1..MAX_PAYLOAD bytes (a player's share of its stream's one cut)
        -> their datagrams; encrypted only when this connection has keys."""
        self._last_send_us = now_us
        return self.sender.send_all(payloads, now_us, self._encrypt if self.cipher is not None else None)

    def _encrypt(self, seq: int, payload: bytes) -> tuple:
        return self._send_kk, self.cipher.crypt(self._send_kk, seq, payload)

    @property
    def has_payloads(self) -> bool:
        return bool(self._payloads)

    def take_payloads(self) -> list:
        out, self._payloads = self._payloads, []
        return out

    def on_timer(self, now_us: int) -> list:
        """ACK/NAK reports, TSBPD delivery (into take_payloads), keep-alive, idle timeout."""
        if self.state is State.CLOSED:
            return []
        if now_us - self._last_recv_us > self.idle_timeout_us:
            self._close(CloseReason.IDLE_TIMEOUT)
            return []
        out = []
        ts = self.sender.timestamp(now_us)
        self._payloads += self.receiver.deliver(now_us)
        ack, nak = self.receiver.on_timer(now_us)
        if ack is not None:
            out.append(ack.build(ts, self.peer_id))
        if nak:
            out.append(build_nak(nak, ts, self.peer_id))
        self.sender.drop_old(now_us)
        if out:
            self._last_send_us = now_us
        elif now_us - self._last_send_us >= KEEPALIVE_US:
            out.append(self._sent(build_keepalive(ts, self.peer_id), now_us))
        return out

    def next_timer_us(self) -> int:
        # the idle deadline too: a peer whose only traffic is ours (a player) has no other timer
        t = min(self.receiver.next_timer_us(), self._last_send_us + KEEPALIVE_US,
                self._last_recv_us + self.idle_timeout_us + 1)
        d = self.receiver.next_delivery_us()
        return t if d is None else min(t, d)

    def close(self, now_us: int) -> bytes:
        self._close(CloseReason.LOCAL)
        return build_shutdown(self.sender.timestamp(now_us), self.peer_id)

    def _close(self, reason: CloseReason) -> None:
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self.close_reason = reason

    def _sent(self, data: bytes, now_us: int) -> bytes:
        self._last_send_us = now_us
        return data

    def _sent_all(self, datagrams: list, now_us: int) -> list:
        if datagrams:
            self._last_send_us = now_us
        return datagrams

    def stats(self) -> dict:
        r, s = self.receiver, self.sender
        return {"rtt_us": r.rtt_us, "recv_pkts": r.received, "recv_bytes": r.received_bytes,
                "recv_retransmitted": r.retransmitted, "recv_lost": r.lost, "recv_dropped": r.dropped,
                "recv_duplicates": r.duplicates, "send_pkts": s.sent, "send_bytes": s.sent_bytes,
                "send_retransmitted": s.retransmitted, "send_dropped": s.dropped}
