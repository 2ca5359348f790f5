"""All SRT peers of one UDP socket (sans-IO): handshakes, demultiplexing, timers, events.

The application feeds every datagram with its source address to ``on_datagram`` and sends the
replies back to that address; it calls ``on_timer`` at ``next_timer_us()`` and sends each
(datagram, address) pair. Events come from ``take_events``:

- ``ConnectionRequested(request)``: a caller passed the cookie and the SRT checks. The application
  decides (stream id, hooks, security) now or later, with ``accept`` (then sends
  ``connection.response``) or ``reject``. While undecided, repeats of the conclusion are ignored;
  at most ``max_pending`` requests wait, beyond that callers are refused (REJ_BACKLOG).
- ``ConnectionClosed(connection)``: shut down by either side or timed out; its last payloads are
  still in ``take_payloads``.

A datagram for an unknown socket id, from an address other than the peer's, or that does not parse
is dropped and counted in ``dropped``; nothing is allocated for it.

Timers are a heap of (due, socket id), one live entry per connection (``_due``; superseded entries
are skipped when popped), so a wake-up costs the connections that are due, not all of them: a
thousand players of one stream must not mean a thousand checks every ACK period. Connections with
payloads delivered by a timer or a SHUTDOWN are collected in ``take_delivered``.
"""
from __future__ import annotations

from heapq import heappop, heappush

from .connection import PEER_IDLE_TIMEOUT_US, SrtConnection, State
from .errors import SrtError
from .handshake import REJ_BACKLOG, ConnectRequest, HandshakeListener
from .packet import HANDSHAKE, ControlPacket, parse_packet
from .receiver import ACK_PERIOD_US


class ConnectionRequested:
    __slots__ = ("request",)

    def __init__(self, request: ConnectRequest):
        self.request = request


class ConnectionClosed:
    __slots__ = ("connection",)

    def __init__(self, connection: SrtConnection):
        self.connection = connection


class SrtEndpoint:
    def __init__(self, listener: HandshakeListener, new_socket_id, max_pending: int = 256,
                 peer_idle_timeout_us: int = PEER_IDLE_TIMEOUT_US, capacity: int = 8192,
                 send_capacity: int = 0):
        """``new_socket_id()`` returns a random 31-bit id (the caller owns the randomness)."""
        self.listener = listener
        self._new_socket_id = new_socket_id
        self.max_pending = max_pending
        self.peer_idle_timeout_us = peer_idle_timeout_us
        self.capacity = capacity              # packets each connection's receiver holds
        self.send_capacity = send_capacity    # and its sender (0: the same)
        self.connections = {}   # our socket id -> SrtConnection
        self._by_peer = {}      # (address, peer socket id) -> SrtConnection
        self._pending = {}      # (address, peer socket id) -> ConnectRequest
        self._events = []
        self._timers = []       # heap of (due us, socket id)
        self._due = {}          # socket id -> its live heap entry's due time
        self._delivered = {}    # socket id -> connection with payloads to take
        self.dropped = 0

    def take_events(self) -> list:
        out, self._events = self._events, []
        return out

    def on_datagram(self, data, addr, now_us: int) -> list:
        """-> datagrams to send back to addr."""
        try:
            pkt = parse_packet(data)
            if pkt.dst_id == 0:
                return self._on_handshake(pkt, addr, now_us)
            conn = self.connections.get(pkt.dst_id)
            if conn is None or conn.peer != addr:
                raise SrtError(f"SRT packet for socket {pkt.dst_id:#x} from {addr}")
            out = conn.on_packet(pkt, now_us)
            if conn.state is State.CLOSED:
                if conn.has_payloads:
                    self._delivered[conn.socket_id] = conn
                self._forget(conn)
            else:
                # a timer due within an ACK period already covers what this packet may bring forward
                # (an ACK at most that much later): the per-datagram heap work is skipped
                due = self._due.get(conn.socket_id)
                if due is None or due > now_us + ACK_PERIOD_US:
                    self._schedule(conn)
            return out
        except SrtError:
            self.dropped += 1
            return []

    def _on_handshake(self, pkt, addr, now_us: int) -> list:
        if not isinstance(pkt, ControlPacket) or pkt.type != HANDSHAKE:
            raise SrtError("SRT socket id 0 is for handshakes only")
        reply, req = self.listener.on_handshake(pkt, addr, now_us)
        if req is None:
            return [reply] if reply is not None else []
        key = (addr, req.peer_socket_id)
        conn = self._by_peer.get(key)
        if conn is not None:
            return [conn.response]  # our conclusion was lost: the caller repeats its own
        if key in self._pending:
            return []
        if len(self._pending) >= self.max_pending:
            return [self.listener.reject(req, REJ_BACKLOG)]
        self._pending[key] = req
        self._events.append(ConnectionRequested(req))
        return []

    def accept(self, req: ConnectRequest, now_us: int) -> SrtConnection:
        """Create the connection; the application sends ``connection.response`` to ``req.peer``."""
        key = (req.peer, req.peer_socket_id)
        if self._pending.pop(key, None) is None:
            raise ValueError("SRT request not pending (already decided?)")
        sid = self._new_socket_id() & 0x7FFFFFFF
        while sid == 0 or sid in self.connections:
            sid = self._new_socket_id() & 0x7FFFFFFF
        conn = SrtConnection(self.listener, req, sid, now_us, self.peer_idle_timeout_us, self.capacity,
                             self.send_capacity)
        self.connections[sid] = conn
        self._by_peer[key] = conn
        self._schedule(conn)
        return conn

    def reject(self, req: ConnectRequest, reason: int) -> bytes:
        """The rejection to send to ``req.peer``: SRT_REJ_* or SRT_REJX_* (e.g. 1403)."""
        self._pending.pop((req.peer, req.peer_socket_id), None)
        return self.listener.reject(req, reason)

    def close(self, conn: SrtConnection, now_us: int) -> bytes:
        """Our SHUTDOWN to send to ``conn.peer``; the connection is forgotten (with an event)."""
        data = conn.close(now_us)
        self._forget(conn)
        return data

    def on_timer(self, now_us: int) -> list:
        """-> [(datagram, address)] of every connection whose timer is due."""
        out = []
        timers, due_of, conns = self._timers, self._due, self.connections
        while timers and timers[0][0] <= now_us:
            due, sid = heappop(timers)
            if due_of.get(sid) != due:
                continue   # superseded by an earlier entry, or the connection is gone
            del due_of[sid]
            conn = conns.get(sid)
            if conn is None:
                continue
            if conn.next_timer_us() <= now_us:
                out += [(d, conn.peer) for d in conn.on_timer(now_us)]
                if conn.has_payloads:
                    self._delivered[sid] = conn
            if conn.state is State.CLOSED:
                self._forget(conn)
            else:
                self._schedule(conn)
        return out

    def next_timer_us(self):
        """The earliest timer (maybe a superseded one: waking early for it is harmless)."""
        return self._timers[0][0] if self._timers else None

    def take_delivered(self) -> list:
        """Connections whose payloads (``take_payloads``) arrived since the last call."""
        if not self._delivered:
            return []
        out, self._delivered = list(self._delivered.values()), {}
        return out

    def _schedule(self, conn: SrtConnection) -> None:
        due = conn.next_timer_us()
        old = self._due.get(conn.socket_id)
        if old is None or due < old:
            self._due[conn.socket_id] = due
            heappush(self._timers, (due, conn.socket_id))

    def _forget(self, conn: SrtConnection) -> None:
        if self.connections.pop(conn.socket_id, None) is not None:
            self._due.pop(conn.socket_id, None)
            self._by_peer.pop((conn.peer, conn.peer_id), None)
            self._events.append(ConnectionClosed(conn))
