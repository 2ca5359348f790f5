"""SRTP/SRTCP for one WebRTC session: a thin wrapper over pylibsrtp (libsrtp 2), AES128_CM_SHA1_80.

Two libsrtp sessions: outbound keyed with our DTLS-exported key, inbound with the peer's.
``allow_repeat_tx`` lets a NACK answer re-send a packet with an already used sequence number.
"""
from __future__ import annotations

import pylibsrtp

from srs.protocol.rtc.errors import (ERROR_RTC_SRTP_INIT, ERROR_RTC_SRTP_PROTECT,
                                     ERROR_RTC_SRTP_UNPROTECT, RtcError)


LibError = pylibsrtp.Error


class SrtpError(RtcError):
    code = ERROR_RTC_SRTP_UNPROTECT


class SrtpSession:
    def __init__(self, local_key_salt: bytes, remote_key_salt: bytes):
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

    @property
    def protect_raw(self):
        """pylibsrtp's own protect (raises ``pylibsrtp.Error``): the players' send loop calls it per
        packet and per player, where one Python frame less is measurable."""
        return self._tx.protect

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
