"""sb_rtmp_load: N RTMP players that only count bytes (SRS's srs-bench sb_rtmp_load).

    ./objs/sb_rtmp_load -c 2000 -r rtmp://127.0.0.1:1935/live/livestream -s 2 -m 5

Each player does the handshake, connect, createStream and play with our protocol layer, then
stops parsing: the socket goes to the process's epoll reader (drain.py), which ``recv_into``s one
reused buffer and sends an RTMP Acknowledgement each time half of the server's window arrived,
so one core drives thousands of players. ``--session S`` makes each play leave after S seconds
(churn: with ``-d 0`` it plays again at once).
"""
from __future__ import annotations

import struct
import sys
import time

from srs.main.bench import common, rtmp_client
from srs.protocol.rtmp_chunk import ChunkEncoder

DEFAULT_WINDOW = 2500000


def play_session(index: int, stats: common.Stats, opts) -> None:
    """One play until the server closes (or the run ends); raises on errors."""
    url = rtmp_client.RtmpUrl(common.client_url(opts.url, index))
    t0 = time.monotonic()
    sock, cs, pending = rtmp_client.play(url)
    stats.alive += 1
    try:
        # parsed up to the first audio/video message (its time is the join figure), then only counted
        rtmp_client.wait_media(sock, cs, pending)
        stats.note_first_media(time.monotonic() - t0)
        sock.settimeout(None)
        total = cs.decoder.bytes_received
        stats.nread += total
        window = cs.in_window_ack_size or DEFAULT_WINDOW
        step = max(1, window // 2)
        acker = ChunkEncoder()
        next_ack = [(total // step + 1) * step]
        # --session S: the player leaves after S seconds of play (then -d and a new play: churn)
        leave_at = t0 + opts.session if opts.session > 0 else float("inf")

        def on_read(s, n: int) -> bool:
            if leave_at <= time.monotonic():
                return True
            if s.got >= next_ack[0]:
                # 2 = protocol-control chunk stream; the sequence number wraps at 32 bits
                ack = acker.encode(3, 0, 0, struct.pack(">I", s.got & 0xFFFFFFFF), 2)
                try:
                    s.raw.send(ack)  # 16 bytes on a socket we only read from: never blocks
                except BlockingIOError:
                    pass
                stats.nwrite += len(ack)
                next_ack[0] = (s.got // step + 1) * step
            return False

        common.drain(stats, opts).read(sock, got=total, on_read=on_read)
    finally:
        stats.alive -= 1
        sock.close()


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, play_session)


def main(argv=None) -> int:
    def extend(parser) -> None:
        parser.add_argument("--session", type=float, default=0.0,
                            help="leave each play after S seconds (0 = stay until the server closes); "
                                 "with -t 0 and -d 0, N players churn at N/S joins and leaves a second")

    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_rtmp_load",
                            "RTMP play load: N players counting bytes", 1.0, client, extend=extend)


if __name__ == "__main__":
    sys.exit(main())
