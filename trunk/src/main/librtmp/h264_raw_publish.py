"""srs_h264_raw_publish: publish a raw H.264 Annex-B file (SRS's srs_h264_raw_publish).

    srs_h264_raw_publish doc/source.200kbps.768x320.h264 rtmp://127.0.0.1/live/livestream 25

The file is cut into access units; unit ``i`` goes out at dts = pts = i * 1000 / fps ms (a raw
stream has no timestamps), paced at ``fps`` (``--speed`` for faster than real time). The AVC
sequence header is built from the stream's SPS/PPS by ``RtmpSession.write_h264_raw``.
"""
from __future__ import annotations

import argparse

from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.errors import SrsError
from srs.kernel.raw_muxer import split_access_units
from srs.main.librtmp import Pacer, banner, patch, run, trace


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_h264_raw_publish", description="publish raw h.264 as rtmp stream")
    p.add_argument("file", help="the raw H.264 (Annex-B) file")
    p.add_argument("url", help="the RTMP url to publish to")
    p.add_argument("fps", type=float, help="frames per second of the stream")
    p.add_argument("--speed", type=float, default=1.0, help="pace at N x real time (default 1)")
    return p.parse_args(argv)


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("publish raw h.264 as rtmp stream")
    trace(f"raw_file={args.file}, rtmp_url={args.url}, fps={args.fps:.2f}")
    if args.fps <= 0:
        trace("fps must be positive")
        return 2
    try:
        with open(args.file, "rb") as f:
            units = split_access_units(f.read())
    except (OSError, SrsError) as e:
        trace(f"read h264 raw file failed: {e}")
        return 2
    trace(f"read {len(units)} access units")
    s = RtmpSession(args.url)
    pacer = Pacer(args.speed, max_gap_ms=1 << 30)
    sent = 0
    try:
        s.connect()
        s.publish()
        trace("publish stream success")
        for i, unit in enumerate(units):
            ts = int(round(i * 1000.0 / args.fps))
            pacer.wait(ts)
            sent += s.write_h264_raw(unit, ts, ts)
    except SrsError as e:
        trace(f"publish failed after {sent} messages: {e}")
        return 1
    finally:
        s.close()
    trace(f"completed, {len(units)} frames, {sent} messages, "
          f"{s.h264_dropped} dropped before SPS/PPS or a keyframe")
    return 0


if __name__ == "__main__":
    run(main)
