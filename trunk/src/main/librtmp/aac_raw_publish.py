"""srs_aac_raw_publish: publish a raw AAC ADTS file (SRS's srs_aac_raw_publish).

    srs_aac_raw_publish doc/source.200kbps.768x320.aac rtmp://127.0.0.1/live/livestream

Frame ``i`` goes out at i * 1024 * 1000 / sample_rate ms (the rate from its ADTS header), paced
in real time (``--speed`` for faster). The AudioSpecificConfig sequence header is built from
the ADTS header by ``RtmpSession.write_aac_raw``.
"""
from __future__ import annotations

import argparse

from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.codec import adts_split
from srs.kernel.errors import SrsError
from srs.kernel.raw_muxer import AAC_SAMPLES_PER_FRAME
from srs.main.librtmp import Pacer, banner, patch, run, trace


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_aac_raw_publish", description="publish raw aac (adts) as rtmp stream")
    p.add_argument("file", help="the raw AAC file with ADTS headers")
    p.add_argument("url", help="the RTMP url to publish to")
    p.add_argument("--speed", type=float, default=1.0, help="pace at N x real time (default 1)")
    return p.parse_args(argv)


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("publish raw audio as rtmp stream")
    trace(f"raw_file={args.file}, rtmp_url={args.url}")
    try:
        with open(args.file, "rb") as f:
            data = f.read()
        frames = adts_split(data)
    except (OSError, SrsError) as e:
        trace(f"read aac raw file failed: {e}")
        return 2
    trace(f"read {len(frames)} ADTS frames")
    s = RtmpSession(args.url)
    pacer = Pacer(args.speed, max_gap_ms=1 << 30)
    sent = 0
    pos = 0
    try:
        s.connect()
        s.publish()
        trace("publish stream success")
        for i, (header, _raw) in enumerate(frames):
            rate = header.config.sample_rate
            ts = (i * AAC_SAMPLES_PER_FRAME * 1000 + rate // 2) // rate
            pacer.wait(ts)
            sent += s.write_aac_raw(data[pos:pos + header.frame_length], ts)
            pos += header.frame_length
    except SrsError as e:
        trace(f"publish failed after {sent} messages: {e}")
        return 1
    finally:
        s.close()
    trace(f"completed, {len(frames)} frames, {sent} messages")
    return 0


if __name__ == "__main__":
    run(main)
