"""Typed WebRTC errors with SRS 4/5's numeric codes (srs_kernel_error.hpp, the 5xxx RTC block).

SRS reuses 5000 for ERROR_RTC_PORT while SRS 2 (our kernel/errors.py) uses it for
ERROR_CONTROL_REPUBLISH; the RTC codes therefore live here, next to the code that raises them.
"""
from __future__ import annotations

from srs.kernel.errors import PeerError

ERROR_RTC_RTP = 5006
ERROR_RTC_RTCP = 5007
ERROR_RTC_STUN = 5008
ERROR_RTC_DTLS = 5009
ERROR_RTC_SDP_DECODE = 5012
ERROR_RTC_SRTP_INIT = 5013
ERROR_RTC_SRTP_PROTECT = 5014
ERROR_RTC_SRTP_UNPROTECT = 5015
ERROR_RTC_SDP_EXCHANGE = 5018


class RtcError(PeerError, ValueError):
    """The peer sent bytes we cannot accept; ends (or drops the packet of) that session only."""

    code = ERROR_RTC_RTP


class SdpError(RtcError):
    """An offer that does not parse (5012) or that we cannot answer (5018, ``exchange=True``)."""

    code = ERROR_RTC_SDP_DECODE

    def __init__(self, message: str, exchange: bool = False):
        super().__init__(message, ERROR_RTC_SDP_EXCHANGE if exchange else ERROR_RTC_SDP_DECODE)


class StunError(RtcError):
    code = ERROR_RTC_STUN


class RtcpError(RtcError):
    code = ERROR_RTC_RTCP
