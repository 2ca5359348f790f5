"""sb_http_load: N HTTP GET clients (SRS's srs-bench sb_http_load).

    ./objs/sb_http_load -c 2000 -r http://127.0.0.1:8080/live/livestream.flv -s 2 -m 5
    ./objs/sb_http_load -c 100 -r http://127.0.0.1:8080/index.html -t 10 -d 0

A live stream (HTTP-FLV/TS/AAC: no Content-Length) is counted until the server closes; a file
needs a Content-Length, is read to its end and counts as one task, then repeats (``-t``).
The body is only counted, by the process's epoll reader (drain.py).
"""
from __future__ import annotations

import sys
import time

from srs.main.bench import common
from srs.main.bench.http_get import HttpFailure, open_get

# the FLV file header and PreviousTagSize0 as two HTTP chunks ("9\r\n" 9 bytes "\r\n", "4\r\n" 4 bytes
# "\r\n"), with room to spare: no FLV tag of media fits in so few bytes after them
FLV_PREAMBLE = 32


def get_session(index: int, stats: common.Stats, opts) -> None:
    t0 = time.monotonic()
    url = common.client_url(opts.url, index)
    sock, head_len, length, rest = open_get(url)
    stats.alive += 1
    try:
        sock.settimeout(None)
        got = len(rest)
        stats.nread += head_len + got
        if length is not None and got >= length:
            return
        # a live stream's first media: past the FLV file header (SRS writes it alone first, chunked: 23
        # bytes), so a server that answers with the header before it has media does not look faster
        preamble = FLV_PREAMBLE if url.split("?")[0].endswith(".flv") else 0
        first = [got > preamble]
        if first[0]:
            stats.note_first_media(time.monotonic() - t0)

        def on_read(s, n: int) -> bool:
            if not first[0] and s.got > preamble:
                first[0] = True
                stats.note_first_media(time.monotonic() - t0)
            return False
        try:
            common.drain(stats, opts).read(sock, got=got, limit=length, on_read=None if first[0] else on_read)
        except ValueError as e:  # EOF before Content-Length
            raise HttpFailure(str(e)) from None
    finally:
        stats.alive -= 1
        sock.close()


def client(index: int, stats: common.Stats, opts) -> None:
    common.repeat_tasks(index, stats, opts, get_session)


def main(argv=None) -> int:
    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_http_load",
                            "HTTP load: N clients of a live stream or a file", 0.0, client)


if __name__ == "__main__":
    sys.exit(main())
