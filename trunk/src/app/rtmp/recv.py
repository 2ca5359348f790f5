"""The one socket read of both RTMP ends (the server's ``RtmpConn`` and the ``RtmpClient``).

Both read into their own reusable buffer with a per-call timeout; they differ only in the error
a lost peer becomes, which the caller makes from the ``OSError`` (``None`` at an orderly EOF).
"""
from __future__ import annotations

import socket
from typing import Callable, Optional


def recv_some(sock, buf: bytearray, timeout_s: Optional[float],
              closed_error: Callable[[Optional[OSError]], Exception]) -> int:
    """Read what is there into ``buf`` (at least one byte) and return how much.

    Raises ``socket.timeout`` when nothing came in ``timeout_s`` (callers tell an idle peer from a
    dead one), and ``closed_error(e)`` when the read failed or the peer closed (``e`` is None)."""
    sock.settimeout(timeout_s)
    try:
        n = sock.recv_into(buf)
    except socket.timeout:  # an OSError too: it must not become a closed peer
        raise
    except OSError as e:
        raise closed_error(e) from e
    if n == 0:
        raise closed_error(None)
    return n
