"""The ABR worker: ONE decode of a live stream, N libx264 encodes, each published back over RTMP.

    python -m srs.app.abr.worker '{"input": "rtmp://127.0.0.1:1935/live?vhost=v/s", "preset": "veryfast",
        "renditions": [{"name": "480p", "width": 854, "height": 480, "vbitrate": 1000, "abitrate": 96,
                        "url": "rtmp://127.0.0.1:1935/live?vhost=v/s_480p"}],
        "source": "rtmp://127.0.0.1:1935/live?vhost=v/s_source"}'       # optional: a copy of the source

Run by app/abr/ladder.py as a supervised child process per published stream (never in the server's
greenlets: FFmpeg work is blocking C). It plays the source over RTMP, decodes each video frame once
and hands it to every rendition, which scales it (its own swscale context) and encodes it.

Keyframes are aligned across renditions by construction: x264 makes no keyframe of its own
(``keyint=infinite``, no scene cut) and every source keyframe is forced as an IDR in each encoder,
with the source's timestamps kept, so every rendition has its keyframes at the same pts as the
source's (and HLS cuts every variant at the same times). Audio is decoded once and encoded per
rendition at its ``abitrate`` (AAC), or copied when ``abitrate`` is 0.

It reports on stderr (the server logs each line with the stream's cid): one line at start, one every
STATS_S seconds, the reason it ends. Exit 0 when the source ends, 1 on an error (the server restarts
it with a backoff while the stream is published).
"""
from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from typing import List, Optional

import av
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

STATS_S = 10.0
OPEN_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 3.0   # below the server's publish timeout (5 s): the renditions end before they are cut
MS = Fraction(1, 1000)  # FLV's time base: the worker keeps the source's timestamps in it


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def even_size(src_w: int, src_h: int, width: int, height: int):
    """The rendition's size: as configured, the missing side from the source's aspect (both 0: the
    source's size), rounded down to even numbers (x264's 4:2:0 needs them)."""
    if width and not height:
        height = width * src_h / src_w
    elif height and not width:
        width = height * src_w / src_h
    elif not width and not height:
        width, height = src_w, src_h
    return max(2, int(width) // 2 * 2), max(2, int(height) // 2 * 2)


class Rendition:
    """One output: its RTMP muxer, its x264 encoder (and AAC encoder unless audio is copied)."""

    def __init__(self, spec: dict, preset: str, src_w: int, src_h: int, fps: Fraction, audio_in):
        self.name = spec["name"]
        self.width, self.height = even_size(src_w, src_h, spec["width"], spec["height"])
        self.out = av.open(spec["url"], "w", format="flv")
        kbps = int(spec["vbitrate"])
        self.video = self.out.add_stream("libx264", rate=fps, options={
            "preset": preset, "tune": "zerolatency", "forced-idr": "1",
            # keyframes only where the source has them (forced below), at the same pts in every rendition
            "x264-params": "keyint=infinite:scenecut=0:bframes=0:vbv-maxrate=%d:vbv-bufsize=%d" % (kbps, kbps),
        })
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, "yuv420p"
        self.video.bit_rate = kbps * 1000
        self.video.codec_context.time_base = MS
        self.scaler = VideoReformatter()
        self.audio = None
        self.copy_audio = False
        if audio_in is not None:
            if int(spec["abitrate"]) > 0:
                self.audio = self.out.add_stream("aac", rate=audio_in.codec_context.sample_rate,
                                                 layout=audio_in.codec_context.layout.name)
                self.audio.bit_rate = int(spec["abitrate"]) * 1000
            else:
                self.audio = self.out.add_stream_from_template(audio_in)
                self.copy_audio = True
        self.frames = 0
        self.keyframes = 0

    def encode_video(self, frame: "av.VideoFrame", key: bool) -> None:
        pic = self.scaler.reformat(frame, self.width, self.height, "yuv420p")
        pic.pts, pic.time_base = frame.pts, frame.time_base
        pic.pict_type = PictureType.I if key else PictureType.NONE
        for pkt in self.video.encode(pic):
            self.frames += 1
            self.keyframes += pkt.is_keyframe
            self.out.mux(pkt)

    def encode_audio(self, frames: List["av.AudioFrame"]) -> None:
        for frame in frames:
            self.out.mux(self.audio.encode(frame))

    def copy_packet(self, pkt: "av.Packet") -> None:
        copy_into(self.out, self.audio, pkt)

    def close(self) -> None:
        try:
            self.out.mux(self.video.encode(None))
            if self.audio is not None and not self.copy_audio:
                self.out.mux(self.audio.encode(None))
            self.out.close()
        except (av.FFmpegError, OSError, ValueError) as e:
            say("abr worker: %s not flushed: %s" % (self.name, e))  # the server went away first


def copy_into(out, stream, pkt: "av.Packet") -> None:
    copy = av.Packet(bytes(pkt))  # muxing takes the packet: each output gets its own
    copy.pts, copy.dts, copy.time_base, copy.stream = pkt.pts, pkt.dts, pkt.time_base, stream
    if pkt.is_keyframe:
        copy.is_keyframe = True
    out.mux(copy)


class SourceCopy:
    """``abr { source on; }``: the source's packets as they are, published as ``<stream>_source``
    from its first video keyframe on, so the source is a variant on the renditions' timeline (the
    worker's: its play starts at 0) and its HLS/DASH segments start with theirs."""

    def __init__(self, url: str, vin, ain):
        self.out = av.open(url, "w", format="flv")
        self.video = self.out.add_stream_from_template(vin)
        self.audio = self.out.add_stream_from_template(ain) if ain is not None else None
        self.started = False
        self.packets = 0

    def on_packet(self, pkt: "av.Packet") -> None:
        if pkt.stream.type == "video":
            self.started = self.started or pkt.is_keyframe
            if self.started:
                copy_into(self.out, self.video, pkt)
                self.packets += 1
        elif self.started and self.audio is not None:
            copy_into(self.out, self.audio, pkt)

    def close(self) -> None:
        try:
            self.out.close()
        except (av.FFmpegError, OSError, ValueError) as e:
            say("abr worker: source copy not flushed: %s" % e)


def _audio_frames(pkt: "av.Packet") -> List["av.AudioFrame"]:
    """The packet's decoded audio, timestamped in samples (what the AAC encoders count in)."""
    out = []
    for frame in pkt.decode():
        if frame.pts is not None and frame.time_base is not None:
            rate = frame.sample_rate
            frame.pts = int(round(frame.pts * frame.time_base * rate))
            frame.time_base = Fraction(1, rate)
        out.append(frame)
    return out


def run(spec: dict) -> int:
    inp = av.open(spec["input"], format="flv", timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
    if not inp.streams.video:
        say("abr worker: the source has no video, nothing to encode")
        return 1
    vin = inp.streams.video[0]
    vin.thread_type = "AUTO"  # the one decode may use threads (frame threading adds only latency)
    ain = inp.streams.audio[0] if inp.streams.audio else None
    fps = vin.average_rate or vin.guessed_rate or Fraction(25)
    renditions: Optional[List[Rendition]] = None
    source = SourceCopy(spec["source"], vin, ain) if spec.get("source") else None
    decoded = 0
    started = last = time.monotonic()
    try:
        for pkt in inp.demux(*([vin] + ([ain] if ain is not None else []))):
            if pkt.size == 0:
                continue
            if source is not None:
                source.on_packet(pkt)
            if pkt.stream is ain:
                if renditions:
                    frames = _audio_frames(pkt) if any(not r.copy_audio and r.audio for r in renditions) else []
                    for r in renditions:
                        if r.copy_audio:
                            r.copy_packet(pkt)
                        elif r.audio is not None:
                            r.encode_audio(frames)
                continue
            for frame in pkt.decode():  # the one decode
                key = frame.key_frame
                if renditions is None:
                    if not key:
                        continue  # every rendition starts at a source keyframe
                    renditions = [Rendition(r, spec["preset"], frame.width, frame.height, fps, ain)
                                  for r in spec["renditions"]]
                    say("abr worker: source %dx%d@%.2f, renditions %s" % (
                        frame.width, frame.height, float(fps),
                        " ".join("%s=%dx%d" % (r.name, r.width, r.height) for r in renditions)))
                decoded += 1
                for r in renditions:
                    r.encode_video(frame, key)
            now = time.monotonic()
            if renditions and now - last >= STATS_S:
                last = now
                say("abr worker: decoded=%d fps=%.1f %s" % (decoded, decoded / (now - started), " ".join(
                    "%s:frames=%d,keys=%d" % (r.name, r.frames, r.keyframes) for r in renditions)))
    except av.FFmpegError as e:
        if not any(k in str(e).lower() for k in ("timed out", "end of file", "immediate exit")):
            raise
        say("abr worker: source ended after %.1fs (%s)" % (time.monotonic() - started, e))
    finally:
        for r in renditions or ():
            r.close()
        if source is not None:
            source.close()
        inp.close()
    say("abr worker: done, decoded=%d frames" % decoded)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        say("usage: python -m srs.app.abr.worker '<json spec>'")
        return 2
    try:
        return run(json.loads(argv[0]))
    except Exception as e:  # noqa: BLE001 - one line for the server's log, then the exit code says it
        say("abr worker: failed: %s: %s" % (type(e).__name__, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
