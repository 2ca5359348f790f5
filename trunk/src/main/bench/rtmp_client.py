"""The RTMP client steps the bench tools share, on (gevent-patched) blocking sockets.

Handshake, connect, createStream, then play or publish with our own protocol layer
(srs.protocol), waiting for the server's onStatus. After that the tools leave the session:
a player only counts bytes, a publisher only encodes media.
"""
from __future__ import annotations

import os
import socket
from typing import List, Tuple
from urllib.parse import urlsplit

from srs.kernel.errors import RtmpError
from srs.protocol.rtmp_handshake import ClientHandshake
from srs.protocol.rtmp_stack import ClientSession, Close, ConnectResult, Media, Status, StreamCreated


class RtmpUrl:
    """rtmp://host[:port]/app[/...]/stream[?params] -> parts (the last path element is the
    stream; a vhost given as ?vhost= stays in the tcUrl/stream as SRS reads it)."""

    __slots__ = ("host", "port", "app", "stream", "tc_url")

    def __init__(self, url: str):
        u = urlsplit(url)
        if u.scheme != "rtmp" or not u.hostname:
            raise ValueError(f"not an rtmp url: {url}")
        self.host = u.hostname
        self.port = u.port or 1935
        path = u.path.strip("/")
        if "/" not in path:
            raise ValueError(f"rtmp url needs app/stream: {url}")
        self.app, self.stream = path.rsplit("/", 1)
        if u.query:
            self.stream += "?" + u.query
        self.tc_url = f"rtmp://{self.host}:{self.port}/{self.app}"


def _wait(sock: socket.socket, cs: ClientSession, pending: List, kind, code: str = ""):
    """Read until an event of ``kind`` (and onStatus ``code``); answers acks/pings meanwhile."""
    while True:
        while pending:
            ev = pending.pop(0)
            if isinstance(ev, kind) and (not code or getattr(ev, "code", "") == code):
                return ev
            if isinstance(ev, Close):
                raise RtmpError("server closed the session")
            if isinstance(ev, Status) and ev.level == "error":
                raise RtmpError(f"server said {ev.code}: {ev.description}")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed while waiting for {kind.__name__} {code}")
        pending.extend(cs.receive_data(data))
        out = cs.data_to_send()
        if out:
            sock.sendall(out)


def connect(url: RtmpUrl, timeout_s: float = 10.0) -> Tuple[socket.socket, ClientSession, List]:
    """Handshake + connect + createStream; returns (sock, session, events not yet consumed)."""
    sock = socket.create_connection((url.host, url.port), timeout=timeout_s)
    try:
        hs = ClientHandshake(os.urandom, 0)
        sock.sendall(hs.start())
        while not hs.done:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed in handshake")
            out = hs.receive_data(data)
            if out:
                sock.sendall(out)
        cs = ClientSession()
        cs.connect(url.tc_url, url.app)
        sock.sendall(cs.data_to_send())
        pending = list(cs.receive_data(hs.leftover)) if hs.leftover else []
        res = _wait(sock, cs, pending, ConnectResult)
        if not res.ok:
            raise RtmpError(f"connect rejected: {res.info!r}")
        cs.create_stream()
        sock.sendall(cs.data_to_send())
        _wait(sock, cs, pending, StreamCreated)
        return sock, cs, pending
    except BaseException:
        sock.close()
        raise


def play(url: RtmpUrl, timeout_s: float = 10.0) -> Tuple[socket.socket, ClientSession, List]:
    """Connected and playing (NetStream.Play.Start received)."""
    sock, cs, pending = connect(url, timeout_s)
    try:
        cs.play(url.stream)
        sock.sendall(cs.data_to_send())
        _wait(sock, cs, pending, Status, "NetStream.Play.Start")
        return sock, cs, pending
    except BaseException:
        sock.close()
        raise


def wait_media(sock: socket.socket, cs: ClientSession, pending: List) -> None:
    """Read until the first audio or video message (metadata and data messages pass)."""
    while True:
        ev = _wait(sock, cs, pending, Media)
        if ev.message.is_audio or ev.message.is_video:
            return


def publish(url: RtmpUrl, timeout_s: float = 10.0) -> Tuple[socket.socket, ClientSession]:
    """Connected and publishing (NetStream.Publish.Start received), FMLE-style like ffmpeg."""
    sock, cs, pending = connect(url, timeout_s)
    try:
        cs.publish(url.stream)
        sock.sendall(cs.data_to_send())
        _wait(sock, cs, pending, Status, "NetStream.Publish.Start")
        return sock, cs
    except BaseException:
        sock.close()
        raise
