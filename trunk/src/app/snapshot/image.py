"""A keyframe of a live stream as a picture: decode with PyAV, scale, encode JPEG or PNG.

These functions are blocking C work (FFmpeg); app/snapshot/cache.py runs them in worker threads,
never in a greenlet of the hub.

    frame = decode_keyframe(video_sh.payload, keyframe.payload)   # VideoFrame (H.264 or HEVC)
    data = encode_picture(frame, "jpg", *fit_size(frame.width, frame.height, 320, 0, 1920, 1080))

The decoder gets the sequence header's configuration record (avcC/hvcC) as its extradata and the
keyframe's length-prefixed NAL units as one packet, the way a demuxer hands them over: no Annex-B
conversion. Legacy and Enhanced RTMP tags both go through ``VideoTag.parse`` (its ``data_offset``).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Tuple

from srs.core.lazy import lazy_module
from srs.kernel.codec import VCODEC_AVC, VCODEC_HEVC, VideoTag
from srs.kernel.errors import CodecError

av = lazy_module("av")   # the FFmpeg libraries load with the first snapshot (core/lazy.py)

DECODERS = {VCODEC_AVC: "h264", VCODEC_HEVC: "hevc"}
# format -> (FFmpeg encoder, its pixel format, the HTTP content type)
FORMATS = {"jpg": ("mjpeg", "yuvj420p", "image/jpeg"), "png": ("png", "rgb24", "image/png")}
JPEG_QSCALE = 3  # mjpeg quality (2 best .. 31 worst): the default (qmin 2..31 at 200 kb/s) is blurry


def decode_keyframe(sh_payload: bytes, key_payload: bytes) -> "av.VideoFrame":
    """The picture of one keyframe; raises CodecError when the codec is not H.264/HEVC, the header
    does not match the frame, or FFmpeg gives no picture."""
    sh, key = VideoTag.parse(sh_payload), VideoTag.parse(key_payload)
    name = DECODERS.get(sh.codec_id)
    if name is None or key.codec_id != sh.codec_id:
        raise CodecError("no snapshot of codec %s (frame %s)" % (sh.codec_name, key.codec_name))
    ctx = av.CodecContext.create(name, "r")
    ctx.thread_count = 1  # one picture: threads only add latency (frame threading delays output)
    ctx.extradata = bytes(sh_payload[sh.data_offset:])
    try:
        frames = ctx.decode(av.Packet(bytes(key_payload[key.data_offset:])))
        frames += ctx.decode(None)  # flush: the decoder may hold the picture back
    except av.FFmpegError as e:
        raise CodecError("snapshot decode failed: %s" % e) from e
    if not frames:
        raise CodecError("snapshot decode gave no picture")
    return frames[0]


def fit_size(src_w: int, src_h: int, want_w: int, want_h: int, max_w: int, max_h: int) -> Tuple[int, int]:
    """The output size: ``want_w``/``want_h`` (0: not asked) keeping the source's aspect when only
    one is given, then shrunk (aspect kept) into ``max_w`` x ``max_h``; even sizes, at least 2."""
    if want_w and want_h:
        w, h = want_w, want_h
    elif want_w:
        w, h = want_w, want_w * src_h / src_w
    elif want_h:
        w, h = want_h * src_w / src_h, want_h
    else:
        w, h = src_w, src_h
    scale = min(1.0, max_w / w, max_h / h)
    w, h = w * scale, h * scale
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def encode_picture(frame: "av.VideoFrame", fmt: str, width: int, height: int) -> bytes:
    """``frame`` scaled to width x height and encoded as ``fmt`` ("jpg" or "png")."""
    codec, pix_fmt, _ = FORMATS[fmt]
    picture = frame.reformat(width, height, format=pix_fmt)
    picture.pts = 0
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    if codec == "mjpeg":
        ctx.qmin = ctx.qmax = JPEG_QSCALE
    packets = ctx.encode(picture) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)
