"""AES-128 (FIPS-197) and CBC + PKCS#7: standard vectors, streaming, and openssl as a cross-check."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from srs.kernel.aes import (SBOX, Aes128CbcEncryptor, aes128_cbc_encrypt, aes128_encrypt_block, expand_key,
                            pkcs7_pad)
from srs.kernel.errors import CodecError

# (key, plaintext, ciphertext): FIPS-197 appendix B and C.1.
BLOCK_VECTORS = [
    ("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32"),
    ("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a"),
]


@pytest.mark.parametrize("key,plain,cipher", BLOCK_VECTORS)
def test_fips197_block(key, plain, cipher):
    assert aes128_encrypt_block(bytes.fromhex(key), bytes.fromhex(plain)).hex() == cipher


def test_sbox_and_key_schedule_fips197():
    assert SBOX[0x00] == 0x63 and SBOX[0x53] == 0xED and SBOX[0xFF] == 0x16  # FIPS-197 figure 7
    w = expand_key(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))  # appendix A.1
    assert len(w) == 44
    assert w[4] == 0xA0FAFE17 and w[43] == 0xB6630CA6


def test_cbc_sp800_38a_first_block():
    # NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, block 1 (PKCS#7 then adds one padding block).
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    out = aes128_cbc_encrypt(key, iv, bytes.fromhex("6bc1bee22e409f96e93d7e117393172a"))
    assert out[:16].hex() == "7649abac8119b246cee98e9b12e9197d"
    assert len(out) == 32


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 188, 376])
def test_pkcs7_always_pads(n):
    padded = pkcs7_pad(b"x" * n)
    pad = 16 - n % 16
    assert len(padded) == n + pad and padded[-pad:] == bytes((pad,)) * pad
    assert len(aes128_cbc_encrypt(b"k" * 16, b"i" * 16, b"x" * n)) == n + pad


def test_streaming_chunks_match():
    data = os.urandom(3000)
    key, iv = os.urandom(16), os.urandom(16)
    whole = aes128_cbc_encrypt(key, iv, data)
    enc = Aes128CbcEncryptor(key, iv)
    parts = [enc.update(data[i:i + 7]) for i in range(0, len(data), 7)]
    assert enc.bytes_in == len(data)
    assert b"".join(parts) + enc.finalize() == whole


@pytest.mark.parametrize("bad", [
    lambda: aes128_encrypt_block(b"short", b"0" * 16),
    lambda: aes128_encrypt_block(b"k" * 16, b"0" * 15),
    lambda: Aes128CbcEncryptor(b"k" * 24, b"i" * 16),
    lambda: Aes128CbcEncryptor(b"k" * 16, b"i" * 8),
])
def test_bad_sizes_raise_codec_error(bad):
    with pytest.raises(CodecError):
        bad()


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
