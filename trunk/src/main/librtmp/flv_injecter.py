"""srs_flv_injecter: add a keyframe index to an FLV file's onMetaData (SRS's srs_flv_injecter).

    srs_flv_injecter in.flv out.flv

The output's onMetaData carries ``keyframes: {times: [s...], filepositions: [byte offset...]}``
(the layout of yamdi/flvtool2 that Flash players and SRS's HTTP FLV VOD ``?start=`` use): one
entry per video keyframe (sequence headers excluded), with the offset of its tag in the
*output* file. A file without onMetaData gets one as its first tag; an existing index is
replaced. Other tags are copied byte for byte.
"""
from __future__ import annotations

import os

from srs.kernel.errors import Amf0DecodeError, SrsError
from srs.kernel.flv import FlvHeader, encode_tag, scan_tags
from srs.kernel.message import MSG_AMF0_DATA, MSG_VIDEO
from srs.main.librtmp import banner, run, trace
from srs.protocol import amf0
from srs.protocol.amf0 import EcmaArray

USAGE = """inject flv file keyframes to metadata
Usage: srs_flv_injecter in_flv_file out_flv_file
   in_flv_file         input flv file to inject.
   out_flv_file        the inject output file, can be in_flv_file.
For example:
   srs_flv_injecter doc/source.200kbps.768x320.flv injected.flv
"""


def _metadata(body: bytes):
    """(name, object) of an onMetaData script tag body, or None for other script data."""
    try:
        values = amf0.decode_all(body)
    except Amf0DecodeError:
        return None
    if len(values) >= 2 and values[0] in ("onMetaData", "@setDataFrame") and isinstance(values[-1], dict):
        return values[-1]
    return None


def _meta_tag(meta: dict, times: list, positions: list) -> bytes:
    meta = type(meta)(meta)  # keep EcmaArray vs object
    meta["keyframes"] = {"times": [float(t) for t in times], "filepositions": [float(p) for p in positions]}
    return encode_tag(MSG_AMF0_DATA, 0, amf0.encode("onMetaData", meta))


def inject(data: bytes) -> bytes:
    """The FLV ``data`` with a keyframe index in its onMetaData."""
    header = FlvHeader.parse(data)
    head_size = header.data_offset + 4
    tags = scan_tags(data)
    meta_index = -1
    meta: dict = EcmaArray()
    for i, (pos, kind, _ts, size) in enumerate(tags):
        if kind == MSG_AMF0_DATA:
            found = _metadata(data[pos + 11:pos + 11 + size])
            if found is not None:
                meta_index, meta = i, found
                break
    times, keys = [], []  # keyframe timestamps (s) and their tag offsets in the input
    for pos, kind, ts, size in tags:
        if kind == MSG_VIDEO and size >= 2:
            b0, b1 = data[pos + 11], data[pos + 12]
            if b0 >> 4 == 1 and not ((b0 & 0x0F) == 7 and b1 != 1):  # keyframe, not a sequence header
                times.append(ts / 1000.0)
                keys.append(pos)
    # Offsets move by the size change of the metadata tag; number arrays have a fixed size, so
    # a first encoding with the input offsets gives the final tag size.
    old_size = tags[meta_index][3] + 15 if meta_index >= 0 else 0
    delta = len(_meta_tag(meta, times, keys)) - old_size
    meta_pos = tags[meta_index][0] if meta_index >= 0 else head_size
    positions = [p + delta if p >= meta_pos else p for p in keys]
    new_meta = _meta_tag(meta, times, positions)
    end = tags[-1][0] + tags[-1][3] + 15 if tags else head_size
    if meta_index >= 0:
        return data[:meta_pos] + new_meta + data[meta_pos + old_size:end]
    return data[:head_size] + new_meta + data[head_size:end]


def main(argv) -> int:
    banner("inject flv file keyframes to metadata.")
    if len(argv) < 2:
        print(USAGE)
        return 1
    src, dst = argv[0], argv[1]
    trace(f"input:  {src}")
    trace(f"output: {dst}")
    try:
        with open(src, "rb") as f:
            data = f.read()
        out = inject(data)
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(out)
        os.replace(tmp, dst)
    except (OSError, SrsError) as e:
        trace(f"inject flv failed: {e}")
        return 2
    trace(f"completed, {len(data)} -> {len(out)} bytes")
    return 0


if __name__ == "__main__":
    run(main)
