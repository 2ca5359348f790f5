"""AES-128 encryption (FIPS-197) and CBC mode with PKCS#7 padding, for HLS segment encryption.

Encryption only: HLS servers never decrypt. Pure Python because the project's dependencies
(gevent, greenlet, bottle, av, psutil) offer no AES. It uses the classic 32-bit "T-table"
formulation (SubBytes, ShiftRows and MixColumns of one round folded into four 256-entry tables),
so one block costs 160 table lookups; the tables are derived at import from the GF(2^8)
arithmetic of the standard rather than pasted in.

    enc = Aes128CbcEncryptor(key16, iv16)
    out = enc.update(data) + enc.update(more) + enc.finalize()   # PKCS#7-padded ciphertext
"""
from __future__ import annotations

import struct

from srs.kernel.errors import CodecError

BLOCK_SIZE = 16
KEY_SIZE = 16
ROUNDS = 10


def _xtime(b: int) -> int:
    """Multiply by x (i.e. 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1."""
    b <<= 1
    return (b ^ 0x11B) if b & 0x100 else b


def _make_sbox() -> tuple:
    # Log/antilog tables over the generator 3, then the affine transform of FIPS-197 5.1.1.
    exp = [0] * 255
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)  # x * 3
    sbox = []
    for a in range(256):
        inv = 0 if a == 0 else exp[(255 - log[a]) % 255]
        s = inv
        for shift in (1, 2, 3, 4):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        sbox.append(s ^ 0x63)
    return tuple(sbox)


SBOX = _make_sbox()


def _ror(w: int, n: int) -> int:
    return ((w >> n) | (w << (32 - n))) & 0xFFFFFFFF


def _make_tables():
    te0 = []
    for s in SBOX:
        s2 = _xtime(s)
        te0.append((s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s))  # column (2s, s, s, 3s)
    return (tuple(te0), tuple(_ror(w, 8) for w in te0), tuple(_ror(w, 16) for w in te0),
            tuple(_ror(w, 24) for w in te0))


_TE0, _TE1, _TE2, _TE3 = _make_tables()
# The last round has no MixColumns: the S-box value placed in each byte lane.
_S3 = tuple(s << 24 for s in SBOX)
_S2 = tuple(s << 16 for s in SBOX)
_S1 = tuple(s << 8 for s in SBOX)
_S0 = SBOX


def expand_key(key: bytes) -> tuple:
    """The 44 round-key words of AES-128 (FIPS-197 5.2)."""
    if len(key) != KEY_SIZE:
        raise CodecError(f"AES-128 key must be {KEY_SIZE} bytes, not {len(key)}")
    w = list(struct.unpack(">4I", key))
    rcon = 1
    for i in range(4, 4 * (ROUNDS + 1)):
        t = w[i - 1]
        if i % 4 == 0:
            t = ((SBOX[(t >> 16) & 0xFF] << 24) | (SBOX[(t >> 8) & 0xFF] << 16)
                 | (SBOX[t & 0xFF] << 8) | SBOX[t >> 24]) ^ (rcon << 24)
            rcon = _xtime(rcon)
        w.append(w[i - 4] ^ t)
    return tuple(w)


def _encrypt_words(rk: tuple, s0: int, s1: int, s2: int, s3: int) -> tuple:
    te0, te1, te2, te3 = _TE0, _TE1, _TE2, _TE3
    s0 ^= rk[0]
    s1 ^= rk[1]
    s2 ^= rk[2]
    s3 ^= rk[3]
    for r in range(4, 4 * ROUNDS, 4):
        t0 = te0[s0 >> 24] ^ te1[(s1 >> 16) & 255] ^ te2[(s2 >> 8) & 255] ^ te3[s3 & 255] ^ rk[r]
        t1 = te0[s1 >> 24] ^ te1[(s2 >> 16) & 255] ^ te2[(s3 >> 8) & 255] ^ te3[s0 & 255] ^ rk[r + 1]
        t2 = te0[s2 >> 24] ^ te1[(s3 >> 16) & 255] ^ te2[(s0 >> 8) & 255] ^ te3[s1 & 255] ^ rk[r + 2]
        s3 = te0[s3 >> 24] ^ te1[(s0 >> 16) & 255] ^ te2[(s1 >> 8) & 255] ^ te3[s2 & 255] ^ rk[r + 3]
        s0, s1, s2 = t0, t1, t2
    a, b, c, d = _S3, _S2, _S1, _S0
    return (a[s0 >> 24] ^ b[(s1 >> 16) & 255] ^ c[(s2 >> 8) & 255] ^ d[s3 & 255] ^ rk[40],
            a[s1 >> 24] ^ b[(s2 >> 16) & 255] ^ c[(s3 >> 8) & 255] ^ d[s0 & 255] ^ rk[41],
            a[s2 >> 24] ^ b[(s3 >> 16) & 255] ^ c[(s0 >> 8) & 255] ^ d[s1 & 255] ^ rk[42],
            a[s3 >> 24] ^ b[(s0 >> 16) & 255] ^ c[(s1 >> 8) & 255] ^ d[s2 & 255] ^ rk[43])


def aes128_encrypt_block(key: bytes, block: bytes) -> bytes:
    """One 16-byte block under ``key`` (ECB, for test vectors and callers that chain themselves)."""
    if len(block) != BLOCK_SIZE:
        raise CodecError(f"AES block must be {BLOCK_SIZE} bytes, not {len(block)}")
    return struct.pack(">4I", *_encrypt_words(expand_key(key), *struct.unpack(">4I", block)))


def pkcs7_pad(data: bytes) -> bytes:
    n = BLOCK_SIZE - len(data) % BLOCK_SIZE  # always 1..16: a full block when already aligned
    return data + bytes((n,)) * n


class Aes128CbcEncryptor:
    """Streaming AES-128-CBC with PKCS#7 padding: feed any sizes, get whole blocks back.

    Bytes not yet filling a block wait in the object; ``finalize`` pads them (always adding
    1..16 bytes, as PKCS#7 requires) and returns the last block(s). The object is then spent.
    """

    __slots__ = ("_rk", "_iv", "_pending", "_done", "bytes_in")

    def __init__(self, key: bytes, iv: bytes):
        if len(iv) != BLOCK_SIZE:
            raise CodecError(f"AES IV must be {BLOCK_SIZE} bytes, not {len(iv)}")
        self._rk = expand_key(key)
        self._iv = struct.unpack(">4I", iv)
        self._pending = b""
        self._done = False
        self.bytes_in = 0

    def update(self, data) -> bytes:
        if self._done:
            raise CodecError("AES-CBC encryptor already finalized")
        self.bytes_in += len(data)
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        whole = len(buf) - len(buf) % BLOCK_SIZE
        self._pending = buf[whole:]
        return self._encrypt(buf, whole) if whole else b""

    def finalize(self) -> bytes:
        if self._done:
            raise CodecError("AES-CBC encryptor already finalized")
        buf = pkcs7_pad(self._pending)
        self._pending = b""
        out = self._encrypt(buf, len(buf))
        self._done = True
        return out

    def _encrypt(self, buf: bytes, n: int) -> bytes:
        words = struct.unpack(">%dI" % (n // 4), buf[:n] if n != len(buf) else buf)
        rk = self._rk
        c0, c1, c2, c3 = self._iv
        out = []
        append = out.extend
        enc = _encrypt_words
        for i in range(0, len(words), 4):
            c0, c1, c2, c3 = enc(rk, words[i] ^ c0, words[i + 1] ^ c1, words[i + 2] ^ c2,
                                 words[i + 3] ^ c3)
            append((c0, c1, c2, c3))
        self._iv = (c0, c1, c2, c3)
        return struct.pack(">%dI" % len(out), *out)


def aes128_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """The whole PKCS#7-padded AES-128-CBC ciphertext of ``data`` (openssl enc -aes-128-cbc)."""
    enc = Aes128CbcEncryptor(key, iv)
    return enc.update(data) + enc.finalize()
