"""The table's SRT rows: ``srt_server {}`` (the UDP listener, SRS 4/5) and ``vhost { srt {} }``.

Defaults are SRS 5's (srs_app_config.cpp get_srt_*): latency 120 ms, peerlatency 0, tsbpdmode and
tlpktdrop on, peer_idle_timeout 10 s, buffers of 8192 x (1500 - 28) bytes (sendbuf and recvbuf
bound each connection's send and receive buffers, in packets of mss - 28 bytes),
payloadsize 1316 (7 TS packets: what our SRT players get), no passphrase. The env variables come
from the paths (SRS_SRT_SERVER_LATENCY, SRS_VHOST_SRT_ENABLED); SRS 6 also reads
SRS_VHOST_SRT_TO_RTMP. A reload of srt_server re-listens (app/srt/server.py on_reload); the vhost's
srt block is read at each connection.
"""
from __future__ import annotations

from srs.app.config.row import COUNT, ENDPOINT, FLAG, HOST_ANY, ON_USE, STR, Choice, Number, Row, block

SRT_BUF = 8192 * (1500 - 28)   # SRS's default sendbuf/recvbuf (libsrt's)

SRT_ROWS = (
    block("srt_server", reload="srt_server"),
    Row("srt_server.enabled", FLAG, False),
    Row("srt_server.listen", ENDPOINT, (HOST_ANY, 10080)),
    Row("srt_server.maxbw", STR, ignored="not applied here (libsrt paces a socket's sending at SRTO_MAXBW; "
        "we send each SRT player at its stream's own rate, retransmissions bounded per NAK)"),
    Row("srt_server.mss", Number(True, 76, 65536), 1500),
    Row("srt_server.latency", COUNT, 120),
    Row("srt_server.recvlatency", COUNT, 120),
    Row("srt_server.peerlatency", COUNT, 0),
    Row("srt_server.tsbpdmode", FLAG, True),
    Row("srt_server.tlpktdrop", FLAG, True),
    Row("srt_server.connect_timeout", STR, ignored="a caller's option (SRTO_CONNTIMEO applies to callers and "
        "rendezvous, never to a listener, in libsrt and so in SRS)"),
    Row("srt_server.peer_idle_timeout", COUNT, 10000),
    Row("srt_server.sendbuf", COUNT, SRT_BUF),
    Row("srt_server.recvbuf", COUNT, SRT_BUF),
    Row("srt_server.payloadsize", Number(True, 188, 1456), 1316),
    Row("srt_server.passphrase", STR, ""),
    Row("srt_server.pbkeylen", Choice("0", "16", "24", "32"), "0"),
    Row("srt_server.default_app", STR, "live"),
    Row("srt_server.sei_filter", FLAG, True),
    Row("srt_server.mix_correct", STR, ignored="unused since SRS 5"),
    Row("srt_server.default_streamid", STR, ignored="unused since SRS 5"),
    Row("srt_server.tlpkdrop", STR, ignored="SRS 4's spelling of tlpktdrop"),

    block("vhost.srt", reload=ON_USE),
    Row("vhost.srt.enabled", FLAG, False),
    Row("vhost.srt.srt_to_rtmp", FLAG, True, env=("SRS_VHOST_SRT_SRT_TO_RTMP", "SRS_VHOST_SRT_TO_RTMP")),
)
