"""SDP: answers to the real offers of Chromium and aiortc (saved from the clients), SRS's checks,
and hostile SDP -> typed errors with SRS's codes."""
from __future__ import annotations

import pathlib
import random

import pytest

from srs.protocol.rtc.errors import ERROR_RTC_SDP_DECODE, ERROR_RTC_SDP_EXCHANGE, SdpError
from srs.protocol.rtc.sdp import (TWCC_URI, LocalIce, build_answer, negotiate, parse_offer)

DATA = pathlib.Path(__file__).resolve().parent / "data"
FP = ":".join(["AB"] * 32)
LOCAL = LocalIce("srsufrag", "p" * 32, FP, [("127.0.0.1", 8000)], {"audio": 11, "video": 22}, "cn")


def offer(name):
    return (DATA / name).read_bytes().decode()  # keep the CRLFs the clients wrote


def answer_of(name, publish):
    neg = negotiate(parse_offer(offer(name)), publish=publish)
    return neg, build_answer(neg, LOCAL, publish, "live/livestream", 123)


def test_chromium_publish_offer_gets_h264_42e01f_and_opus_with_twcc():
    neg, text = answer_of("chromium_publish_offer.sdp", publish=True)
    video, audio = neg.track("video"), neg.track("audio")
    assert video.codec[0] == "H264" and "profile-level-id=42e01f" in video.fmtp
    assert "packetization-mode=1" in video.fmtp
    assert audio.codec == ("opus", 48000, 2) and audio.twcc_id and video.twcc_id
    assert "transport-cc" in video.rtcp_fbs and "nack pli" in video.rtcp_fbs
    lines = text.split("\r\n")
    for want in ("a=ice-lite", "a=group:BUNDLE 0 1", f"a=fingerprint:sha-256 {FP}", "a=setup:passive",
                 "a=recvonly", "a=rtcp-mux", "a=ice-ufrag:srsufrag",
                 f"a=extmap:{video.twcc_id} {TWCC_URI}",
                 "a=candidate:0 1 udp 2130706431 127.0.0.1 8000 typ host generation 0"):
        assert want in lines, want
    assert "a=sendonly" not in lines and not any("goog-remb" in x for x in lines)
    assert "s=SRSPublishSession" in lines
    # the answer is itself valid SDP for our parser
    assert [m.kind for m in parse_offer(text).media] == ["audio", "video"]


def test_chromium_and_aiortc_play_offers_get_sendonly_with_ssrcs():
    for name in ("chromium_play_offer.sdp", "aiortc_play_offer.sdp"):
        neg, text = answer_of(name, publish=False)
        lines = text.split("\r\n")
        assert "a=sendonly" in lines and "s=SRSPlaySession" in lines
        assert "a=ssrc:22 cname:cn" in lines and "a=ssrc:11 cname:cn" in lines
        video = neg.track("video")
        assert video.codec[0] == "H264" and "42e01f" in video.fmtp
        assert f"m=video 9 UDP/TLS/RTP/SAVPF {video.pt}" in lines


def test_aiortc_publish_offer_without_twcc_and_sha256_kept():
    neg, text = answer_of("aiortc_publish_offer.sdp", publish=True)
    assert neg.track("video").twcc_id == 0 and "transport-cc" not in text
    assert parse_offer(offer("aiortc_publish_offer.sdp")).media[0].fingerprint.startswith("sha-256 ")


def test_dtls_role_follows_the_offer():
    text = offer("aiortc_play_offer.sdp")
    assert negotiate(parse_offer(text), publish=False).setup == "passive"
    assert negotiate(parse_offer(text.replace("a=setup:actpass", "a=setup:passive")),
                     publish=False).setup == "active"


@pytest.mark.parametrize("edit, code", [
    (lambda s: s.replace("a=group:BUNDLE 0 1\r\n", ""), ERROR_RTC_SDP_EXCHANGE),
    (lambda s: s.replace("a=rtcp-mux\r\n", ""), ERROR_RTC_SDP_EXCHANGE),
    (lambda s: s.replace("a=sendonly", "a=recvonly"), ERROR_RTC_SDP_EXCHANGE),
    (lambda s: s.replace("opus", "speex"), ERROR_RTC_SDP_EXCHANGE),
    (lambda s: s.replace("H264", "H266"), ERROR_RTC_SDP_EXCHANGE),
    (lambda s: s.replace("v=0", "v=1"), ERROR_RTC_SDP_DECODE),
    (lambda s: s + "garbage\r\n", ERROR_RTC_SDP_DECODE),
    (lambda s: s + "a=x:" + "y" * 5000 + "\r\n", ERROR_RTC_SDP_DECODE),
    (lambda s: s + "a=z\r\n" * 3000, ERROR_RTC_SDP_DECODE),
    (lambda s: s + "x" * 70000, ERROR_RTC_SDP_DECODE),
    (lambda s: s.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:999 opus/48000/2"), ERROR_RTC_SDP_DECODE),
    (lambda s: s.replace("m=audio 9", "m=audio 99999999999"), ERROR_RTC_SDP_DECODE),
    (lambda s: s.replace("m=audio 9", "m=audio \u00b2"), ERROR_RTC_SDP_DECODE),
])
def test_unanswerable_and_malformed_offers(edit, code):
    text = edit(offer("chromium_publish_offer.sdp"))
    with pytest.raises(SdpError) as e:
        negotiate(parse_offer(text), publish=True)
    assert e.value.code == code


def test_fuzzed_offers_raise_sdp_errors_only():
    base = offer("chromium_publish_offer.sdp").encode()
    rng = random.Random(8866)
    answered = 0
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            neg = negotiate(parse_offer(bytes(data)), publish=True)
            build_answer(neg, LOCAL, True, "live/livestream", 1)
            answered += 1
        except SdpError:
            pass
    assert answered < 400
