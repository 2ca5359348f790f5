"""AES-128-CBC + PKCS#7 as HLS needs it: NIST vectors, padding, streaming, typed errors, and openssl
(the tool players' decoders agree with) as a cross-check."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from srs.kernel.aes import Aes128CbcEncryptor, aes128_cbc_encrypt, pkcs7_padding
from srs.kernel.errors import CodecError

# NIST SP 800-38A F.2.1 CBC-AES128.Encrypt: four blocks of plain text and their cipher text.
SP800_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
SP800_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP800_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
                            "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710")
SP800_CIPHER = ("7649abac8119b246cee98e9b12e9197d" "5086cb9b507219ee95db113a917678b2"
                "73bed6b8e3c1743b7116e69e22229516" "3ff1caa1681fac09120eca307586e1a7")


def test_cbc_sp800_38a():
    out = aes128_cbc_encrypt(SP800_KEY, SP800_IV, SP800_PLAIN)
    assert out[:64].hex() == SP800_CIPHER
    assert len(out) == 80  # aligned input: PKCS#7 adds a whole block


def test_one_block_under_a_zero_iv_is_the_fips197_vector():
    # FIPS-197 C.1: with a zero IV the first CBC block is the bare AES-128 block cipher.
    out = aes128_cbc_encrypt(bytes.fromhex("000102030405060708090a0b0c0d0e0f"), bytes(16),
                             bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert out[:16].hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 188, 376])
def test_pkcs7_always_pads(n):
    pad = 16 - n % 16
    assert pkcs7_padding(n) == bytes((pad,)) * pad
    assert len(aes128_cbc_encrypt(b"k" * 16, b"i" * 16, b"x" * n)) == n + pad


def test_streaming_chunks_match():
    data = os.urandom(3000)
    key, iv = os.urandom(16), os.urandom(16)
    whole = aes128_cbc_encrypt(key, iv, data)
    enc = Aes128CbcEncryptor(key, iv)
    parts = [enc.update(data[i:i + 7]) for i in range(0, len(data), 7)]
    assert all(len(p) % 16 == 0 for p in parts)  # whole blocks only; the rest waits for more
    assert enc.bytes_in == len(data)
    assert b"".join(parts) + enc.finalize() == whole
    enc = Aes128CbcEncryptor(key, iv)
    assert enc.update(memoryview(data)) + enc.finalize() == whole


@pytest.mark.parametrize("key,iv", [(b"short", b"i" * 16), (b"k" * 24, b"i" * 16), (b"k" * 32, b"i" * 16),
                                    (b"k" * 16, b"i" * 8), (b"k" * 16, b"")])
def test_bad_sizes_raise_codec_error(key, iv):
    # Only AES-128 is HLS's method: a 24- or 32-byte key is refused, though the library takes it.
    with pytest.raises(CodecError):
        Aes128CbcEncryptor(key, iv)


def test_finalized_encryptor_refuses_more():
    enc = Aes128CbcEncryptor(b"k" * 16, b"i" * 16)
    enc.finalize()
    with pytest.raises(CodecError):
        enc.update(b"x")
    with pytest.raises(CodecError):
        enc.finalize()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
@pytest.mark.parametrize("n", [0, 16, 1000, 188 * 7 + 5])
def test_openssl_decrypts_ours(tmp_path, n):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(n)
    enc = tmp_path / "enc.bin"
    enc.write_bytes(aes128_cbc_encrypt(key, iv, data))
    out = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key.hex(), "-iv", iv.hex(),
                          "-in", str(enc)], capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout == data
