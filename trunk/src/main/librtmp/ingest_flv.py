"""srs_ingest_flv: publish an FLV file to an RTMP server, paced by its timestamps.

    srs_ingest_flv -i doc/source.200kbps.768x320.flv -y rtmp://127.0.0.1/live/livestream

``--speed`` publishes faster than real time (tests), ``--loop N`` repeats the file with
continuing timestamps (0 = forever).
"""
from __future__ import annotations

import argparse

from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.errors import CodecError, ERROR_STREAM_CASTER_FLV_TAG, SrsError
from srs.kernel.flv import FlvDecoder
from srs.main.librtmp import Pacer, banner, patch, run, trace

READ_SIZE = 64 * 1024


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_ingest_flv", description="ingest flv file and publish to RTMP server")
    p.add_argument("-i", dest="input", required=True, help="the input flv file")
    p.add_argument("-y", dest="url", required=True, help="the RTMP url to publish to")
    p.add_argument("--speed", type=float, default=1.0, help="pace at N x real time (default 1)")
    p.add_argument("--loop", type=int, default=1, help="publish the file N times, 0 = forever")
    p.add_argument("--complex", action="store_true", help="use the complex handshake")
    return p.parse_args(argv)


def flv_messages(path: str):
    """Messages of an FLV file, read in pieces (big files are not loaded at once)."""
    dec = FlvDecoder()
    with open(path, "rb") as f:
        while True:
            data = f.read(READ_SIZE)
            if not data:
                break
            yield from dec.receive_data(data)
    if dec.header is None:
        raise CodecError(f"{path}: not an FLV file", ERROR_STREAM_CASTER_FLV_TAG)
    if dec.pending:
        trace(f"ignore {dec.pending} trailing bytes of a truncated tag")


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("ingest flv file and publish to RTMP server like FFMPEG.")
    trace(f"input:  {args.input}")
    trace(f"output: {args.url}")
    s = RtmpSession(args.url, complex_handshake=args.complex)
    pacer = Pacer(args.speed, max_gap_ms=1 << 30)
    sent = 0
    try:
        s.connect()
        s.publish()
        trace("publish stream success")
        offset = 0
        loop = 0
        while args.loop <= 0 or loop < args.loop:
            last = 0
            for msg in flv_messages(args.input):
                ts = msg.ts_ms + offset
                last = max(last, ts)
                pacer.wait(ts)
                s.write_message(msg.with_ts(ts) if offset else msg)
                sent += 1
            offset = last + 40
            loop += 1
    except SrsError as e:
        trace(f"ingest failed after {sent} packets: {e}")
        return 1
    finally:
        s.close()
    trace(f"completed, {sent} packets, sent {s.sent_bytes} bytes")
    return 0


if __name__ == "__main__":
    run(main)
