"""sb_hls_load: N HLS clients (SRS's srs-bench sb_hls_load), live or --vod.

    ./objs/sb_hls_load -c 500 -r http://127.0.0.1:8080/live/livestream.m3u8 -m 5
    ./objs/sb_hls_load -c 10 -r http://127.0.0.1:8080/vod/movie.m3u8 --vod -t 1

Live: a task is one fetch of the m3u8 plus the download of the segments this client has not
fetched yet; then it sleeps ``-d`` seconds (-1, the default: the last segment's EXTINF, as a
player refreshes) and repeats (``-t``, 0 = forever). --vod: a task is the playlist and all its
segments. Each segment is a sub-task (stasks/estasks). A master playlist is followed to its
first variant. Bodies need a Content-Length.
"""
from __future__ import annotations

import sys
import time
from typing import List, Tuple
from urllib.parse import urljoin

import gevent

from srs.main.bench import common
from srs.main.bench.http_get import get

# remembered segment URIs per client (a live window is small; this only bounds a long run)
SEEN_LIMIT = 4096


def parse_m3u8(text: str, base: str) -> Tuple[List[Tuple[float, str]], List[str], float]:
    """(segments as (EXTINF seconds, absolute url), variant playlist urls, target duration)."""
    if not text.lstrip().startswith("#EXTM3U"):
        raise ValueError("not an m3u8 playlist")
    segments: List[Tuple[float, str]] = []
    variants: List[str] = []
    target = 0.0
    extinf = None
    variant_next = False
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            value = line[8:].split(",", 1)[0]
            extinf = float(value) if value else 0.0
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-STREAM-INF"):
            variant_next = True
        elif line.startswith("#"):
            continue
        elif variant_next:
            variants.append(urljoin(base, line))
            variant_next = False
        else:
            segments.append((extinf if extinf is not None else target, urljoin(base, line)))
            extinf = None
    return segments, variants, target


def fetch_playlist(url: str, stats: common.Stats) -> Tuple[List[Tuple[float, str]], float, str]:
    """(segments, target duration, the media playlist's url). A master playlist is followed to its first
    variant, as players do; SRS 5's hls_ctx answers a first request with such a master (one level more
    for each master the client's own playlist holds), so a few levels are allowed."""
    for _ in range(6):
        body = get(url)
        stats.nread += len(body)
        segments, variants, target = parse_m3u8(body.decode("utf-8", "replace"), url)
        if segments or not variants:
            return segments, target, url
        url = variants[0]
    raise ValueError("playlist nesting too deep")


def download(url: str, stats: common.Stats, opts) -> bool:
    try:
        # the download first, then the count: ``stats.nread += len(get(url))`` reads the count before the
        # download switches to the other clients and writes it back after, losing what they counted
        body = get(url)
        stats.nread += len(body)
        stats.stasks += 1
        return True
    except Exception as e:  # noqa: BLE001 - a failed segment is counted, the task goes on
        stats.estasks += 1
        if opts.verbose:
            print(f"[error] segment {url}: {e!r}", file=sys.stderr, flush=True)
        return False


def client(index: int, stats: common.Stats, opts) -> None:
    start_url = url = common.client_url(opts.url, index)
    seen: dict = {}
    done = 0
    stats.alive += 1
    try:
        while opts.repeat <= 0 or done < opts.repeat:
            t0 = time.monotonic()
            stats.tasks += 1
            pause = opts.delay
            try:
                # a player keeps the media playlist it was led to (its hls_ctx session) for the reloads
                segments, target, media_url = fetch_playlist(url, stats)
                if not opts.vod:
                    url = media_url
                todo = segments if opts.vod else [s for s in segments if s[1] not in seen]
                for seconds, seg_url in todo:
                    download(seg_url, stats, opts)
                    if not opts.vod:
                        seen[seg_url] = True
                if len(seen) > SEEN_LIMIT:
                    for key in list(seen)[:len(seen) - SEEN_LIMIT]:
                        del seen[key]
                if pause < 0:
                    pause = segments[-1][0] if segments else (target or 1.0)
            except Exception as e:  # noqa: BLE001 - count it and retry
                stats.etasks += 1
                pause = opts.error
                url = start_url  # an ended hls_ctx session: start a new one
                if opts.verbose:
                    print(f"[error] client {index}: {e!r}", file=sys.stderr, flush=True)
            stats.task_seconds += time.monotonic() - t0
            done += 1
            gevent.sleep(max(0.0, pause))
    finally:
        stats.alive -= 1


def main(argv=None) -> int:
    def extend(parser) -> None:
        parser.add_argument("--vod", action="store_true",
                            help="VOD: each task downloads the whole playlist")

    return common.tool_main(sys.argv[1:] if argv is None else argv, "sb_hls_load",
                            "HLS load: N clients of a live or --vod m3u8", -1.0, client,
                            extend=extend)


if __name__ == "__main__":
    sys.exit(main())
