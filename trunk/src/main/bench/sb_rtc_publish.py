"""sb_rtc_publish: N WebRTC publishers over WHIP (srs-bench's sb_rtc_publish), H.264 + Opus from an FLV.

    ./objs/sb_rtc_publish -i objs/bench/bench_600k.flv -c 200 \\
        -r 'http://127.0.0.1:1985/rtc/v1/whip/?app=live&stream=s{i}' -s 5 -m 5

The file is packetised once, as the server would for a WebRTC player (app/rtc/play.py's
``RtcStreamEncoder``: H.264 as STAP-A/single NALU/FU-A, AAC transcoded to Opus, 60 ms a packet).
Each publisher: a UDP socket on 127.0.0.1, a sendonly offer (H.264 PT 102 + Opus PT 111, its own
SSRCs, setup:active), the WHIP POST, ICE and the DTLS handshake as client (sb_rtc_load's ``Player``),
then every packet with its SSRC, a sequence number and a timestamp that go on across the file's
loops, SRTP-protected and sent at its time (packets due within 20 ms go together). What the server
sends back (NACK, PLI, transport-cc) is not read: the file plays as is. ``nwrite`` is SRTP bytes.
"""
from __future__ import annotations

import os
import struct
import sys
import time

import gevent

from srs.app.rtc.dtls import DtlsCertificate
from srs.app.rtc.play import AUDIO_PT, OPUS_CLOCK, BridgeOptions, RtcStreamEncoder
from srs.app.rtc.srtp import SrtpSession
from srs.main.bench import common
from srs.main.bench.sb_rtc_load import Player
from srs.main.bench.sb_rtmp_publish import LATE_S, load_flv
from srs.protocol.rtc.rtp_h264 import VIDEO_CLOCK

BATCH_S = 0.02
KEEPALIVE_S = 5.0
OFFER = """v=0
o=- {sid} 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=msid-semantic: WMS sb
m=video 9 UDP/TLS/RTP/SAVPF 102
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:sha-256 {fp}
a=setup:active
a=mid:0
a=sendonly
a=rtcp-mux
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=ssrc:{vssrc} cname:sb
a=ssrc:{vssrc} msid:sb v
m=audio 9 UDP/TLS/RTP/SAVPF 111
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:sha-256 {fp}
a=setup:active
a=mid:1
a=sendonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=ssrc:{assrc} cname:sb
a=ssrc:{assrc} msid:sb a
"""


class _File:
    """What ``RtcStreamEncoder`` reads of a live source that has not started."""

    def __init__(self, url: str):
        self.url, self.video_sh, self.audio_sh, self.gop = url, None, None, []


def packetise(path: str) -> tuple:
    """([(seconds, is audio, plaintext RTP)], loop seconds): the file as a WebRTC player gets it."""
    msgs = load_flv(path)
    first = min(m.ts_ms for m in msgs)
    enc = RtcStreamEncoder(_File("sb/rtc_publish"), BridgeOptions())
    out = []
    for m in msgs:
        for data in enc.encode([m], 0):
            out.append(((m.ts_ms - first) / 1000.0, data[1] & 0x7F == AUDIO_PT, data))
    if not out:
        raise ValueError(f"{path}: no H.264/AAC to packetise")
    return out, (max(m.ts_ms for m in msgs) - first + 40) / 1000.0


def prepare(opts) -> None:
    opts.packets, opts.loop_s = packetise(opts.input)
    opts.cert = DtlsCertificate.generate()
    opts.lateness = {}


def finish(opts, d: dict) -> None:
    late = list(opts.lateness.values())
    d["max_late_ms"] = round(max(late, default=0.0) * 1000, 1)
    d["late_publishers"] = sum(1 for x in late if x >= LATE_S)


def publish_session(index: int, stats: common.Stats, opts) -> None:
    vssrc, assrc = struct.unpack(">II", os.urandom(8))
    player = Player(common.client_url(opts.url, index), opts.cert, OFFER, vssrc=vssrc or 1, assrc=assrc or 2)
    try:
        signalled = player.signal()         # each waits on the network: counted after, not across it
        stats.nread += signalled
        shaken = player.handshake()
        stats.nread += shaken
        srtp = SrtpSession(*player.dtls.srtp_keys())
        stats.alive += 1
        try:
            _send(index, player, srtp, (vssrc or 1, assrc or 2), stats, opts)
        finally:
            stats.alive -= 1
    finally:
        player.sock.close()


def _send(index: int, player: Player, srtp: SrtpSession, ssrcs: tuple, stats: common.Stats, opts) -> None:
    packets, loop_s = opts.packets, opts.loop_s
    seqs = [0, 0]
    rounds = opts.repeat if opts.repeat > 0 else None
    t0 = time.monotonic()
    last_binding = t0
    k, n = 0, len(packets)
    while rounds is None or k < rounds * n:
        loop, i = divmod(k, n)
        due = loop * loop_s + packets[i][0]
        wait = t0 + due - time.monotonic()
        if wait > 0:
            gevent.sleep(wait)
        now = time.monotonic()
        if now - t0 - due > opts.lateness.get(index, 0.0):
            opts.lateness[index] = now - t0 - due
        if now - last_binding > KEEPALIVE_S:
            player.binding()
            last_binding = now
        limit = now - t0 + BATCH_S
        while rounds is None or k < rounds * n:
            loop, i = divmod(k, n)
            at, audio, data = packets[i]
            if loop * loop_s + at > limit:
                break
            clock = OPUS_CLOCK if audio else VIDEO_CLOCK
            ts = (struct.unpack_from(">I", data, 4)[0] + int(loop * loop_s * clock)) & 0xFFFFFFFF
            pkt = bytearray(data)
            struct.pack_into(">HII", pkt, 2, seqs[audio], ts, ssrcs[audio])
            seqs[audio] = (seqs[audio] + 1) & 0xFFFF
            out = srtp.protect(bytes(pkt))
            player.sock.sendto(out, player.peer)
            stats.nwrite += len(out)
            k += 1


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, publish_session, label="publisher", until_ok=True)


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_rtc_publish",
                            "WebRTC publish load: N WHIP publishers of an FLV (ICE + DTLS + SRTP)", 1.0, client,
                            need_input=True, prepare=prepare, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
