"""srs_flv_parser: print every tag of an FLV file as SRS's srs_flv_parser does.

    srs_flv_parser doc/source.200kbps.768x320.flv

Per tag: the packet line (type, dts, pts, size, codec details), the AMF0 values of script
data, and the tag's file offset with its first and last 16 payload bytes in hex.
"""
from __future__ import annotations

import sys

from srs.app.rtmp.librtmp import print_packet
from srs.kernel.errors import SrsError
from srs.kernel.flv import scan_tags
from srs.main.librtmp import banner, run, trace

USAGE = """parse and show flv file detail
Usage: srs_flv_parser in_flv_file
   in_flv_file         flv file to parse and show.
For example:
   srs_flv_parser doc/source.200kbps.768x320.flv
"""


def hex16(data: bytes) -> str:
    return " ".join(f"{b:02X}" for b in data[:16])


def parse(path: str, out=None) -> int:
    """Print the tags; returns the number of tags (raises CodecError on a broken file)."""
    out = out or sys.stdout
    with open(path, "rb") as f:
        data = f.read()
    trace("start parse flv", out)
    tags = scan_tags(data)
    for pos, kind, ts, size in tags:
        payload = data[pos + 11:pos + 11 + size]
        print_packet(kind, ts, payload, out)
        tail = hex16(payload[-16:]) if size > 32 else ""
        out.write(f"offset={pos}, first and last 16 bytes:\n[+00, +15] {hex16(payload)}\n"
                  f"[-15, EOF] {tail}\n")
    end = tags[-1][0] + 11 + tags[-1][3] + 4 if tags else 0
    if tags and end < len(data):
        trace(f"ignore {len(data) - end} trailing bytes (truncated tag)", out)
    trace("parse completed.", out)
    return len(tags)


def main(argv) -> int:
    banner("parse and show flv file detail.")
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 1
    trace(f"input:  {argv[0]}")
    try:
        parse(argv[0])
    except (OSError, SrsError) as e:
        trace(f"parse flv failed: {e}")
        return 2
    return 0


if __name__ == "__main__":
    run(main)
