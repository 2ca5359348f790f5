"""sb_rtmp_latency: end-to-end latency publisher -> server -> player(s), with our protocol layer.

    python -m srs.main.bench.sb_rtmp_latency -i bench.flv -r rtmp://127.0.0.1:1935/live/lat --frames 200

One process runs a publisher of the FLV file (paced by its timestamps, as sb_rtmp_publish) and
``--players`` players of the same stream, so both ends read the same ``perf_counter``. Each
video tag the publisher sends carries, appended to its payload, a marker and the perf_counter
at the moment its batch is handed to the socket; the players parse the stream (ClientSession)
and read the stamp back from every video message. Frames published in the first ``--warmup``
seconds after the players started are not counted (the GOP cache replays old frames at join).
Prints the summary (median, p90, p99, max in ms) and writes it with ``--json``.
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time
from typing import Dict, List, Sequence

import gevent
from gevent.event import Event

from srs.kernel.message import MSG_VIDEO, Message
from srs.main.bench import common, rtmp_client
from srs.main.bench.sb_rtmp_publish import load_flv
from srs.protocol.rtmp_stack import Media

MAGIC = b"SRSL"
STAMP = struct.Struct(">d")
TAIL = len(MAGIC) + STAMP.size


def stamp(payload: bytes, t: float) -> bytes:
    """The payload with the send time appended (the server never looks past the codec header)."""
    return payload + MAGIC + STAMP.pack(t)


def read_stamp(payload: bytes) -> float:
    """The send time appended by ``stamp``, or -1.0 when the payload carries none."""
    if len(payload) < TAIL or payload[-TAIL:-STAMP.size] != MAGIC:
        return -1.0
    return STAMP.unpack_from(payload, len(payload) - STAMP.size)[0]


def summarize(delays_ms: Sequence[float]) -> Dict[str, float]:
    """count, median, p90, p99, max (nearest-rank percentiles) of the delays in ms."""
    v = sorted(delays_ms)
    if not v:
        return {"count": 0, "median": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "min": 0.0}

    def rank(p: float) -> float:
        # nearest rank: the smallest value with at least p of the samples at or below it
        k = max(1, -(-len(v) * p // 100))
        return v[int(k) - 1]

    return {"count": len(v), "min": round(v[0], 2), "median": round(rank(50), 2),
            "p90": round(rank(90), 2), "p99": round(rank(99), 2), "max": round(v[-1], 2)}


def _publisher(opts, messages: List, loop_ms: int, first_ms: int, stop) -> None:
    sock, cs = rtmp_client.publish(rtmp_client.RtmpUrl(opts.url))
    _nodelay(sock)
    sock.settimeout(None)
    drain = gevent.spawn(_drain, sock)
    try:
        t0 = time.monotonic()
        loops = 0
        while not stop.is_set():
            offset = loops * loop_ms - first_ms
            for m in messages:
                wait = t0 + (m.ts_ms + offset) / 1000.0 - time.monotonic()
                if wait > 0:
                    gevent.sleep(wait)
                if stop.is_set():
                    return
                payload = m.payload
                # sequence headers stay intact: the server parses them
                if m.kind == MSG_VIDEO and not m.seq_header:
                    payload = stamp(payload, time.perf_counter())
                cs.send_media(Message.make(m.kind, m.ts_ms + offset, payload, cs.stream_id))
                sock.sendall(cs.data_to_send())
            loops += 1
    finally:
        drain.kill()
        sock.close()


def _drain(sock) -> None:
    buf = bytearray(65536)
    while sock.recv_into(buf):
        pass


def _nodelay(sock) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _player(opts, delays: List[float], want: int, stop) -> None:
    sock, cs, pending = rtmp_client.play(rtmp_client.RtmpUrl(opts.url))
    _nodelay(sock)
    sock.settimeout(None)
    count_after = time.perf_counter() + opts.warmup
    try:
        while len(delays) < want and not stop.is_set():
            data = sock.recv(262144)
            if not data:
                return
            now = time.perf_counter()
            for ev in cs.receive_data(data):
                if isinstance(ev, Media) and ev.message.is_video:
                    sent = read_stamp(ev.message.payload)
                    if sent >= count_after:
                        delays.append((now - sent) * 1000.0)
            out = cs.data_to_send()
            if out:
                sock.sendall(out)
    finally:
        sock.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="sb_rtmp_latency", description=__doc__.split("\n")[0])
    p.add_argument("-i", "--input", required=True, help="FLV file to publish (looped)")
    p.add_argument("-r", "--url", required=True, help="rtmp://host:port/app/stream")
    p.add_argument("--frames", type=int, default=200, help="video frames to measure per player")
    p.add_argument("--players", type=int, default=1)
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of frames not counted")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--json", default="")
    opts = p.parse_args(sys.argv[1:] if argv is None else argv)

    common.patch()

    messages = load_flv(opts.input)
    first = min(m.ts_ms for m in messages)
    loop_ms = max(1, max(m.ts_ms for m in messages) - first + 40)
    stop = Event()
    pub = gevent.spawn(_publisher, opts, messages, loop_ms, first, stop)
    gevent.sleep(1.0)  # publishing before the players come, as a live stream would be
    per: List[List[float]] = [[] for _ in range(opts.players)]
    players = [gevent.spawn(_player, opts, per[k], opts.frames, stop) for k in range(opts.players)]
    gevent.joinall(players, timeout=opts.timeout)
    stop.set()
    errors = [repr(g.exception) for g in players + [pub] if g.exception is not None]
    gevent.killall(players + [pub], timeout=2)
    d = summarize([x for lst in per for x in lst])
    d.update({"players": opts.players, "frames": opts.frames, "errors": errors})
    print("[latency] " + json.dumps(d), flush=True)
    if opts.json:
        common.write_json(opts.json, d)
    return 0 if d["count"] and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
