"""srs_ingest_hls: pull an HLS stream and publish it over RTMP (SRS's srs_ingest_hls).

    srs_ingest_hls -i http://127.0.0.1:8080/live/livestream.m3u8 -y rtmp://127.0.0.1/live/relay

A fetcher greenlet polls the playlist (every half target duration), downloads each segment it
has not seen (all of the first playlist, then the new ones), demuxes it with the kernel's
TsDemuxer and queues the frames; the publisher sends them paced by their timestamps: H.264 PES
payloads are Annex-B, AAC ones ADTS, so ``RtmpSession.write_h264_raw``/``write_aac_raw`` build
the sequence headers and FLV payloads. A master playlist is followed to its first variant.
Ends at #EXT-X-ENDLIST once everything is sent, after ``--duration`` seconds, or when nothing
new arrived for ``--timeout`` seconds. Only H.264 and AAC are ingested (as SRS).
"""
from __future__ import annotations

import argparse
import time
from urllib.parse import urljoin

import gevent
import gevent.queue

from srs.app.http.client import http_get
from srs.app.rtmp.librtmp import RtmpSession
from srs.kernel.errors import CodecError, HttpError, SrsError
from srs.kernel.ts_demux import TsDemuxer
from srs.main.librtmp import Pacer, banner, patch, run, trace

STREAM_H264 = 0x1B
STREAM_AAC = 0x0F
MAX_SEGMENT_BYTES = 64 * 1024 * 1024
SEEN_LIMIT = 4096
_WRAP = 1 << 33


class Playlist:
    __slots__ = ("segments", "variants", "target", "ended")

    def __init__(self):
        self.segments: list = []   # (duration s, absolute url)
        self.variants: list = []
        self.target = 0.0
        self.ended = False


def parse_m3u8(text: str, base: str) -> Playlist:
    """Media or master playlist; relative URIs resolved against ``base``. ValueError if not m3u8."""
    if not text.lstrip().startswith("#EXTM3U"):
        raise ValueError("not an m3u8 playlist")
    pl = Playlist()
    duration = 0.0
    variant = False
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[8:].split(",", 1)[0])
            except ValueError:
                duration = 0.0
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            try:
                pl.target = float(line.split(":", 1)[1])
            except ValueError:
                pass
        elif line.startswith("#EXT-X-STREAM-INF"):
            variant = True
        elif line.startswith("#EXT-X-ENDLIST"):
            pl.ended = True
        elif not line.startswith("#"):
            url = urljoin(base, line)
            if variant:
                pl.variants.append(url)
            else:
                pl.segments.append((duration, url))
            variant, duration = False, 0.0
    return pl


class Clock90k:
    """90 kHz PTS/DTS -> ms from the first timestamp, unwrapping the 33-bit counter."""

    __slots__ = ("base", "last", "offset")

    def __init__(self):
        self.base = None
        self.last = 0
        self.offset = 0

    def ms(self, v: int) -> int:
        v += self.offset
        if self.base is not None:
            if v < self.last - (_WRAP >> 1):    # the counter wrapped
                self.offset += _WRAP
                v += _WRAP
            elif v > self.last + (_WRAP >> 1):  # a late frame from before the wrap
                v -= _WRAP
        self.last = max(self.last, v)
        if self.base is None:
            self.base = v
        return max(0, (v - self.base) // 90)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="srs_ingest_hls", description="ingest HLS and publish to RTMP server")
    p.add_argument("-i", dest="input", required=True, help="the HLS playlist url (http://...m3u8)")
    p.add_argument("-y", dest="output", required=True, help="the RTMP url to publish to")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0 = never)")
    p.add_argument("--timeout", type=float, default=30.0, help="stop after S seconds with nothing new")
    p.add_argument("--speed", type=float, default=1.0, help="pace at N x real time (default 1)")
    return p.parse_args(argv)


class Ingester:
    def __init__(self, args):
        self.args = args
        self.frames = gevent.queue.Queue()
        self.seen: dict = {}        # segment url -> None (insertion ordered, bounded)
        self.segments = 0
        self.done = False

    def fetch(self, url: str, limit: int) -> bytes:
        status, body = http_get(url, timeout_s=10.0, max_bytes=limit)
        if status != 200:
            raise HttpError(f"GET {url}: status {status}", status=status)
        return body

    def poll(self) -> None:
        """Fetcher greenlet: playlist -> new segments -> TS frames queued; None at the end."""
        url = self.args.input
        try:
            while not self.done:
                pl = parse_m3u8(self.fetch(url, 1 << 20).decode("utf-8", "replace"), url)
                if pl.variants and not pl.segments:
                    url = pl.variants[0]
                    trace(f"follow variant {url}")
                    continue
                for _dur, seg in pl.segments:
                    if seg in self.seen:
                        continue
                    self.seen[seg] = None
                    if len(self.seen) > SEEN_LIMIT:
                        self.seen.pop(next(iter(self.seen)))
                    try:
                        data = self.fetch(seg, MAX_SEGMENT_BYTES)
                    except SrsError as e:
                        trace(f"skip segment {seg}: {e}")
                        continue
                    demux = TsDemuxer()
                    frames = demux.receive_data(data) + demux.flush()
                    self.segments += 1
                    trace(f"segment #{self.segments} {seg}: {len(data)} bytes, {len(frames)} frames")
                    for fr in frames:
                        self.frames.put(fr)
                if pl.ended:
                    trace("playlist ended (#EXT-X-ENDLIST)")
                    break
                gevent.sleep(min(max((pl.target or 2.0) / 2, 0.5), 5.0))
        except (SrsError, ValueError, UnicodeError) as e:
            trace(f"hls input failed: {e}")
        finally:
            self.frames.put(None)

    def publish(self, session) -> int:
        """Publisher: frames from the queue, paced, to the RTMP session; returns frames sent."""
        clock = Clock90k()
        pacer = Pacer(self.args.speed)
        sent = 0
        deadline = time.monotonic() + self.args.duration if self.args.duration > 0 else None
        while deadline is None or time.monotonic() < deadline:
            try:
                fr = self.frames.get(timeout=self.args.timeout)
            except gevent.queue.Empty:
                trace(f"nothing new in {self.args.timeout}s, terminate.")
                break
            if fr is None:
                break
            if fr.stream_type not in (STREAM_H264, STREAM_AAC):
                continue
            dts = clock.ms(fr.dts)
            pts = dts + (fr.pts - fr.dts) // 90
            pacer.wait(dts)
            try:
                if fr.stream_type == STREAM_H264:
                    session.write_h264_raw(fr.payload, dts, pts)
                else:
                    session.write_aac_raw(fr.payload, pts)
                sent += 1
            except CodecError as e:
                trace(f"drop a bad frame {fr!r}: {e}")
        return sent


def main(argv) -> int:
    patch()

    args = parse_args(argv)
    banner("ingest HLS and publish to RTMP server.")
    trace(f"input:  {args.input}")
    trace(f"output: {args.output}")
    ing = Ingester(args)
    fetcher = gevent.spawn(ing.poll)
    s = RtmpSession(args.output)
    sent = 0
    code = 0
    try:
        s.connect()
        s.publish()
        trace("publish stream success")
        sent = ing.publish(s)
    except SrsError as e:
        trace(f"ingest failed: {e}")
        code = 1
    finally:
        ing.done = True
        fetcher.kill()
        s.close()
    trace(f"completed, {ing.segments} segments, {sent} frames")
    return code


if __name__ == "__main__":
    run(main)
