"""PyAV's own FFmpeg ``whip`` muxer as a publisher: the finding pinned as a test. FFmpeg 8 in the PyAV
wheel does DTLS with GnuTLS and presents a self-signed **secp224r1** certificate (its offer says
``setup:passive``, so we are the DTLS client). The OpenSSL 4 under pyOpenSSL has no P-224 TLS group
(``SSL_CTX_set1_curves_list`` refuses "P-224"/"secp224r1"), so the handshake ends with "wrong curve":
that session alone ends, with a log line, and the server carries on (we send no alert, so FFmpeg
retries for a while before its own timeout). When a wheel changes either
side, this test fails and the WHIP muxer should join the publishers that are decoded."""
from __future__ import annotations

import os
import subprocess
import sys

from OpenSSL import SSL
from OpenSSL._util import lib as openssl

from play_clients import rtc_server

HERE = os.path.dirname(os.path.abspath(__file__))


def test_openssl_has_no_p224_group_for_ffmpegs_whip_certificate(tmp_path):
    ctx = SSL.Context(SSL.DTLS_METHOD)
    assert openssl.SSL_CTX_set1_curves_list(ctx._context, b"P-256") == 1
    assert openssl.SSL_CTX_set1_curves_list(ctx._context, b"P-224") == 0
    with rtc_server(tmp_path, rtc="rtc_to_rtmp on;") as srs:
        url = srs.api_url("rtc/v1/whip/?app=live&stream=pyavwhip")
        pub = subprocess.Popen([sys.executable, os.path.join(HERE, "publish_clients.py"), "--pyav-whip", url, "3"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # the session ends with the reason (FFmpeg retransmits its flight to a closed session for a while)
            assert srs.wait_log("DTLS failed, session closed: code=5009 DTLS handshake: [('SSL routines', '', "
                                "'wrong curve')]", timeout_s=30), srs.log_text()[-3000:]
            assert srs.wait_log("RTC rtc-publish __defaultVhost__/live/pyavwhip closed: DTLS"), srs.log_text()[-3000:]
        finally:
            pub.kill()
            pub.wait(10)
        assert srs.alive()
