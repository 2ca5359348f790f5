"""Real SRT clients for the app tests: Debian's ffmpeg (libsrt) and srt-live-transmit as subprocesses,
and a scripted caller in raw datagrams for what libsrt will not send (NUL in a stream id, 10 KB ids)."""
from __future__ import annotations

import select
import shutil
import socket
import subprocess
import threading
from typing import Optional

import pytest

from fixtures.udp_relay import UdpRelay

from srs.protocol.srt.handshake import (EXT_SID, HS_EXT_CONFIG, HS_EXT_HSREQ, HS_VERSION_SRT1, HS_VERSION_UDT4,
                                        SRT_OPT_NAKREPORT, SRT_OPT_REXMITFLG, SRT_OPT_TLPKTDROP,
                                        SRT_OPT_TSBPDRCV, SRT_OPT_TSBPDSND, UDT_DGRAM, URQ_CONCLUSION,
                                        URQ_INDUCTION, Handshake, HsReq, encode_sid, rejection_reason)
from srs.protocol.srt.packet import EXT_HSREQ, HANDSHAKE, ControlPacket, parse_packet

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
SLT = shutil.which("srt-live-transmit")
SOURCE = "doc/source.200kbps.768x320.flv"   # relative to trunk: the tests run there
LIVE_FLAGS = SRT_OPT_TSBPDSND | SRT_OPT_TSBPDRCV | SRT_OPT_TLPKTDROP | SRT_OPT_NAKREPORT | SRT_OPT_REXMITFLG


def need(tool: Optional[str], name: str) -> str:
    if not tool:
        pytest.skip(f"{name} is not installed")
    return tool


def srt_url(port: int, streamid: str, **opts) -> str:
    """ffmpeg's SRT URL; the stream id goes last (ffmpeg url-decodes it)."""
    query = "".join(f"{k}={v}&" for k, v in opts.items())
    return f"srt://127.0.0.1:{port}?{query}streamid={streamid}"


def ffmpeg_publish(url: str, seconds: float = 4, src: str = SOURCE, wait: bool = True, timeout_s: float = 40):
    """``ffmpeg -re -i src -t seconds -c copy -f mpegts srt://...`` (libsrt needs -re to pace)."""
    cmd = [need(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re", "-i", src, "-t", str(seconds),
           "-c", "copy", "-f", "mpegts", url]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(cmd, capture_output=True, timeout=timeout_s)


def ffmpeg_play(url: str, out_path: str, idle_s: float = 5.0) -> subprocess.Popen:
    """An SRT player copying the TS to ``out_path``; it ends ``idle_s`` after the stream stops."""
    cmd = [need(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-timeout", str(int(idle_s * 1e6)),
           "-i", url, "-c", "copy", "-f", "mpegts", "-y", out_path]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def count_frames(path: str) -> dict:
    """codec -> (frames decoded, width, height) by ffprobe -count_frames (decodes every frame)."""
    r = subprocess.run([need(FFPROBE, "ffprobe"), "-v", "error", "-count_frames", "-show_entries",
                        "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    out = {}
    for line in r.stdout.split():
        parts = line.split(",")
        if len(parts) == 4:
            name, w, h, n = parts
            out[name] = (int(n), int(w), int(h))
        elif len(parts) == 2:
            out[parts[0]] = (int(parts[1]), 0, 0)
    return out


def source_frames(seconds: float) -> dict:
    """What ``ffmpeg -t seconds -c copy`` of the source holds: the frames every player must decode."""
    r = subprocess.run([need(FFPROBE, "ffprobe"), "-v", "error", "-read_intervals", f"%+{seconds}",
                        "-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of",
                        "csv=p=0", SOURCE], capture_output=True, text=True, timeout=30)
    return {name: int(n) for name, n in (line.split(",") for line in r.stdout.split())}


class RawCaller:
    """A scripted HSv5 caller over one UDP socket: induction, then a conclusion with any stream id."""

    def __init__(self, port: int, socket_id: int = 0x1234):
        self.addr = ("127.0.0.1", port)
        self.socket_id = socket_id
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()

    def connect(self, sid_bytes: bytes, reply_timeout_s: float = 5.0):
        """-> the rejection reason, "accepted", or None when the listener did not answer."""
        hs = Handshake(HS_VERSION_UDT4, 0, UDT_DGRAM, 0x100, 1500, 8192, URQ_INDUCTION, self.socket_id, 0)
        self.sock.sendto(ControlPacket(HANDSHAKE, 10, 0, hs.build()).build(), self.addr)
        cookie = Handshake.parse(parse_packet(self.sock.recv(2048)).cif).cookie
        exts = [(EXT_HSREQ, HsReq(0x010501, LIVE_FLAGS, 120, 120).build()), (EXT_SID, sid_bytes)]
        hs = Handshake(HS_VERSION_SRT1, 0, HS_EXT_HSREQ | HS_EXT_CONFIG, 0x100, 1500, 8192, URQ_CONCLUSION,
                       self.socket_id, cookie, extensions=exts)
        self.sock.sendto(ControlPacket(HANDSHAKE, 20, 0, hs.build()).build(), self.addr)
        self.sock.settimeout(reply_timeout_s)
        try:
            reply = Handshake.parse(parse_packet(self.sock.recv(2048)).cif)
        except socket.timeout:
            return None
        reason = rejection_reason(reply)
        return "accepted" if reason is None else reason


def sid(text: str) -> bytes:
    return encode_sid(text)


class LossyRelay(UdpRelay):
    """A UDP relay between one SRT client and the server that loses every ``every``-th original data
    packet each way (retransmissions pass), as a lossy link would: what ARQ must repair."""

    def __init__(self, server_port: int, every: int = 20):
        super().__init__(server_port)
        self.every = every

    def _lose(self, data: bytes, way: str) -> bool:
        if len(data) < 16 or data[0] & 0x80 or data[4] & 0x04:   # control, or a retransmission
            return False
        self.counts[way] += 1
        if self.counts[way] % self.every == 0:
            self.lost[way] += 1
            return True
        return False
