"""SRT encryption (draft-sharabayko-srt section 6; libsrt's haicrypt): the Keying Material message,
the key-encrypting key from the passphrase, AES key wrap of the stream keys, AES-CTR payloads.

- KEK = PBKDF2-HMAC-SHA1(passphrase, the last 8 bytes of the 16-byte salt, 2048 iterations, klen).
- Wrap = RFC 3394 AES key wrap (KEK) of the even SEK, then the odd one, as the KM flags say.
- The payload of a data packet is AES-CTR with the key its KK flag names and the IV
  ``salt[0:14] XOR (0^10 | seq (4 bytes)) | 0x0000`` (hcrypt_SetCtrIV).
HSv5 uses the caller's keys for both directions. All primitives come from ``cryptography`` and
hashlib; its import is deferred to first use because OpenSSL's bindings cost every server ~7 MB of
RSS (as srs.kernel.aes does), and most servers never see an encrypted SRT peer.
"""
from __future__ import annotations

import hashlib
import struct

from .errors import SrtError, SrtRejected
from .packet import KK_EVEN, KK_ODD

KM_SIGN = 0x2029          # 'HAI' in 5-bit letters
KM_VERSION = 1
KM_PT = 2                 # keying material (1 = media stream)
CIPHER_AES_CTR = 2
SE_SRT = 2                # stream encapsulation: SRT (1 = MPEG-TS/UDP)
SALT_SIZE = 16
PBKDF2_SALT_SIZE = 8
PBKDF2_ITERATIONS = 2048
KEY_SIZES = (16, 24, 32)
WRAP_ICV_SIZE = 8
KM_HEADER_SIZE = 16

# SRT_KM_STATE, sent back as a one-word KMRSP when the keys cannot be used
KM_S_UNSECURED = 0
KM_S_NOSECRET = 3
KM_S_BADSECRET = 4
# Reject reasons used by the handshake (SRT_REJ_*)
REJ_BADSECRET = 10
REJ_UNSECURE = 11


class KeyMaterial:
    """A KM message: ``flags`` KK (1 even, 2 odd, 3 both), the salt and the wrapped key(s)."""

    __slots__ = ("flags", "klen", "salt", "wrapped")

    def __init__(self, flags: int, klen: int, salt: bytes, wrapped: bytes):
        self.flags = flags
        self.klen = klen
        self.salt = salt
        self.wrapped = wrapped

    @property
    def key_count(self) -> int:
        return 2 if self.flags == 3 else 1

    @classmethod
    def parse(cls, data) -> "KeyMaterial":
        data = bytes(data)
        if len(data) < KM_HEADER_SIZE:
            raise SrtError(f"SRT KM of {len(data)} bytes")
        b0, sign, flags, _keki, cipher, _auth, se, _r1, _r2, slen4, klen4 = struct.unpack_from(
            ">BHBIBBBBHBB", data)
        if b0 >> 7 or (b0 >> 4) & 7 != KM_VERSION or b0 & 0xF != KM_PT or sign != KM_SIGN:
            raise SrtError(f"SRT KM header {data[:4].hex()}")
        flags &= 3
        if not flags:
            raise SrtError("SRT KM without a key")
        if cipher != CIPHER_AES_CTR:
            raise SrtRejected(f"SRT KM cipher {cipher} (only AES-CTR)", REJ_BADSECRET)
        if se not in (0, SE_SRT) or slen4 * 4 != SALT_SIZE or klen4 * 4 not in KEY_SIZES:
            raise SrtError(f"SRT KM se={se} salt={slen4 * 4} key={klen4 * 4}")
        klen = klen4 * 4
        nkeys = 2 if flags == 3 else 1
        want = KM_HEADER_SIZE + SALT_SIZE + nkeys * klen + WRAP_ICV_SIZE
        if len(data) != want:
            raise SrtError(f"SRT KM of {len(data)} bytes, {want} expected")
        return cls(flags, klen, data[16:32], data[32:])

    def build(self) -> bytes:
        head = struct.pack(">BHBIBBBBHBB", (KM_VERSION << 4) | KM_PT, KM_SIGN, self.flags, 0,
                           CIPHER_AES_CTR, 0, SE_SRT, 0, 0, SALT_SIZE // 4, self.klen // 4)
        return head + self.salt + self.wrapped


def derive_kek(passphrase: bytes, salt: bytes, klen: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", passphrase, salt[-PBKDF2_SALT_SIZE:], PBKDF2_ITERATIONS, klen)


def make_key_material(passphrase: bytes, salt: bytes, even_key: bytes, odd_key: bytes = b"") -> KeyMaterial:
    """Wrap our stream key(s); salt and keys come from the caller's random source."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap  # deferred: see module doc
    if len(salt) != SALT_SIZE or len(even_key) not in KEY_SIZES:
        raise ValueError("SRT KM: salt must be 16 bytes, keys 16/24/32")
    kek = derive_kek(passphrase, salt, len(even_key))
    flags = 3 if odd_key else 1
    return KeyMaterial(flags, len(even_key), salt, aes_key_wrap(kek, even_key + odd_key))


def unwrap_keys(km: KeyMaterial, passphrase: bytes) -> dict:
    """{KK_EVEN: key, KK_ODD: key} (those present); a wrong passphrase -> SrtRejected(BADSECRET)."""
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap  # deferred
    kek = derive_kek(passphrase, km.salt, km.klen)
    try:
        keys = aes_key_unwrap(kek, km.wrapped)
    except (InvalidUnwrap, ValueError) as e:
        raise SrtRejected("SRT KM unwrap failed: wrong passphrase", REJ_BADSECRET) from e
    if km.flags == 3:
        return {KK_EVEN: keys[:km.klen], KK_ODD: keys[km.klen:]}
    return {km.flags: keys}


def ctr_iv(salt: bytes, seq: int) -> bytes:
    """salt[0:14] XOR (10 zero bytes | seq | 0 0), then a 16-bit block counter starting at 0."""
    return ((int.from_bytes(salt[:14], "big") << 16) ^ (seq << 16)).to_bytes(16, "big")


class PayloadCipher:
    """AES-CTR for data packet payloads (the same operation both ways)."""

    __slots__ = ("salt", "keys", "_aes", "_ctr", "_cipher")

    def __init__(self, salt: bytes, keys: dict):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # deferred
        self.salt = salt
        self.keys = dict(keys)
        self._aes = {kk: algorithms.AES(k) for kk, k in keys.items()}
        self._ctr = modes.CTR
        self._cipher = Cipher

    def crypt(self, kk: int, seq: int, payload: bytes) -> bytes:
        aes = self._aes.get(kk)
        if aes is None:
            raise SrtError(f"SRT data with key flag {kk} we have no key for")
        enc = self._cipher(aes, self._ctr(ctr_iv(self.salt, seq))).encryptor()
        return enc.update(payload) + enc.finalize()

    def update_keys(self, keys: dict) -> None:
        from cryptography.hazmat.primitives.ciphers import algorithms  # deferred
        self.keys.update(keys)
        self._aes.update({kk: algorithms.AES(k) for kk, k in keys.items()})
