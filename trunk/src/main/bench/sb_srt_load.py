"""sb_srt_load: N SRT players of one stream that only count bytes (srs-bench's sb_rtmp_load, over SRT).

    ./objs/sb_srt_load -c 1000 -r 'srt://127.0.0.1:10080?streamid=#!::r=live/livestream,m=request' -s 5 -m 5

Each player does the HSv5 handshake with our sans-IO caller (srs.protocol.srt.caller), then only
counts what arrives (srt_client.PlayCounter: bytes, packets, sequence gaps) and sends a light ACK
every 64 packets. Players share a UDP socket per ``--per-socket`` (50) of them. ``--json`` adds
``players``: one sample per second of every player's cumulative payload bytes, so a driver can
tell how many players got the full bitrate in its window (run.py's SRT section).
"""
from __future__ import annotations

import sys
import time

import gevent

from srs.main.bench import common
from srs.main.bench.srt_client import Hubs, PlayCounter, srt_target
from srs.protocol.srt.packet import build_shutdown


def extend(p) -> None:
    p.add_argument("--per-socket", type=int, default=50, help="SRT players per UDP socket (default 50)")
    p.add_argument("--latency", type=int, default=120, help="SRT latency asked for, ms (default 120)")


def prepare(opts) -> None:
    opts.hubs = None
    opts.counters = {}        # client index -> PlayCounter (this process)
    opts.player_samples = []  # [unix time, [bytes of client i...]]
    opts.sampler = None


def _sample(opts) -> None:
    while True:
        gevent.sleep(1.0 - time.time() % 1.0)
        _take(opts)


def _take(opts) -> None:
    counters = opts.counters
    opts.player_samples.append([round(time.time(), 3), {i: c.bytes for i, c in counters.items()}])


def play_session(index: int, stats: common.Stats, opts) -> None:
    if opts.hubs is None:
        opts.hubs = Hubs(opts.per_socket)
        opts.sampler = gevent.spawn(_sample, opts)
    server, sid = srt_target(common.client_url(opts.url, index))
    hub = opts.hubs.get(server, index)
    caller = hub.connect(sid, opts.latency)
    counter = PlayCounter(hub, caller)
    old = opts.counters.get(index)
    if old is not None:
        counter.bytes = old.bytes   # a replay continues the player's cumulative count
    opts.counters[index] = counter
    hub.handlers[caller.socket_id] = counter.on_datagram
    stats.alive += 1
    try:
        last, started = counter.bytes, time.monotonic()
        while not counter.closed.wait(1.0):
            stats.nread += counter.bytes - last
            last = counter.bytes
            if counter.pkts == 0 and time.monotonic() - started > 30:
                raise TimeoutError("no SRT data for 30 s")
        stats.nread += counter.bytes - last
        raise ConnectionError("the server shut the SRT connection down")
    finally:
        stats.alive -= 1
        hub.handlers.pop(caller.socket_id, None)
        if not counter.closed.is_set():
            hub.send(build_shutdown(0, caller.peer_socket_id))


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, play_session)


def finish(opts, d: dict) -> None:
    _take(opts)
    d["players"] = opts.player_samples
    d["lost_packets"] = sum(c.lost for c in opts.counters.values())


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_srt_load",
                            "SRT play load: N players counting bytes", 1.0, client,
                            prepare=prepare, extend=extend, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
