"""sb_srt_publish: N SRT publishers of an MPEG-TS file, paced at its bitrate (srs-bench, over SRT).

    ./objs/sb_srt_publish -i objs/bench/bench_600k.ts -c 200 \\
        -r 'srt://127.0.0.1:10080?streamid=#!::r=live/s{i},m=publish' -s 5 -m 5

The file is read once and cut into 1316-byte payloads (7 TS packets, what ffmpeg and SRS send);
each publisher is a real SRT caller (our sans-IO caller and ``SrtConnection``: retransmission on
NAK, ACKACK, keep-alive) and sends payload k at ``k x 1316 x 8 / bitrate`` seconds, the bitrate
being the file's (size over its PCR span) unless ``--kbps`` says otherwise. Publishers share a UDP
socket per ``--per-socket`` of them. The file loops (its timestamps jump back: make it longer
than the run). ``--json`` adds the worst lateness and how many publishers fell >= 0.5 s behind.
"""
from __future__ import annotations

import sys
import time

import gevent

from srs.main.bench import common
from srs.main.bench.srt_client import Hubs, now_us, srt_target
from srs.protocol.srt.connection import State
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.packet import parse_packet

PAYLOAD = 7 * 188
BATCH_S = 0.02     # payloads due within this long go out in one wake-up
LATE_S = 0.5


def ts_kbps(data: bytes) -> float:
    """The file's bitrate: its size over the span of its first PCR PID's clock."""
    first = last = None
    pid0 = None
    for i in range(0, len(data) - 187, 188):
        b = data[i:i + 12]
        if b[0] != 0x47 or not (b[3] >> 4) & 2 or b[4] < 7 or not b[5] & 0x10:
            continue
        pid = ((b[1] & 0x1F) << 8) | b[2]
        if pid0 is None:
            pid0 = pid
        if pid != pid0:
            continue
        pcr = (b[6] << 25) | (b[7] << 17) | (b[8] << 9) | (b[9] << 1) | (b[10] >> 7)
        if first is None:
            first = pcr
        last = pcr
    if first is None or last <= first:
        raise ValueError("no PCR span in the TS file: give --kbps")
    return len(data) * 8 / ((last - first) / 90000.0) / 1000.0


def extend(p) -> None:
    p.add_argument("--per-socket", type=int, default=50, help="SRT publishers per UDP socket (default 50)")
    p.add_argument("--latency", type=int, default=120, help="SRT latency asked for, ms (default 120)")
    p.add_argument("--kbps", type=float, default=0.0, help="pace at this bitrate (default: the file's)")


def prepare(opts) -> None:
    with open(opts.input, "rb") as f:
        data = f.read()
    data = data[:len(data) - len(data) % 188]
    if not data or data[0] != 0x47:
        raise SystemExit(f"{opts.input}: not an MPEG-TS file")
    opts.kbps = opts.kbps or ts_kbps(data)
    opts.chunks = [data[i:i + PAYLOAD] for i in range(0, len(data), PAYLOAD)]
    opts.interval = PAYLOAD * 8 / (opts.kbps * 1000.0)
    opts.hubs = None
    opts.lateness = {}


def finish(opts, d: dict) -> None:
    late = list(opts.lateness.values())
    d["kbps"] = round(opts.kbps, 1)
    d["max_late_ms"] = round(max(late, default=0.0) * 1000, 1)
    d["late_publishers"] = sum(1 for x in late if x >= LATE_S)


def publish_session(index: int, stats: common.Stats, opts) -> None:
    if opts.hubs is None:
        opts.hubs = Hubs(opts.per_socket)
    server, sid = srt_target(common.client_url(opts.url, index))
    hub = opts.hubs.get(server, index)
    caller = hub.connect(sid, opts.latency)
    conn = caller.connection(server, now_us())

    def on_datagram(buf, n: int) -> None:
        try:
            out = conn.on_packet(parse_packet(bytes(buf[:n])), now_us())
        except SrtError:
            return
        for d in out:
            hub.send(d)

    hub.handlers[caller.socket_id] = on_datagram
    stats.alive += 1
    chunks, interval = opts.chunks, opts.interval
    total = len(chunks) * opts.repeat if opts.repeat > 0 else None
    try:
        t0 = time.monotonic()
        k = 0
        while total is None or k < total:
            wait = t0 + k * interval - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            late = time.monotonic() - t0 - k * interval
            if late > opts.lateness.get(index, 0.0):
                opts.lateness[index] = late
            if conn.state is State.CLOSED:
                raise ConnectionError(f"SRT publish closed: {conn.close_reason}")
            t = now_us()
            limit = time.monotonic() - t0 + BATCH_S
            while k * interval <= limit and (total is None or k < total):
                d = conn.send(chunks[k % len(chunks)], t)
                hub.send(d)
                stats.nwrite += len(d)
                k += 1
            if conn.next_timer_us() <= t:
                for d in conn.on_timer(t):
                    hub.send(d)
    finally:
        stats.alive -= 1
        hub.handlers.pop(caller.socket_id, None)
        if conn.state is not State.CLOSED:
            hub.send(conn.close(now_us()))


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, publish_session, label="publisher", until_ok=True)


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_srt_publish",
                            "SRT publish load: N publishers of a TS file", 1.0, client, need_input=True,
                            prepare=prepare, extend=extend, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
