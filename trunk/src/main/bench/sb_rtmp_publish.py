"""sb_rtmp_publish: N RTMP publishers of an FLV file, paced by its timestamps, looping it.

    ./objs/sb_rtmp_publish -i doc/source.200kbps.768x320.flv -c 10 -r rtmp://127.0.0.1/live/livestream_{i}

The file is read once (srs.kernel.flv.FlvDecoder); each publisher connects with our client
session (srs.protocol.rtmp_stack.ClientSession), publishes, then sends every tag when its
timestamp is due, shifting timestamps on each loop so they keep increasing. ``-t`` counts loops
of the file per task (0 = loop forever).
"""
from __future__ import annotations

import sys
import time

import gevent

from srs.kernel.flv import FlvDecoder
from srs.kernel.message import MSG_VIDEO, Message
from srs.main.bench import common, rtmp_client

# tags due within this many ms are sent in one write
BATCH_MS = 20
# a publisher whose batch left this many seconds after its due time fell behind real time
LATE_S = 0.5


def load_flv(path: str) -> list:
    """(ts_ms, Message) of the file's tags, without the AVC end-of-sequence tag ffmpeg appends
    (it would tell players the stream ended at every loop)."""
    with open(path, "rb") as f:
        data = f.read()
    dec = FlvDecoder()
    msgs = dec.receive_data(data)
    if dec.header is None or not msgs:
        raise ValueError(f"{path}: no FLV tags")
    out = []
    for m in msgs:
        if m.kind == MSG_VIDEO and len(m.payload) >= 2 and m.payload[1] == 2:
            continue
        out.append(m)
    return out


def prepare(opts) -> None:
    opts.messages = load_flv(opts.input)
    last = max(m.ts_ms for m in opts.messages)
    first = min(m.ts_ms for m in opts.messages)
    # next loop starts one frame-ish after the last tag
    opts.loop_ms = max(1, last - first + 40)
    opts.first_ms = first
    opts.lateness = {}  # publisher index -> worst lateness in seconds (this process)


def finish(opts, d: dict) -> None:
    """Adds the worst lateness over all publishers and how many were ever >= LATE_S behind."""
    late = list(opts.lateness.values())
    d["max_late_ms"] = round(max(late, default=0.0) * 1000, 1)
    d["late_publishers"] = sum(1 for x in late if x >= LATE_S)


def publish_session(index: int, stats: common.Stats, opts) -> None:
    url = rtmp_client.RtmpUrl(common.client_url(opts.url, index))
    sock, cs = rtmp_client.publish(url)
    stats.alive += 1
    reader = gevent.spawn(_drain, sock, stats)
    try:
        sock.settimeout(None)
        lateness = opts.lateness
        msgs = opts.messages
        t0 = time.monotonic()
        loops = 0
        while opts.repeat <= 0 or loops < opts.repeat:
            offset = loops * opts.loop_ms - opts.first_ms
            i = 0
            n = len(msgs)
            while i < n:
                due = (msgs[i].ts_ms + offset) / 1000.0
                wait = t0 + due - time.monotonic()
                if wait > 0:
                    gevent.sleep(wait)
                # how late this batch leaves, after the wake-up: real-time pace means small
                late = time.monotonic() - t0 - due
                if late > lateness.get(index, 0.0):
                    lateness[index] = late
                if reader.dead:
                    raise ConnectionError("server closed the publish connection")
                j = i
                limit = msgs[i].ts_ms + BATCH_MS
                while j < n and msgs[j].ts_ms <= limit:
                    m = msgs[j]
                    cs.send_media(Message(m.kind, m.ts_ms + offset, m.payload, cs.stream_id)
                                  if offset else m)
                    j += 1
                out = cs.data_to_send()
                sock.sendall(out)
                stats.nwrite += len(out)
                i = j
            loops += 1
    finally:
        stats.alive -= 1
        reader.kill()
        sock.close()


def _drain(sock, stats: common.Stats) -> None:
    """Reads (and drops) what the server sends while publishing: acks, onStatus."""
    buf = bytearray(65536)
    while True:
        n = sock.recv_into(buf)
        if not n:
            return
        stats.nread += n


def client(index: int, stats: common.Stats, opts) -> None:
    # -t counts loops inside one publish; a failed publish is retried forever (as srs-bench)
    common.repeat_tasks(index, stats, opts, publish_session, label="publisher", until_ok=True)


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_rtmp_publish",
                            "RTMP publish load: N publishers of an FLV file", 1.0, client,
                            need_input=True, prepare=prepare, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
