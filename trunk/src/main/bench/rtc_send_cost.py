"""CPU per packet of the WebRTC players' send path, isolated from the server: N players' SRTP
sessions and UDP sockets on loopback (read by a child process on CPU 0), the same ticks of packets
(three 2.5 KB video frames cut at 1200 bytes, two Opus packets) protected and sent to each.

    python -m srs.main.bench.rtc_send_cost [--players 300] [--ticks 100] [--runs 3]

Two ways, run alternately: ``each`` (pylibsrtp's protect and one sendto per packet: the path before
app/server/udp_batch.py) and ``batch`` (SrtpSession.protect_batch into one buffer, then GSO runs:
what RtcPlayOutput does). Prints the median user+system microseconds per packet of each.
"""
from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import statistics
import struct
import sys

from srs.app.rtc.srtp import SrtpSession
from srs.app.server.udp_batch import UdpBatchSender

FRAME_PACKETS = (1188, 1188, 300)    # payload sizes of one video frame's packets (+12-byte header)
AUDIO_PAYLOAD = 160


def drain(socks) -> None:
    """The players' end: read everything, forever (the parent kills it)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    ep = select.epoll()
    fds = {}
    for s in socks:
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)
        fds[s.fileno()] = s
    while True:
        for fd, _ in ep.poll(1):
            try:
                while True:
                    fds[fd].recv(2048)
            except BlockingIOError:
                pass


def ticks(n: int) -> list:
    seq = 0
    out = []
    for _ in range(n):
        batch = []
        for _frame in range(3):
            for size in FRAME_PACKETS:
                seq += 1
                batch.append(struct.pack("!BBHII", 0x80, 102, seq & 0xFFFF, seq * 10, 5) + bytes(size))
        for _audio in range(2):
            seq += 1
            batch.append(struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, seq * 10, 6) + bytes(AUDIO_PAYLOAD))
        out.append(batch)
    return out


def one(way: str, players: int, batches: list, addrs: list, udp: UdpBatchSender) -> float:
    sessions = [SrtpSession(os.urandom(30), os.urandom(30)) for _ in range(players)]
    sendto = udp.raw.sendto
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    packets = 0
    for batch in batches:
        for session, addr in zip(sessions, addrs):
            if way == "each":
                protect = session.protect
                for data in batch:
                    try:
                        sendto(protect(data), addr)
                    except OSError:
                        pass
            else:
                packed, sizes, _failed = session.protect_batch(batch)
                udp.send_packed(packed, sizes, addr)
            packets += len(batch)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / packets * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="rtc_send_cost", description=__doc__.split("\n")[0])
    p.add_argument("--players", type=int, default=300)
    p.add_argument("--ticks", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    opts = p.parse_args(sys.argv[1:] if argv is None else argv)
    socks = []
    for _ in range(opts.players):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    child = os.fork()
    if child == 0:
        drain(socks)
        os._exit(0)
    try:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.setblocking(False)
        udp = UdpBatchSender(tx, "bench")
        addrs = [s.getsockname() for s in socks]
        batches = ticks(opts.ticks)
        got = {"each": [], "batch": []}
        for _ in range(opts.runs):
            for way in ("each", "batch"):
                got[way].append(one(way, opts.players, batches, addrs, udp))
        for way, xs in got.items():
            print(f"{way}: {statistics.median(xs):.2f} us/packet (runs: {', '.join(f'{x:.2f}' for x in xs)})")
        print(f"batch / each: {statistics.median(got['batch']) / statistics.median(got['each']):.2f}")
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
