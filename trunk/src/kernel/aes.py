"""AES as our protocols use it, on the ``cryptography`` package (OpenSSL): today HLS's AES-128
method (SRS 3 ``hls_keys``), i.e. AES-128-CBC with PKCS#7 padding, encryption only (servers never
decrypt a segment).

Sans-IO like the rest of kernel: the key and IV are passed in (the caller draws the random key), and
``cryptography`` only computes. Sizes are checked here so that a wrong one is a typed CodecError,
not the library's ValueError.

    enc = Aes128CbcEncryptor(key16, iv16)
    out = enc.update(data) + enc.update(more) + enc.finalize()   # PKCS#7-padded ciphertext
"""
from __future__ import annotations

from srs.kernel.errors import CodecError

BLOCK_SIZE = 16
KEY_SIZE = 16


def pkcs7_padding(length: int) -> bytes:
    """The PKCS#7 tail for ``length`` bytes of clear text: always 1..16 bytes, a whole block when
    ``length`` is already aligned, so the decoder can always strip it."""
    n = BLOCK_SIZE - length % BLOCK_SIZE
    return bytes((n,)) * n


class Aes128CbcEncryptor:
    """Streaming AES-128-CBC with PKCS#7 padding: feed any sizes, get whole blocks back.

    OpenSSL keeps the bytes not yet filling a block; ``finalize`` appends the padding (computed
    from ``bytes_in``, so no per-write padding pass) and returns the last block(s). The object is
    then spent.
    """

    __slots__ = ("_ctx", "bytes_in")

    def __init__(self, key: bytes, iv: bytes):
        if len(key) != KEY_SIZE:
            raise CodecError(f"AES-128 key must be {KEY_SIZE} bytes, not {len(key)}")
        if len(iv) != BLOCK_SIZE:
            raise CodecError(f"AES IV must be {BLOCK_SIZE} bytes, not {len(iv)}")
        # Imported here, not at the top: OpenSSL's bindings add ~7 MB to every server process, and
        # only one that encrypts HLS (hls_keys on) needs them; once per segment, then a cache hit.
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._ctx = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(iv))).encryptor()
        self.bytes_in = 0

    def update(self, data) -> bytes:
        if self._ctx is None:
            raise CodecError("AES-CBC encryptor already finalized")
        self.bytes_in += len(data)
        return self._ctx.update(data)

    def finalize(self) -> bytes:
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            raise CodecError("AES-CBC encryptor already finalized")
        return ctx.update(pkcs7_padding(self.bytes_in)) + ctx.finalize()


def aes128_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """The whole PKCS#7-padded AES-128-CBC ciphertext of ``data`` (openssl enc -aes-128-cbc)."""
    enc = Aes128CbcEncryptor(key, iv)
    return enc.update(data) + enc.finalize()
