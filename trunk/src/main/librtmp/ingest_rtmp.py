"""srs_ingest_rtmp: play one RTMP stream and publish it to another (SRS's srs_ingest_rtmp).

    srs_ingest_rtmp -i rtmp://127.0.0.1/live/livestream -y rtmp://127.0.0.1/live/relay

Relays until the input closes, goes ``--timeout`` seconds without data, or ``--duration``
seconds of wall time passed. The output is opened after the input started playing, so a
missing input stream does not create an empty published stream.
"""
from __future__ import annotations

import argparse
import time

from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.errors import ERROR_SOCKET_TIMEOUT, SrsError
from srs.main.librtmp import banner, patch, run, trace


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_ingest_rtmp", description="ingest RTMP and publish to RTMP server")
    p.add_argument("-i", dest="input", required=True, help="the RTMP url to play")
    p.add_argument("-y", dest="output", required=True, help="the RTMP url to publish to")
    p.add_argument("--timeout", type=float, default=10.0, help="stop after S seconds without data")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0 = never)")
    return p.parse_args(argv)


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("ingest RTMP and publish to RTMP server like edge.")
    trace(f"input:  {args.input}")
    trace(f"output: {args.output}")
    src = RtmpSession(args.input)
    dst = RtmpSession(args.output)
    relayed = 0
    code = 0
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    try:
        src.connect()
        src.play()
        trace("play input success")
        dst.connect()
        dst.publish()
        trace("publish output success")
        while deadline is None or time.monotonic() < deadline:
            try:
                msg = src.read_message(args.timeout)
            except SrsError as e:
                if e.code == ERROR_SOCKET_TIMEOUT:
                    trace(f"no data in {args.timeout}s, terminate.")
                    break
                raise
            # One message per write keeps the relay latency at one message; the client's
            # queue already merges what arrived in one receive into that many sends.
            dst.write_message(msg)
            relayed += 1
    except SrsError as e:
        trace(f"ingest failed after {relayed} packets: {e}")
        code = 1 if relayed == 0 else 0
    finally:
        src.close()
        dst.close()
    trace(f"completed, relayed {relayed} packets")
    return code


if __name__ == "__main__":
    run(main)
