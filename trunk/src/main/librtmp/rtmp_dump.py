"""srs_rtmp_dump: play an RTMP stream and save it as FLV, or print each packet (SRS's srs_rtmp_dump).

    srs_rtmp_dump -r rtmp://127.0.0.1:1935/live/livestream -o out.flv [--duration 10]
    srs_rtmp_dump -r URL [-s swfUrl] [-t tcUrl] [-p pageUrl] [--complex]

Without ``-o`` every packet is printed as SRS prints it. Ends when the server closes the stream,
after ``--duration`` seconds of stream time, or ``--timeout`` seconds without data.
"""
from __future__ import annotations

import argparse
import sys

from srs.app.rtmp.librtmp import RtmpSession, print_packet
from srs.kernel.errors import ERROR_SOCKET_TIMEOUT, SrsError
from srs.kernel.flv import encode_tag, flv_header
from srs.main.librtmp import banner, patch, run, trace


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_rtmp_dump", description="dump rtmp stream to flv file")
    p.add_argument("-r", dest="url", required=True, help="the rtmp url to play")
    p.add_argument("-o", dest="output", default="", help="the flv file to write (default: print packets)")
    p.add_argument("-s", dest="swf_url", default="", help="swfUrl in connect")
    p.add_argument("-t", dest="tc_url", default="", help="tcUrl in connect (default: from the url)")
    p.add_argument("-p", dest="page_url", default="", help="pageUrl in connect")
    p.add_argument("--complex", action="store_true", help="use the complex handshake")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds of stream time")
    p.add_argument("--timeout", type=float, default=10.0, help="stop after S seconds without data")
    return p.parse_args(argv)


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("RTMP dump tool")
    trace(f"rtmp url: {args.url}")
    trace(f"output: {args.output or '(print packets)'}")
    s = RtmpSession(args.url, timeout_s=max(args.timeout, 1.0), complex_handshake=args.complex,
                    tc_url=args.tc_url, swf_url=args.swf_url, page_url=args.page_url)
    out = open(args.output, "wb") if args.output else None
    code = 0
    packets = 0
    try:
        s.connect()
        trace(f"connect vhost/app success ({'complex' if args.complex else 'simple'} handshake)")
        s.play()
        trace("play stream success")
        if out:
            out.write(flv_header())
        base = None
        while True:
            try:
                kind, ts, payload = s.read_flv_tag(args.timeout)
            except SrsError as e:
                if e.code == ERROR_SOCKET_TIMEOUT:
                    trace(f"no data in {args.timeout}s, terminate.")
                    break
                raise
            packets += 1
            if out:
                out.write(encode_tag(kind, ts, payload))
            else:
                print_packet(kind, ts, payload)
            if base is None and kind in (8, 9):
                base = ts
            if args.duration > 0 and base is not None and ts - base >= args.duration * 1000:
                trace("duration exceed, terminate.")
                break
    except SrsError as e:
        trace(f"dump failed: {e}")
        code = 1 if packets == 0 else 0
    finally:
        if out:
            out.close()
        s.close()
    trace(f"completed, {packets} packets, recv {s.recv_bytes} bytes")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    run(main)
