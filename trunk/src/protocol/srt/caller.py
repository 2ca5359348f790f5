"""SRT caller side of the HSv5 handshake (sans-IO), for srs-bench's SRT clients and the tests.

    caller = SrtCaller(socket_id, isn, "#!::r=live/livestream,m=publish")
    send(caller.induction(now_us))              # to the listener; repeat it until answered
    reply = caller.on_handshake(pkt, now_us)    # induction answer -> our conclusion (send it)
    ...                                         # conclusion answer -> None, caller.done
    conn = caller.connection(peer, now_us)      # an SrtConnection for both directions

A rejection raises ``SrtRejected`` with its reason (e.g. 1403, 5 = backlog). Plain (no passphrase)
callers only: the listener side owns the encryption tests.
"""
from __future__ import annotations

from .connection import PEER_IDLE_TIMEOUT_US, SrtConnection
from .errors import SrtError, SrtRejected
from .handshake import (EXT_SID, HS_EXT_CONFIG, HS_EXT_HSREQ, HS_VERSION_SRT1, HS_VERSION_UDT4,
                        SRT_OPT_NAKREPORT, SRT_OPT_REXMITFLG, SRT_OPT_TLPKTDROP, SRT_OPT_TSBPDRCV,
                        SRT_OPT_TSBPDSND, SRT_VERSION, UDT_DGRAM, URQ_CONCLUSION, URQ_INDUCTION,
                        ConnectRequest, Handshake, HandshakeListener, HsReq, ListenerConfig,
                        encode_sid, rejection_reason)
from .packet import EXT_HSREQ, EXT_HSRSP, HANDSHAKE, ControlPacket

LIVE_FLAGS = SRT_OPT_TSBPDSND | SRT_OPT_TSBPDRCV | SRT_OPT_TLPKTDROP | SRT_OPT_NAKREPORT | SRT_OPT_REXMITFLG


class SrtCaller:
    def __init__(self, socket_id: int, isn: int, streamid: str, latency_ms: int = 120,
                 mtu: int = 1500, flow_window: int = 8192):
        self.socket_id = socket_id & 0x7FFFFFFF
        self.isn = isn & 0x7FFFFFFF
        self.streamid = streamid
        self.latency_ms = latency_ms
        self.mtu = mtu
        self.flow_window = flow_window
        self.cookie = 0
        self.start_us = None          # our clock's origin: every timestamp we send counts from it
        self.done = False
        self.response = None          # the listener's conclusion
        self.response_ts = 0
        self.peer_socket_id = 0
        self._conclusion = None

    def _ts(self, now_us: int) -> int:
        if self.start_us is None:
            self.start_us = now_us
        return (now_us - self.start_us) & 0xFFFFFFFF

    def induction(self, now_us: int) -> bytes:
        hs = Handshake(HS_VERSION_UDT4, 0, UDT_DGRAM, self.isn, self.mtu, self.flow_window, URQ_INDUCTION,
                       self.socket_id, 0)
        return ControlPacket(HANDSHAKE, self._ts(now_us), 0, hs.build()).build()

    def conclusion(self) -> bytes:
        """Our conclusion again (resend it while no answer came)."""
        if self._conclusion is None:
            raise SrtError("SRT caller: no induction answer yet")
        return self._conclusion

    def on_handshake(self, pkt: ControlPacket, now_us: int):
        """A handshake addressed to us -> the datagram to send next (None when done)."""
        if pkt.type != HANDSHAKE:
            raise SrtError(f"SRT caller: control type {pkt.type} during the handshake")
        hs = Handshake.parse(pkt.cif)
        reason = rejection_reason(hs)
        if reason is not None:
            raise SrtRejected(f"SRT connection rejected ({reason})", reason)
        if hs.req_type == URQ_INDUCTION:
            if self.done:
                return None
            self.cookie = hs.cookie
            exts = [(EXT_HSREQ, HsReq(SRT_VERSION, LIVE_FLAGS, self.latency_ms, self.latency_ms).build())]
            if self.streamid:
                exts.append((EXT_SID, encode_sid(self.streamid)))
            con = Handshake(HS_VERSION_SRT1, 0, HS_EXT_HSREQ | HS_EXT_CONFIG, self.isn, self.mtu,
                            self.flow_window, URQ_CONCLUSION, self.socket_id, self.cookie, extensions=exts)
            self._conclusion = ControlPacket(HANDSHAKE, self._ts(now_us), 0, con.build()).build()
            return self._conclusion
        if hs.req_type == URQ_CONCLUSION:
            if hs.extension(EXT_HSRSP) is None:
                raise SrtError("SRT caller: conclusion without HSRSP")
            self.response, self.response_ts = hs, pkt.timestamp
            self.peer_socket_id = hs.socket_id
            self.done = True
            return None
        raise SrtError(f"SRT caller: handshake type {hs.req_type:#x}")

    def connection(self, peer: tuple, now_us: int, capacity: int = 8192,
                   idle_timeout_us: int = PEER_IDLE_TIMEOUT_US) -> SrtConnection:
        """Both directions over the negotiated latencies: the listener's HSRSP names its receive
        delay (our send latency) and its send delay (our receive latency)."""
        if not self.done:
            raise SrtError("SRT caller: not connected")
        rsp = HsReq.parse(self.response.extension(EXT_HSRSP))
        req = ConnectRequest(peer=peer, peer_socket_id=self.peer_socket_id, isn=self.isn, mtu=self.mtu,
                             flow_window=self.response.flow_window, streamid=self.streamid,
                             recv_latency_ms=rsp.send_delay_ms, send_latency_ms=rsp.recv_delay_ms,
                             tlpktdrop=bool(rsp.flags & SRT_OPT_TLPKTDROP), km=None, keys=None,
                             handshake=self.response, peer_timestamp=self.response_ts)
        conn = SrtConnection(HandshakeListener(ListenerConfig(), b""), req, self.socket_id, now_us,
                             idle_timeout_us, capacity)
        # data timestamps on the handshake's clock: the listener maps our conclusion's timestamp
        # onto its own clock for TSBPD, so another origin would shift every delivery time
        conn.sender.start_us = self.start_us
        return conn
