"""Our srs-librtmp: a blocking-style RTMP client API for tools and scripts (SRS's srs_librtmp.h).

Every call blocks only the calling greenlet (gevent sockets underneath, from app/rtmp_client.py);
a tool that wants plain blocking behaviour just calls them in order::

    s = RtmpSession("rtmp://127.0.0.1:1935/live/livestream")
    s.connect()                          # DNS, TCP, handshake (simple unless complex_handshake)
    s.play()                             # or s.publish()
    while True:
        kind, ts, payload = s.read_flv_tag(timeout_s=5)   # or s.read_message()
    s.close()

Publishing takes Messages, FLV tag parts, or raw codec data::

    s.publish()
    s.write_flv_tag(9, 0, payload)               # srs_rtmp_write_packet
    s.write_h264_raw(annexb, dts_ms, pts_ms)     # srs_h264_write_raw_frames
    s.write_aac_raw(adts, ts_ms)                 # srs_audio_write_raw_frame (ADTS AAC)

Errors are the typed SrsError subclasses of the client (ClientClosed when the server closed,
RtmpError for a refused connect or an error status, SrsError with ERROR_SOCKET_TIMEOUT when a
read waited ``timeout_s`` in vain, CodecError for raw data that cannot be parsed).
"""
from __future__ import annotations

import collections
import logging
import sys
import time
from typing import Optional

from gevent import socket

from srs.app.rtmp.client import ClientClosed, RtmpClient
from srs.kernel.errors import ERROR_SOCKET_CONNECT, ERROR_SOCKET_TIMEOUT, Amf0DecodeError, SrsError
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.raw_muxer import AacRawMuxer, AvcRawMuxer
from srs.protocol import amf0
from srs.protocol.request import Request, parse_rtmp_url

log = logging.getLogger(__name__)

__all__ = ["RtmpSession", "ClientClosed", "human_time", "print_packet"]


class RtmpSession:
    """One RTMP client session on ``url`` = ``rtmp://host[:port]/app[?vhost=v]/stream[?params]``.

    ``tc_url`` overrides the tcUrl sent in connect (default: the url up to the stream);
    ``swf_url``/``page_url`` go into the connect object. Timing figures (monotonic seconds) and
    byte counters are kept for tools such as srs_detect_rtmp.
    """

    def __init__(self, url: str, timeout_s: float = 3.0, complex_handshake: bool = False,
                 tc_url: str = "", swf_url: str = "", page_url: str = "", args: Optional[dict] = None):
        self.timeout_s = timeout_s
        self.complex_handshake = complex_handshake
        self.swf_url = swf_url
        self.page_url = page_url
        self.args = args
        self._tc_url_override = tc_url
        self._set_url(url)
        self.client: Optional[RtmpClient] = None
        self.ip = ""
        self._queue: collections.deque = collections.deque()
        self._avc = AvcRawMuxer()
        self._aac = AacRawMuxer()
        # monotonic timestamps of each stage, 0 until reached
        self.t_start = time.monotonic()
        self.t_dns = self.t_tcp = self.t_connect = self.t_stream = self.t_first_media = 0.0

    def _set_url(self, url: str) -> None:
        self.url = url
        self.req = Request.from_url(url)
        tc_url, stream = parse_rtmp_url(url)
        self.tc_url = self._tc_url_override or tc_url
        self.stream = stream
        self.host, self.port, self.app = self.req.host, self.req.port, self.req.app

    # ------------------------------------------------------------------ connection
    def dns_resolve(self) -> str:
        """Resolve the host (srs_rtmp_dns_resolve); returns the IP used for the TCP connect."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
        except OSError as e:
            raise SrsError(f"dns resolve {self.host} failed: {e}", ERROR_SOCKET_CONNECT) from e
        self.ip = infos[0][4][0]
        self.t_dns = time.monotonic()
        return self.ip

    def connect_server(self) -> None:
        """TCP connect and handshake (srs_rtmp_connect_server + srs_rtmp_do_*_handshake)."""
        if not self.ip:
            self.dns_resolve()
        c = RtmpClient(self.ip, self.port, self.timeout_s)
        c.complex_handshake = self.complex_handshake
        self.client = c
        c.open()
        self.t_tcp = time.monotonic()

    def connect_app(self):
        """RTMP connect to the app; returns the server's info object (srs_rtmp_connect_app)."""
        info = self.client.connect(self.tc_url, self.app, page_url=self.page_url, swf_url=self.swf_url,
                                   args=self.args)
        self.t_connect = time.monotonic()
        return info

    def connect(self, url: Optional[str] = None):
        """DNS + TCP + handshake + connect app in one call; ``url`` replaces the session's url."""
        if url is not None:
            self._set_url(url)
        try:
            self.dns_resolve()
            self.connect_server()
            return self.connect_app()
        except BaseException:
            self.close()
            raise

    @property
    def server_info(self):
        return self.client.server_info if self.client else None

    @property
    def handshake_complex(self) -> bool:
        return self.complex_handshake

    def play(self) -> None:
        self.client.play(self.stream)
        self.t_stream = time.monotonic()

    def publish(self) -> None:
        """FMLE-style publish; returns once the server said NetStream.Publish.Start."""
        self.client.publish(self.stream)
        self.t_stream = time.monotonic()

    # ------------------------------------------------------------------ reading
    def read_message(self, timeout_s: Optional[float] = None) -> Message:
        """The next audio/video/data message. ``timeout_s`` (default: the session's) without any
        data raises SrsError(ERROR_SOCKET_TIMEOUT); a server close raises ClientClosed."""
        wait = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait
        while not self._queue:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SrsError(f"{self.url}: no message in {wait:.1f}s", ERROR_SOCKET_TIMEOUT)
            try:
                self._queue.extend(self.client.read_messages(left))
            except socket.timeout as e:
                raise SrsError(f"{self.url}: no message in {wait:.1f}s", ERROR_SOCKET_TIMEOUT) from e
        msg = self._queue.popleft()
        if not self.t_first_media and msg.kind in (MSG_AUDIO, MSG_VIDEO):
            self.t_first_media = time.monotonic()
        return msg

    def read_flv_tag(self, timeout_s: Optional[float] = None) -> tuple:
        """``(kind, ts_ms, payload)`` of the next message, as srs_rtmp_read_packet (8/9/18)."""
        m = self.read_message(timeout_s)
        return m.kind, m.ts_ms, m.payload

    # ------------------------------------------------------------------ writing
    def write_message(self, msg: Message) -> None:
        self.client.send_messages((msg,))

    def write_messages(self, msgs) -> None:
        """A batch in one send (merged write)."""
        self.client.send_messages(list(msgs))

    def write_flv_tag(self, kind: int, ts_ms: int, payload: bytes) -> None:
        """Audio (8), video (9) or script data (18) with its timestamp (srs_rtmp_write_packet)."""
        if kind not in (MSG_AUDIO, MSG_VIDEO, MSG_AMF0_DATA):
            raise SrsError(f"write_flv_tag: type {kind} is not audio, video or data")
        self.write_message(Message.make(kind, ts_ms, payload))

    def write_h264_raw(self, frames: bytes, dts: int, pts: int) -> int:
        """Annex-B NALUs of one access unit at ``dts``/``pts`` ms; returns messages sent
        (sequence header when SPS/PPS changed, then the picture; 0 while only parameter sets
        came or the picture precedes any SPS/PPS or, after new ones, a keyframe)."""
        msgs = self._avc.on_annexb(frames, dts, pts)
        if msgs:
            self.write_messages(msgs)
        return len(msgs)

    def write_aac_raw(self, adts: bytes, ts: int) -> int:
        """ADTS AAC frames starting at ``ts`` ms (next frames 1024 samples apart); returns
        messages sent (an AudioSpecificConfig sequence header first / on config change)."""
        msgs = self._aac.on_adts(adts, ts)
        if msgs:
            self.write_messages(msgs)
        return len(msgs)

    @property
    def h264_dropped(self) -> int:
        """Pictures written before any SPS/PPS, or after new ones before a keyframe (dropped:
        undecodable)."""
        return self._avc.dropped

    # ------------------------------------------------------------------ stats, cleanup
    @property
    def recv_bytes(self) -> int:
        return self.client.recv_bytes if self.client else 0

    @property
    def sent_bytes(self) -> int:
        return self.client.sent_bytes if self.client else 0

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def __enter__(self) -> "RtmpSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------- human-readable output
# srs_human_* names, so tool output reads like SRS's.
_TAG_NAMES = {MSG_AUDIO: "Audio", MSG_VIDEO: "Video", MSG_AMF0_DATA: "Data"}
_VCODECS = {2: "H.263", 3: "Screen", 4: "VP6", 5: "VP6Alpha", 6: "Screen2", 7: "H.264"}
_AVC_TYPES = {0: "SH", 1: "Nalu", 2: "SpsPpsEnd"}
_FRAME_TYPES = {1: "I", 2: "P/B", 3: "DI", 4: "GI", 5: "VI"}
_SOUND_FORMATS = {0: "LinearPCM", 1: "ADPCM", 2: "MP3", 3: "LinearPCMLe", 4: "NellymoserKHz16",
                  5: "NellymoserKHz8", 6: "Nellymoser", 7: "G711APCM", 8: "G711MuPCM", 9: "Reserved",
                  10: "AAC", 11: "Speex", 14: "MP3KHz8", 15: "DeviceSpecific"}
_SOUND_RATES = ("5.5KHz", "11KHz", "22KHz", "44KHz")
_SOUND_SIZES = ("8bit", "16bit")
_SOUND_TYPES = ("Mono", "Stereo")
_AAC_TYPES = {0: "SH", 1: "Raw"}


def human_time(now: Optional[float] = None) -> str:
    """``2014-01-01 12:00:00.123`` local time, as srs_human_format_time."""
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ".%03d" % (int(now * 1000) % 1000)


def packet_pts(kind: int, ts: int, payload: bytes) -> int:
    """dts + composition time for AVC video, else the timestamp (srs_utils_parse_timestamp)."""
    if kind == MSG_VIDEO and len(payload) >= 5 and payload[0] & 0x0F == 7 and payload[1] == 1:
        cts = int.from_bytes(payload[2:5], "big")
        if cts & 0x800000:
            cts -= 0x1000000
        return ts + cts
    return ts


def describe_packet(kind: int, ts: int, payload: bytes) -> str:
    """One line as srs_human_print_rtmp_packet (without the time prefix)."""
    name = _TAG_NAMES.get(kind, "Unknown")
    size = len(payload)
    pts = packet_pts(kind, ts, payload)
    if kind == MSG_VIDEO:
        b0 = payload[0] if payload else 0
        codec = _VCODECS.get(b0 & 0x0F, "Unknown")
        ptype = _AVC_TYPES.get(payload[1], "Unknown") if size > 1 and b0 & 0x0F == 7 else "Unknown"
        return (f"Video packet type={name}, dts={ts}, pts={pts}, size={size}, "
                f"{codec}({ptype},{_FRAME_TYPES.get(b0 >> 4, 'Unknown')})")
    if kind == MSG_AUDIO:
        b0 = payload[0] if payload else 0
        fmt = b0 >> 4
        aac = _AAC_TYPES.get(payload[1], "Unknown") if size > 1 and fmt == 10 else "Unknown"
        return (f"Audio packet type={name}, dts={ts}, pts={pts}, size={size}, "
                f"{_SOUND_FORMATS.get(fmt, 'Unknown')}({_SOUND_RATES[(b0 >> 2) & 3]},"
                f"{_SOUND_SIZES[(b0 >> 1) & 1]},{_SOUND_TYPES[b0 & 1]},{aac})")
    if kind == MSG_AMF0_DATA:
        return f"Data packet type={name}, time={ts}, size={size}"
    return f"Unknown packet type={name}, dts={ts}, pts={pts}, size={size}"


def print_packet(kind: int, ts: int, payload: bytes, out=None) -> None:
    """Print a packet line with the SRS time prefix; script data also prints its AMF0 values."""
    out = out or sys.stdout
    out.write(f"[{human_time()}] {describe_packet(kind, ts, payload)}\n")
    if kind == MSG_AMF0_DATA:
        try:
            values = amf0.decode_all(payload)
        except Amf0DecodeError as e:
            out.write(f"  (amf0 decode failed: {e})\n")
            return
        for v in values:
            out.write(_amf0_text(v, 0))


def _amf0_text(v, depth: int) -> str:
    """AMF0 value as indented text, in the spirit of SrsAmf0Any::human_print."""
    pad = "    " * depth
    if isinstance(v, dict):
        kind = "EcmaArray" if type(v).__name__ == "EcmaArray" else "Object"
        lines = [f"{kind} ({len(v)} items)\n"]
        for k, item in v.items():
            lines.append(f"{pad}    {k}: " + _amf0_text(item, depth + 1).lstrip())
        return "".join(lines)
    if isinstance(v, (list, tuple)):
        lines = [f"StrictArray ({len(v)} items)\n"]
        for i, item in enumerate(v):
            lines.append(f"{pad}    Elem #{i}: " + _amf0_text(item, depth + 1).lstrip())
        return "".join(lines)
    if isinstance(v, bool):
        return f"Boolean {'true' if v else 'false'}\n"
    if isinstance(v, float):
        return f"Number {v:.1f}\n" if v.is_integer() else f"Number {v}\n"
    if isinstance(v, str):
        return f"String {v}\n"
    if v is None:
        return "Null\n"
    return f"{type(v).__name__} {v!r}\n"
