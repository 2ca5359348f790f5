"""sb_rtc_load: N WebRTC players over WHEP (SRS's srs-bench sb_rtc_play, without decoding).

    ./objs/sb_rtc_load -c 500 -r 'http://127.0.0.1:1985/rtc/v1/whep/?app=live&stream=livestream' -s 5 -m 5

Each player: a UDP socket on 127.0.0.1, an offer (H.264 + Opus, recvonly, setup:active, the
fingerprint of this process's DTLS certificate), POST to the WHEP URL, the answer's ICE credentials
and first candidate, a STUN binding request, the DTLS handshake as client (app/rtc/dtls.py), then
the SRTP datagrams are only counted, not decrypted (drain.py's epoll reader). A binding request every
``--keepalive`` seconds keeps the session past the server's stun_timeout. ``alive`` counts players
whose DTLS is done; ``nread`` is SRTP bytes (RTP headers and auth tags included).
"""
from __future__ import annotations

import os
import socket
import struct
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import gevent

from srs.app.rtc.dtls import DtlsCertificate, DtlsSession
from srs.main.bench import common
from srs.protocol.rtc import stun

HANDSHAKE_TIMEOUT_S = 10.0
OFFER = """v=0
o=- {sid} 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=msid-semantic: WMS
m=video 9 UDP/TLS/RTP/SAVPF 102
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:sha-256 {fp}
a=setup:active
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
m=audio 9 UDP/TLS/RTP/SAVPF 111
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:sha-256 {fp}
a=setup:active
a=mid:1
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
"""


def _token(n: int) -> str:
    return os.urandom(n).hex()[:n]


class Player:
    """One WHEP player's ICE and DTLS, over a plain (gevent-patched) UDP socket."""

    def __init__(self, url: str, cert: DtlsCertificate, offer: str = OFFER, **fields):
        self.url = url
        self.cert = cert
        self.offer, self.fields = offer, fields   # the SDP template and its extra fields (sb_rtc_publish)
        self.dtls = None
        self.ufrag, self.pwd = _token(8), _token(24)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.peer = None
        self.username = ""
        self.server_pwd = ""
        self.location = ""

    def signal(self) -> int:
        """POST the offer; learn the server's ICE credentials and candidate. Returns bytes read."""
        offer = self.offer.format(sid=struct.unpack(">I", os.urandom(4))[0], ufrag=self.ufrag, pwd=self.pwd,
                                  fp=self.cert.fingerprint, **self.fields).replace("\n", "\r\n")
        req = urllib.request.Request(self.url, data=offer.encode(), method="POST",
                                     headers={"Content-Type": "application/sdp"})
        with urllib.request.urlopen(req, timeout=HANDSHAKE_TIMEOUT_S) as r:
            answer = r.read().decode()
            self.location = r.headers.get("Location", "")
        ufrag = pwd = ""
        for line in answer.splitlines():
            if line.startswith("a=ice-ufrag:"):
                ufrag = line.split(":", 1)[1]
            elif line.startswith("a=ice-pwd:"):
                pwd = line.split(":", 1)[1]
            elif line.startswith("a=candidate:") and self.peer is None:
                f = line.split()
                self.peer = (f[4], int(f[5]))
        if not ufrag or not pwd or self.peer is None:
            raise ValueError("answer without ICE credentials or candidate")
        self.username, self.server_pwd = f"{ufrag}:{self.ufrag}", pwd
        return len(answer)

    def binding(self) -> None:
        self.sock.sendto(stun.binding_request(os.urandom(12), self.username, self.server_pwd, 0x6E7F00FF,
                                              True, 1, use_candidate=True), self.peer)

    def handshake(self) -> int:
        """STUN, then DTLS as client until done (``self.dtls``); returns the bytes read meanwhile."""
        dtls = self.dtls = DtlsSession(self.cert, "active")
        self.binding()
        for out in dtls.start():
            self.sock.sendto(out, self.peer)
        got = 0
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        self.sock.settimeout(0.2)
        while not dtls.done:
            if time.monotonic() > deadline:
                raise TimeoutError("DTLS handshake timed out")
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                self.binding()                      # the first check may have been lost
                for out in dtls.handle_timeout():
                    self.sock.sendto(out, self.peer)
                continue
            got += len(data)
            if stun.classify(data) != stun.PACKET_DTLS:
                continue
            for out in dtls.feed(data):
                self.sock.sendto(out, self.peer)
        self.sock.settimeout(None)
        return got


def play_session(index: int, stats: common.Stats, opts) -> None:
    player = Player(common.client_url(opts.url, index), opts.cert)
    keepalive = None
    try:
        signalled = player.signal()         # each waits on the network: counted after, not across it
        stats.nread += signalled
        shaken = player.handshake()
        stats.nread += shaken
        stats.alive += 1

        def keep():
            while True:
                gevent.sleep(opts.keepalive)
                try:
                    player.binding()
                except OSError:     # the session ended meanwhile (its socket is closed)
                    return
        keepalive = gevent.spawn(keep)
        try:
            common.drain(stats, opts).read(player.sock)
        finally:
            stats.alive -= 1
    finally:
        if keepalive is not None:
            keepalive.kill(block=False)
        player.sock.close()


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, play_session)


def _extend(parser) -> None:
    parser.add_argument("--keepalive", type=float, default=5.0, help="seconds between STUN binding requests")


def _prepare(opts) -> None:
    if urlsplit(opts.url).scheme not in ("http", "https"):
        raise SystemExit("sb_rtc_load: -r is the WHEP URL (http://host:1985/rtc/v1/whep/?app=..&stream=..)")
    opts.cert = DtlsCertificate.generate()   # one per process (the workers share it: it is only a key)


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_rtc_load",
                            "WebRTC load: N WHEP players (ICE + DTLS, SRTP bytes counted)", 0.0, client,
                            prepare=_prepare, extend=_extend)


if __name__ == "__main__":
    sys.exit(main())
