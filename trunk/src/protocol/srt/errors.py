"""Typed SRT errors with SRS 5's numeric codes (srs_kernel_error.hpp, SRS_ERRNO_MAP_SRT)."""
from __future__ import annotations

from srs.kernel.errors import PeerError

ERROR_SRT_IO = 6001
ERROR_SRT_TIMEOUT = 6002
ERROR_SRT_CONN = 6006


class SrtError(PeerError, ValueError):
    """The peer sent bytes we cannot accept (bad packet, bad handshake); drops the datagram or peer."""

    code = ERROR_SRT_IO


class SrtRejected(SrtError):
    """A handshake refused; ``reason`` is the SRT_REJ_* code sent back (1000 + reason on the wire)."""

    code = ERROR_SRT_CONN

    def __init__(self, message: str, reason: int):
        super().__init__(message)
        self.reason = reason
