"""srs_detect_rtmp: play a stream for a while and report how fast it started (SRS's srs_detect_rtmp).

    srs_detect_rtmp rtmp://127.0.0.1:1935/live/livestream 3 10

``duration`` is stream time to play (s), ``timeout`` the wall-clock limit (s). Progress goes to
stdout; the figures go to stderr as one JSON object, as SRS prints them::

    {"code":0, "total":3086, "dns":0, "tcp_connect":2, "start_play":3, "first_packet":38,
     "last_packet":3043, "stream":3040, "delay":-3, "publish_kbps":0, "play_kbps":372,
     "unit": "ms", "remark0": ..., "remark1": ..., "remark2": ...}

total = dns + tcp_connect + start_play + first_packet + last_packet (ms); ``tcp_connect``
includes the (simple) handshake here; ``code`` is the SRS error code, 0 when the play worked.
"""
from __future__ import annotations

import sys
import time

from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.errors import ERROR_SOCKET_TIMEOUT, SrsError
from srs.main.librtmp import banner, patch, run, trace

USAGE = """detect stream on RTMP server, print result to stderr.
Usage: srs_detect_rtmp <rtmp_url> <duration> <timeout>
   rtmp_url     RTMP stream url to play
   duration     how long to play, in seconds, stream time.
   timeout      how long to timeout, in seconds, system time.
For example:
   srs_detect_rtmp rtmp://127.0.0.1:1935/live/livestream 3 10
"""


def figures(code: int, t0: float, t_dns: float, t_tcp: float, t_play: float, t_first: float,
            t_end: float, stream_ms: int, sent: int, recv: int) -> str:
    """The stderr JSON line; stages never reached count as reached at the previous stage."""
    t_dns = t_dns or t0
    t_tcp = t_tcp or t_dns
    t_play = t_play or t_tcp
    t_first = t_first or t_play

    def ms(a: float, b: float) -> int:
        return int(round((b - a) * 1000))

    total = ms(t0, t_end)
    rate = (lambda n: n * 8 // total if total > 0 else 0)
    return ("{" f'"code":{code}, "total":{total}, "dns":{ms(t0, t_dns)}, '
            f'"tcp_connect":{ms(t_dns, t_tcp)}, "start_play":{ms(t_tcp, t_play)}, '
            f'"first_packet":{ms(t_play, t_first)}, "last_packet":{ms(t_first, t_end)}, '
            f'"stream":{stream_ms}, "delay":{stream_ms - ms(t_first, t_end)}, '
            f'"publish_kbps":{rate(sent)}, "play_kbps":{rate(recv)}, '
            '"unit": "ms", '
            '"remark0": "total = dns + tcp_connect + start_play + first_packet + last_packet", '
            '"remark1": "delay = stream - (time_cleanup - time_first_packet)", '
            '"remark2": "if code is not 0, user must ignore all data"}')


def main(argv) -> int:
    patch()

    banner("detect rtmp stream")
    if len(argv) < 3:
        print(USAGE)
        return 255
    url = argv[0]
    try:
        duration, timeout = int(argv[1]), int(argv[2])
    except ValueError:
        duration = timeout = 0
    trace(f"rtmp url: {url}")
    trace(f"duration: {duration}s, timeout:{timeout}s")
    if duration <= 0 or timeout <= 0:
        trace("duration and timeout must be positive.")
        return 254
    s = RtmpSession(url, timeout_s=timeout)
    t0 = s.t_start = time.monotonic()
    code = 0
    base = last = None
    try:
        s.dns_resolve()
        trace("dns resolve success")
        s.connect_server()
        trace("socket connect success")
        trace("do simple handshake success")
        s.connect_app()
        trace("connect vhost/app success")
        s.play()
        trace("play stream success")
        while True:
            left = t0 + timeout - time.monotonic()
            if left <= 0:
                trace("timeout, terminate.")
                break
            try:
                kind, ts, payload = s.read_flv_tag(left)
            except SrsError as e:
                # a playing stream that hits the wall-clock limit is a result, not a failure
                if e.code == ERROR_SOCKET_TIMEOUT and base is not None:
                    trace("timeout, terminate.")
                    break
                raise
            trace(f"got packet: type={ {8: 'Audio', 9: 'Video', 18: 'Data'}.get(kind, 'Unknown')}, "
                  f"time={ts}, size={len(payload)}")
            if kind in (8, 9):
                base = ts if base is None else base
                last = ts
                if ts - base > duration * 1000:
                    trace("duration exceed, terminate.")
                    break
    except SrsError as e:
        code = e.code
        trace(f"detect failed. ret={code} {e}")
    finally:
        s.close()
    t_end = time.monotonic()
    stream_ms = (last - base) if base is not None else 0
    sys.stderr.write(figures(code, t0, s.t_dns, s.t_tcp, s.t_stream, s.t_first_media, t_end, stream_ms,
                             s.sent_bytes, s.recv_bytes) + "\n")
    sys.stderr.flush()
    trace("")
    trace("completed")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    run(main)
