"""SRT keying material and payload encryption: KM bytes both ways, wrap/unwrap with the passphrase,
the AES-CTR IV of haicrypt, malformed KM."""
from __future__ import annotations

import hashlib

import pytest

from srs.protocol.srt.crypto import (REJ_BADSECRET, KeyMaterial, PayloadCipher, ctr_iv, derive_kek,
                                     make_key_material, unwrap_keys)
from srs.protocol.srt.errors import SrtError, SrtRejected
from srs.protocol.srt.packet import KK_EVEN, KK_ODD

SALT = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.mark.parametrize("klen", [16, 24, 32])
def test_km_both_ways_and_unwrap(klen):
    even, odd = bytes(range(klen)), bytes(range(50, 50 + klen))
    km = make_key_material(b"0123456789", SALT, even, odd)
    data = km.build()
    assert data[:16] == bytes([0x12, 0x20, 0x29, 0x03, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 4, klen // 4])
    assert data[16:32] == SALT and len(data) == 32 + 2 * klen + 8
    back = KeyMaterial.parse(data)
    assert back.build() == data and back.key_count == 2
    assert unwrap_keys(back, b"0123456789") == {KK_EVEN: even, KK_ODD: odd}
    with pytest.raises(SrtRejected) as e:
        unwrap_keys(back, b"9876543210")
    assert e.value.reason == REJ_BADSECRET


def test_kek_is_pbkdf2_over_the_last_8_salt_bytes():
    assert derive_kek(b"pw", SALT, 16) == hashlib.pbkdf2_hmac("sha1", b"pw", SALT[8:], 2048, 16)


def test_ctr_iv_xors_the_sequence_number_into_the_salt():
    iv = ctr_iv(SALT, 0x01020304)
    assert iv == bytes.fromhex("00112233445566778899") + bytes([0xaa ^ 1, 0xbb ^ 2, 0xcc ^ 3, 0xdd ^ 4]) + bytes(2)


def test_payload_cipher_round_trip_per_key_and_sequence():
    c = PayloadCipher(SALT, {KK_EVEN: bytes(16), KK_ODD: bytes(range(16))})
    plain = b"\x47" + bytes(1455)
    enc = c.crypt(KK_EVEN, 7, plain)
    assert enc != plain and len(enc) == len(plain)
    assert c.crypt(KK_EVEN, 7, enc) == plain
    assert c.crypt(KK_EVEN, 8, plain) != enc and c.crypt(KK_ODD, 7, plain) != enc
    with pytest.raises(SrtError):
        PayloadCipher(SALT, {KK_EVEN: bytes(16)}).crypt(KK_ODD, 1, plain)


@pytest.mark.parametrize("data", [
    b"", bytes(15),
    bytes.fromhex("13202901 00000000 02000200 00000404") + bytes(40),  # version 1, PT 3
    bytes.fromhex("12202900 00000000 02000200 00000404") + bytes(40),  # no key
    bytes.fromhex("12202901 00000000 02000200 00000405") + bytes(44),  # key of 20 bytes
    bytes.fromhex("12202901 00000000 02000200 00000404") + bytes(41),  # length mismatch
    bytes.fromhex("12202903 00000000 02000200 00000404") + bytes(40),  # both keys, one present
])
def test_malformed_km_raises(data):
    with pytest.raises(SrtError):
        KeyMaterial.parse(data)


def test_gcm_km_refused_as_bad_secret():
    data = bytearray(make_key_material(b"0123456789", SALT, bytes(16)).build())
    data[8] = 3  # AES-GCM (libsrt 1.5.2+), not supported
    with pytest.raises(SrtRejected):
        KeyMaterial.parse(bytes(data))
