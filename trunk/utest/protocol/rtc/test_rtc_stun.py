"""STUN for ICE-lite: RFC 5769's test vectors, our Binding response, demux, hostile input."""
from __future__ import annotations

import random

import pytest

from srs.protocol.rtc import stun
from srs.protocol.rtc.errors import ERROR_RTC_STUN, StunError

PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"
# RFC 5769 2.1 sample request and 2.2 sample IPv4 response (software "STUN test client" / "test vector")
RFC5769_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf")
RFC5769_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96")


def test_rfc5769_request_parses_and_verifies():
    req = stun.BindingRequest.parse(RFC5769_REQUEST)
    assert (req.local_ufrag, req.remote_ufrag) == ("evtj", "h6vY")
    assert req.message.priority == 0x6E0001FF
    assert req.message.ice_controlled and not req.message.use_candidate
    req.verify(PASSWORD)
    with pytest.raises(StunError):
        req.verify(PASSWORD, strict=True)     # ICE-CONTROLLED refused with stun_strict_check on
    with pytest.raises(StunError) as e:
        req.verify("wrong")
    assert e.value.code == ERROR_RTC_STUN


def test_rfc5769_response_address_and_integrity():
    msg = stun.StunMessage.parse(RFC5769_RESPONSE)
    assert msg.type == stun.BINDING_SUCCESS
    assert msg.xor_mapped_address() == ("192.0.2.1", 32853)
    assert msg.check_integrity(PASSWORD.encode())


def test_our_binding_success_is_what_an_agent_accepts():
    tid = bytes(range(12))
    data = stun.binding_request(tid, "srsufrag:peer", "server-pwd-0123456789ab", 0x6E7F1EFF,
                                controlling=True, tie_breaker=42, use_candidate=True)
    req = stun.BindingRequest.parse(data)
    assert req.message.use_candidate and req.message.ice_controlling
    req.verify("server-pwd-0123456789ab", strict=True)
    resp = stun.StunMessage.parse(req.success("server-pwd-0123456789ab", "10.1.2.3", 50000))
    assert resp.transaction_id == tid and resp.type == stun.BINDING_SUCCESS
    assert resp.xor_mapped_address() == ("10.1.2.3", 50000)
    assert resp.username == "srsufrag:peer"
    assert resp.check_integrity(b"server-pwd-0123456789ab")


def test_attributes_after_message_integrity_are_not_trusted():
    msg = stun.StunMessage(stun.BINDING_REQUEST, bytes(12), [(stun.ATTR_USERNAME, b"a:b")])
    signed = msg.build(b"key", fingerprint=False)
    # append an unsigned USE-CANDIDATE after MESSAGE-INTEGRITY and fix up the length
    forged = bytearray(signed + bytes((0x00, 0x25, 0, 0)))
    forged[2:4] = (len(forged) - 20).to_bytes(2, "big")
    parsed = stun.StunMessage.parse(bytes(forged))
    assert parsed.check_integrity(b"key") and not parsed.use_candidate


def test_classify_by_first_byte():
    assert stun.classify(RFC5769_REQUEST) == stun.PACKET_STUN
    assert stun.classify(bytes([0x80, 96]) + bytes(10)) == stun.PACKET_RTP
    assert stun.classify(bytes([0x81, 200]) + bytes(10)) == stun.PACKET_RTCP
    assert stun.classify(bytes([22, 0xFE, 0xFD]) + bytes(10)) == stun.PACKET_DTLS
    assert stun.classify(b"") == stun.PACKET_UNKNOWN
    assert stun.classify(b"\xff" * 30) == stun.PACKET_UNKNOWN


def test_tampered_and_hostile_stun_raise_typed_errors_only():
    bad = bytearray(RFC5769_REQUEST)
    bad[30] ^= 1                                   # inside SOFTWARE: FINGERPRINT no longer matches
    with pytest.raises(StunError):
        stun.StunMessage.parse(bytes(bad))
    rng = random.Random(5769)
    for _ in range(3000):
        data = bytearray(RFC5769_REQUEST)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data[:rng.randint(0, len(data))]) if rng.random() < 0.3 else bytes(data)
        try:
            stun.BindingRequest.parse(data).verify(PASSWORD)
        except StunError:
            pass
    with pytest.raises(StunError):
        stun.StunMessage.parse(bytes(20) + bytes(1600))
