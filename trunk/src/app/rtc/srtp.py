"""SRTP/SRTCP for one WebRTC session: a thin wrapper over pylibsrtp (libsrtp 2), AES128_CM_SHA1_80.

Two libsrtp sessions: outbound keyed with our DTLS-exported key, inbound with the peer's.
``allow_repeat_tx`` lets a NACK answer re-send a packet with an already used sequence number.

``protect_batch`` is the players' hot path: a batch of packets protected in place, back to back, in
one scratch buffer (libsrtp's own ``srtp_protect`` through pylibsrtp's cffi binding), ready for
one GSO send. pylibsrtp's ``protect`` copies each packet in and out of its own buffer and makes a
bytes object of each result; per packet and per player that was a fifth of the encryption's cost.
Where the binding's internals differ (another pylibsrtp), each packet goes through ``protect``.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

from srs.core.lazy import lazy_module
from srs.protocol.rtc.errors import (ERROR_RTC_SRTP_INIT, ERROR_RTC_SRTP_PROTECT,
                                     ERROR_RTC_SRTP_UNPROTECT, RtcError)

pylibsrtp = lazy_module("pylibsrtp")   # loaded with the first session (core/lazy.py)
# the binding pylibsrtp itself calls, found with the first session; its absence only costs the fast path
_ffi = _lib = None
_binding_looked_up = False


def _find_binding() -> None:
    global _ffi, _lib, _binding_looked_up
    _binding_looked_up = True
    try:
        from pylibsrtp._binding import ffi, lib
    except ImportError:   # pragma: no cover - another pylibsrtp build
        return
    _ffi, _lib = ffi, lib


SRTP_TRAILER_MAX = 16 + 128     # what libsrtp may append to a packet (tag and MKI), as pylibsrtp reserves


class ScratchBuffer:
    """One buffer that every player's batch is protected into in turn. The players' sender is one
    greenlet that protects a batch and sends it with non-blocking calls before the next, so one
    buffer serves them all; it grows to the largest batch (a joining player's GOP)."""

    def __init__(self):
        self.size = 0
        self.cdata = None
        self.view = memoryview(b"")

    def reserve(self, size: int):
        if size > self.size:
            self.size = max(size, 2 * self.size, 64 * 1024)
            self.cdata = _ffi.new("unsigned char[]", self.size)
            self.view = memoryview(_ffi.buffer(self.cdata))
        return self.cdata


SCRATCH = ScratchBuffer()


class SrtpError(RtcError):
    code = ERROR_RTC_SRTP_UNPROTECT


class SrtpSession:
    def __init__(self, local_key_salt: bytes, remote_key_salt: bytes):
        if not _binding_looked_up:
            _find_binding()
        try:
            tx = pylibsrtp.Policy(key=local_key_salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                  srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
            tx.allow_repeat_tx = True
            rx = pylibsrtp.Policy(key=remote_key_salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
            self._tx = pylibsrtp.Session(tx)
            self._rx = pylibsrtp.Session(rx)
        except (pylibsrtp.Error, ValueError, TypeError) as e:
            raise SrtpError(f"SRTP init: {e}", ERROR_RTC_SRTP_INIT) from None

    def protect_batch(self, packets: Sequence[bytes]) -> Tuple[memoryview, List[int], int]:
        """SRTP of ``packets`` back to back -> (the bytes, each packet's size, packets that failed).
        The bytes are valid until the next call (the scratch buffer is shared)."""
        ctx = getattr(self._tx, "_srtp", None)
        if _lib is None or ctx is None:
            return self._protect_each(packets)
        cdata = SCRATCH.reserve(sum(map(len, packets)) + SRTP_TRAILER_MAX * len(packets))
        ctx = ctx[0]
        protect, memmove = _lib.srtp_protect, _ffi.memmove
        size = _ffi.new("int *")
        sizes = []
        off = failed = 0
        for data in packets:
            n = len(data)
            memmove(cdata + off, data, n)
            size[0] = n
            if protect(ctx, cdata + off, size):
                failed += 1           # the packet is dropped, as pylibsrtp would have raised
                continue
            sizes.append(size[0])
            off += size[0]
        return SCRATCH.view[:off], sizes, failed

    def _protect_each(self, packets) -> Tuple[memoryview, List[int], int]:
        out, failed = [], 0
        for data in packets:
            try:
                out.append(self._tx.protect(data))
            except pylibsrtp.Error:
                failed += 1
        return memoryview(b"".join(out)), [len(d) for d in out], failed

    def protect(self, rtp: bytes) -> bytes:
        try:
            return self._tx.protect(rtp)
        except pylibsrtp.Error as e:
            raise SrtpError(f"SRTP protect: {e}", ERROR_RTC_SRTP_PROTECT) from None

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        try:
            return self._tx.protect_rtcp(rtcp)
        except pylibsrtp.Error as e:
            raise SrtpError(f"SRTCP protect: {e}", ERROR_RTC_SRTP_PROTECT) from None

    def unprotect(self, srtp: bytes) -> bytes:
        try:
            return self._rx.unprotect(srtp)
        except pylibsrtp.Error as e:
            raise SrtpError(f"SRTP unprotect: {e}") from None

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        try:
            return self._rx.unprotect_rtcp(srtcp)
        except pylibsrtp.Error as e:
            raise SrtpError(f"SRTCP unprotect: {e}") from None
