"""Many datagrams to one peer with few system calls: UDP GSO (``UDP_SEGMENT``, Linux 4.18+).

A WebRTC or SRT player's share of one tick is a handful of datagrams to one address, most of them
one size (a video frame cut into packets of the largest payload, plus a shorter last one). One
``sendto`` each was most of the server's time with a thousand players: each call walks the whole
socket and IP path for one packet. With GSO one ``sendmsg`` hands the kernel a run of equal-sized
datagrams (the last may be shorter) that it splits itself; the receiver sees the same datagrams,
in the same order, whether or not GSO was used.

Where the kernel or the device refuses GSO (EIO without checksum offload, EINVAL or EOPNOTSUPP on
older kernels) the sender says so once and falls back to one ``sendto`` per datagram for good.
"""
from __future__ import annotations

import errno
import logging
import socket
import struct
from typing import Sequence, Tuple

log = logging.getLogger(__name__)

SOL_UDP = 17
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_MAX_SEGMENTS = 64          # the kernel's UDP_MAX_SEGMENTS (older kernels; newer allow 128)
GSO_MAX_BYTES = 65000          # one GSO send is one UDP datagram before the split: under 64 KB
GSO_REFUSED = (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP)


def gso_runs(sizes: Sequence[int], start: int) -> int:
    """The end (exclusive) of the GSO run that starts at ``start``: datagrams of one size, then at
    most one shorter datagram that ends the run, within the kernel's segment and byte limits."""
    n = len(sizes)
    size = sizes[start]
    limit = min(n, start + min(GSO_MAX_SEGMENTS, max(1, GSO_MAX_BYTES // max(size, 1))))
    end = start + 1
    while end < limit and sizes[end] == size:
        end += 1
    if end < limit and sizes[end] < size:
        end += 1
    return end


class UdpBatchSender:
    """Sends lists of datagrams on one non-blocking UDP socket (``raw``: the socket module's own,
    so a full buffer raises instead of waiting), with GSO while the kernel takes it."""

    __slots__ = ("raw", "gso", "name")

    def __init__(self, raw, name: str, gso: bool = True):
        self.raw = raw
        self.name = name            # the protocol, for the one log line when GSO is refused
        self.gso = gso and hasattr(raw, "sendmsg")

    def send(self, datagrams: Sequence[bytes], addr) -> Tuple[int, int]:
        """Send ``datagrams`` to ``addr`` in order -> (datagrams sent, bytes sent)."""
        if len(datagrams) == 1:
            return self.send_packed(datagrams[0], (len(datagrams[0]),), addr)
        return self.send_packed(memoryview(b"".join(datagrams)), [len(d) for d in datagrams], addr)

    def send_packed(self, packed, sizes: Sequence[int], addr) -> Tuple[int, int]:
        """Send the datagrams laid back to back in ``packed`` (a memoryview; ``sizes`` cut it) to
        ``addr`` in order -> (datagrams sent, bytes sent). A datagram the socket refuses (a full
        buffer, a datagram too large) is dropped and not counted: the protocols above retransmit
        (NACK)."""
        raw = self.raw
        n = len(sizes)
        sent = nbytes = 0
        i = off = 0
        while i < n:
            if self.gso and n - i > 1:
                end = gso_runs(sizes, i)
                if end - i > 1:
                    length = sum(sizes[i:end])
                    try:
                        raw.sendmsg((packed[off:off + length],),
                                    [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", sizes[i]))], 0, addr)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as e:
                        if e.errno in GSO_REFUSED:
                            log.info("%s: no UDP GSO here (%s): one sendto per datagram", self.name, e)
                            self.gso = False
                            continue        # the same run again, one datagram at a time
                    else:
                        sent += end - i
                        nbytes += length
                    i, off = end, off + length
                    continue
            size = sizes[i]
            try:
                raw.sendto(packed[off:off + size], addr)
            except OSError:
                pass
            else:
                sent += 1
                nbytes += size
            i, off = i + 1, off + size
        return sent, nbytes
