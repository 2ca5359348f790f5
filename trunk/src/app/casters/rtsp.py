"""stream_caster rtsp: an RTSP server that accepts pushes (ANNOUNCE, SETUP, RECORD) and publishes
each one as RTMP to ``output`` with [app]/[stream] from the ANNOUNCE url (SRS's SrsRtspCaster).

Transports: RTP/AVP over UDP (a server port pair per track from rtp_port_min..rtp_port_max; the
odd port only swallows RTCP) or RTP/AVP/TCP interleaved on the RTSP connection. Codecs: H.264
(RFC 6184) and AAC (RFC 3640 mpeg4-generic), as SRS 2.0. RTP timestamps become ms per track from
its first packet (no RTCP sender-report sync, as SRS's RTSP jitter); B-frames are not reordered
(RTP carries pts only, so dts = pts). The two tracks arrive on their own sockets (or interleaved
in bursts) and are put in timestamp order by the output's interleaver. A TEARDOWN travels on TCP
and can overtake the last RTP datagrams still queued on the UDP sockets: those are read before
the session closes.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional

import gevent
from gevent import socket

from srs.app.casters.output import CasterPorts, RtmpOutput, TcpCaster, expand_output
from srs.core.version import SIGNATURE
from srs.kernel.errors import ERROR_STREAM_CASTER_PORT, CodecError, RequestError, RtspError, SrsError
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO
from srs.kernel.raw_muxer import AacRawMuxer, AvcRawMuxer
from srs.protocol import names, rtsp
from srs.protocol.rtp import AacDepacketizer, H264Depacketizer, ReorderBuffer, RtpPacket

log = logging.getLogger(__name__)

DEFAULT_RTP_PORTS = (57200, 57300)   # SRS's rtp_port_min/max of push.rtsp.conf
RECV_SIZE = 65536
RTP_RECV_BUFFER = 4 << 20            # a keyframe burst at the pusher's rate must fit while we are busy
DRAIN_MAX = 4096                     # datagrams read at TEARDOWN at most
IDLE_S = 30.0                        # a recording session without any RTP this long is closed


class PortPool:
    """Even/odd UDP port pairs from [lo, hi]; a pair is taken by binding both sockets."""

    def __init__(self, lo: int, hi: int, host: str = "0.0.0.0"):
        self.lo, self.hi, self.host = lo, hi, host
        self.used: set = set()
        self.next = lo + (lo & 1)

    def allocate(self) -> tuple:
        """(rtp_sock, rtcp_sock, rtp_port); raises SrsError when the range is exhausted."""
        span = max(2, self.hi - self.lo + 1)
        for _ in range(span // 2 + 1):
            port = self.next
            self.next = port + 2 if port + 3 <= self.hi else self.lo + (self.lo & 1)
            if port in self.used or port + 1 > self.hi:
                continue
            socks = []
            try:
                for p in (port, port + 1):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    if p == port:
                        try:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RTP_RECV_BUFFER)
                        except OSError:
                            pass   # the kernel's default (and rmem_max) then
                    s.bind((self.host, p))
            except OSError:
                for s in socks:
                    s.close()
                continue
            self.used.add(port)
            return socks[0], socks[1], port
        raise SrsError(f"rtsp caster: no free rtp port in [{self.lo}, {self.hi}]", ERROR_STREAM_CASTER_PORT)

    def release(self, port: int) -> None:
        self.used.discard(port)


class Track:
    """One announced medium: its depacketiser and a ms timeline from its RTP clock."""

    def __init__(self, media: rtsp.SdpMedia):
        self.media = media
        self.kind = media.kind
        self.clock = media.clock_rate or (90000 if media.kind == "video" else 44100)
        if self.kind == "video":
            self.depacketizer = H264Depacketizer()
            self.sps, self.pps = media.h264_parameter_sets()
        else:
            self.depacketizer = AacDepacketizer(*media.aac_lengths())
            self.asc = media.aac_config()
        self.channel = None          # interleaved RTP channel (TCP)
        self.reorder = None          # UDP only: packets that overtook others put back in order
        self.socks = ()              # (rtp, rtcp) UDP sockets
        self.port = 0
        self.greenlets = []
        self._base = None
        self._last = 0
        self._wraps = 0

    def ms(self, ts: int) -> int:
        """RTP timestamp -> ms since the track's first packet (32-bit wrap unrolled)."""
        if self._base is None:
            self._base = self._last = ts
        if ts < self._last and self._last - ts > 0x80000000:
            self._wraps += 1
        elif ts > self._last and ts - self._last > 0x80000000:
            ts -= 1 << 32  # a late packet from before the wrap
        self._last = ts & 0xFFFFFFFF
        ext = ts + (self._wraps << 32)
        return max(0, (ext - self._base) * 1000 // self.clock)


class RtspConn:
    def __init__(self, caster: "RtspCaster", sock, addr, cid: int):
        self.caster = caster
        self.sock = sock
        self.ip = addr[0] if addr else ""
        self.cid = cid
        self.parser = rtsp.RtspParser()
        self.session_id = os.urandom(8).hex()
        self.sdp = None
        self.app = self.stream = ""
        self.tracks: Dict[int, Track] = {}   # index in the SDP -> track
        self.video = AvcRawMuxer()
        self.audio = AacRawMuxer()
        self.output: Optional[RtmpOutput] = None
        self.closed = False
        self.rtp_packets = 0

    # --- the RTSP connection
    def run(self) -> None:
        log.info("rtsp caster: client %s connected", self.ip)
        reason = "eof"
        try:
            while not self.closed:
                # silent peers are dropped until RECORD; then RTP (UDP) may be all that flows
                self.sock.settimeout(None if self.output is not None else IDLE_S)
                data = self.sock.recv(RECV_SIZE)
                if not data:
                    break
                try:
                    events = self.parser.receive_data(data)
                except RtspError as e:
                    log.warning("rtsp caster: bad request from %s: %s", self.ip, e)
                    self._send(rtsp.response(e.status, 0, server=SIGNATURE))
                    reason = "bad request"
                    break
                for ev in events:
                    if isinstance(ev, rtsp.InterleavedFrame):
                        self._on_interleaved(ev)
                    else:
                        self._on_request(ev)
                    if self.closed:
                        break
            if self.closed:
                reason = "teardown"
        except socket.timeout:
            reason = f"no request in {IDLE_S:.0f}s"
        except OSError as e:
            reason = f"socket error {e}"
        finally:
            self.close()
            log.info("rtsp caster: client %s closed (%s), %d rtp packets", self.ip, reason, self.rtp_packets)

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _on_request(self, req: rtsp.RtspRequest) -> None:
        log.info("rtsp caster: %s %s", req.method, req.uri)
        try:
            status, headers, body = self._handle(req)
        except RtspError as e:
            log.warning("rtsp caster: %s %s refused: %s", req.method, req.uri, e)
            status, headers, body = e.status, [], b""
        if status == 200 and self.sdp is not None and req.method not in ("OPTIONS", "ANNOUNCE"):
            headers = [("Session", self.session_id)] + list(headers)
        self._send(rtsp.response(status, req.cseq, headers, body, SIGNATURE))
        if req.method == "TEARDOWN":
            self.closed = True

    def _handle(self, req: rtsp.RtspRequest) -> tuple:
        m = req.method
        if m == "OPTIONS":
            return 200, [("Public", "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN, GET_PARAMETER")], b""
        if m == "ANNOUNCE":
            return self._announce(req)
        if m == "SETUP":
            return self._setup(req)
        if m == "RECORD":
            if not self.tracks:
                raise RtspError("RECORD before SETUP", 455)
            self._start_output()
            return 200, [], b""
        if m in ("TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"):
            return 200, [], b""
        if m in rtsp.METHODS:
            raise RtspError(f"{m} not supported by the push caster", 405)
        raise RtspError(f"unknown method {m}", 501)

    def _announce(self, req) -> tuple:
        if self.sdp is not None:
            raise RtspError("second ANNOUNCE on one connection", 455)
        ctype = (req.header("Content-Type") or "application/sdp").split(";")[0].strip().lower()
        if ctype != "application/sdp":
            raise RtspError(f"ANNOUNCE with {ctype}", 415)
        app, stream = rtsp.app_stream(req.uri)
        try:  # they become the output's RTMP URL and file names: refuse "..", NUL, ... (400)
            names.check_path_name("app", app)
            names.check_path_name("stream", stream)
        except RequestError as e:
            raise RtspError(e.args[0], 400, e.code) from e
        self.app, self.stream = app, stream
        sdp = rtsp.Sdp.parse(req.body)
        found = 0
        for i, media in enumerate(sdp.media):
            if media.kind == "video" and media.encoding == "H264":
                found += 1
            elif media.kind == "audio" and media.encoding == "MPEG4-GENERIC":
                media.aac_config()  # checked now: a push without a usable config is refused
                found += 1
            else:
                log.warning("rtsp caster: ignore %s %s (only H.264 and AAC)", media.kind, media.encoding)
        if not found:
            raise RtspError("no H.264 or AAC stream in the SDP", 415)
        self.sdp = sdp
        log.info("rtsp caster: announce %s/%s, %s", self.app, self.stream, sdp.media)
        return 200, [], b""

    def _media_of(self, uri: str) -> int:
        """Which SDP medium a SETUP url means: its control attribute (absolute or relative)."""
        media = self.sdp.media
        for i, m in enumerate(media):
            c = m.control
            if c and c != "*" and (uri == c or uri.rstrip("/").endswith("/" + c.lstrip("/"))):
                return i
        pending = [i for i in range(len(media)) if i not in self.tracks]
        if len(media) == 1 or (pending and not any(m.control for m in media)):
            return pending[0] if pending else 0
        raise RtspError(f"no announced stream for {uri[:80]!r}", 404)

    def _setup(self, req) -> tuple:
        if self.sdp is None:
            raise RtspError("SETUP before ANNOUNCE", 455)
        index = self._media_of(req.uri)
        media = self.sdp.media[index]
        if not ((media.kind == "video" and media.encoding == "H264") or
                (media.kind == "audio" and media.encoding == "MPEG4-GENERIC")):
            raise RtspError(f"{media.kind} {media.encoding} not supported", 415)
        value = req.header("Transport")
        if not value:
            raise RtspError("SETUP without Transport", 461)
        t = rtsp.Transport.parse(value)
        track = self.tracks.get(index) or Track(media)
        self.tracks[index] = track
        answer = rtsp.Transport(lower=t.lower, mode=t.mode or "record")
        if t.tcp:
            lo = t.interleaved[0] if t.interleaved else 2 * index
            track.channel = lo
            answer.interleaved = (lo, lo + 1)
        else:
            if t.client_port is None:
                raise RtspError("UDP transport without client_port", 461)
            if not track.socks:
                rtp_sock, rtcp_sock, port = self.caster.ports.allocate()
                track.socks, track.port = (rtp_sock, rtcp_sock), port
                track.reorder = ReorderBuffer(max_wait=track.clock // 10)   # 100 ms
                track.greenlets = [gevent.spawn(self._udp_loop, track, rtp_sock, True),
                                   gevent.spawn(self._udp_loop, track, rtcp_sock, False)]
            answer.client_port = t.client_port
            answer.server_port = (track.port, track.port + 1)
        return 200, [("Transport", answer.build())], b""

    # --- media
    def _start_output(self) -> None:
        if self.output is None:
            url = expand_output(self.caster.conf.output, self.app, self.stream, self.caster.parts.rtmp_port())
            self.output = RtmpOutput(url, f"rtsp caster {self.app}/{self.stream}")
            self.output.expect(MSG_VIDEO if t.kind == "video" else MSG_AUDIO for t in self.tracks.values())

    def _udp_loop(self, track: Track, sock, is_rtp: bool) -> None:
        cid_var.set(self.cid)
        sock.settimeout(IDLE_S if is_rtp else None)
        while not self.closed:
            try:
                data = sock.recv(RECV_SIZE)
            except socket.timeout:
                if self.output is not None:
                    log.warning("rtsp caster: no RTP for %s in %.0fs, close", track.kind, IDLE_S)
                    self._kick()
                    return
                continue
            except OSError:
                return
            if is_rtp:
                self._on_rtp(track, data)  # RTCP (sender reports) is read and dropped

    def _drain_udp(self) -> None:
        """What the pusher sent before its TEARDOWN and still waits in the UDP sockets."""
        for track in self.tracks.values():
            if not track.socks:
                continue
            sock = track.socks[0]
            sock.settimeout(0.0)   # gevent raises instead of waiting
            for _ in range(DRAIN_MAX):
                try:
                    data = sock.recv(RECV_SIZE)
                except OSError:
                    break
                self._on_rtp(track, data)

    def _on_interleaved(self, frame: rtsp.InterleavedFrame) -> None:
        for track in self.tracks.values():
            if track.channel == frame.channel:
                self._on_rtp(track, frame.data)
                return

    def _on_rtp(self, track: Track, data: bytes) -> None:
        self.rtp_packets += 1
        if self.output is None:
            return  # before RECORD
        try:
            pkt = RtpPacket.parse(data)
        except CodecError as e:
            log.warning("rtsp caster: drop an RTP packet of %s: %s", track.kind, e)
            return
        self._depacketize(track, track.reorder.push(pkt) if track.reorder is not None else [pkt])

    def _depacketize(self, track: Track, pkts) -> None:
        for pkt in pkts:
            try:
                self._on_units(track, track.depacketizer.push(pkt))
            except CodecError as e:
                log.warning("rtsp caster: drop an RTP packet of %s: %s", track.kind, e)

    def _on_units(self, track: Track, units) -> None:
        msgs = []
        if track.kind == "video":
            for ts, nalus in units:
                if self.video.config is None and track.sps and track.pps:
                    nalus = [track.sps, track.pps] + nalus   # the SDP's, until in-band ones come
                ms = track.ms(ts)
                try:
                    msgs += self.video.on_nalus(nalus, ms, ms)
                except CodecError as e:   # bad SPS/PPS: the units before and after still go out
                    log.warning("rtsp caster: drop a video frame: %s", e)
        else:
            for ts, frame in units:
                msgs += self.audio.on_raw(frame, track.ms(ts), track.asc)
        if msgs:
            self.output.send(msgs)

    def _kick(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        if self.closed and self.output is not None and self.output.closed:
            return
        self.closed = True
        for track in self.tracks.values():
            for g in track.greenlets:
                if g is not gevent.getcurrent():
                    g.kill(block=False)
        if self.output is not None and not self.output.closed:
            self._drain_udp()
            for track in self.tracks.values():
                if track.reorder is not None:
                    self._depacketize(track, track.reorder.flush())
                if track.kind == "video":   # an access unit whose marker never came
                    try:
                        self._on_units(track, track.depacketizer.flush())
                    except CodecError as e:
                        log.warning("rtsp caster: drop the last video frame: %s", e)
        for track in self.tracks.values():
            for s in track.socks:
                s.close()
            if track.socks:
                self.caster.ports.release(track.port)
            track.socks = ()
        lost = sum(t.depacketizer.lost for t in self.tracks.values())
        late = sum(t.reorder.late for t in self.tracks.values() if t.reorder is not None)
        if lost or late:
            log.warning("rtsp caster: %s/%s lost %d RTP packets, %d came too late", self.app, self.stream,
                        lost, late)
        if self.output is not None:
            self.output.close()
        try:
            self.sock.close()
        except OSError:
            pass


class RtspCaster(TcpCaster):
    name = "rtsp"
    conn_class = RtspConn

    def __init__(self, parts: CasterPorts, conf):
        super().__init__(parts, conf)
        lo, hi = conf.rtp_port_min, conf.rtp_port_max
        if not lo or not hi:
            lo, hi = DEFAULT_RTP_PORTS
        if lo > hi:
            raise SrsError(f"rtsp caster: rtp_port_min {lo} > rtp_port_max {hi}", ERROR_STREAM_CASTER_PORT)
        self.ports = PortPool(lo, hi)

    def describe(self) -> str:
        return f"rtp ports [{self.ports.lo}, {self.ports.hi}], output {self.conf.output}"

    def kick(self, conn) -> None:
        conn._kick()
        conn.close()
