"""DTLS 1.2 for WebRTC over pyOpenSSL memory BIOs (RFC 5764 DTLS-SRTP, RFC 8842 roles).

No socket here: ``feed`` takes a datagram from the peer and returns the datagrams to send, so the
UDP loop (a greenlet in the server, a thread in the tests) owns all IO. The certificate is made
once at start (self-signed ECDSA P-256, 365 days, as SRS does) and its SHA-256 fingerprint goes in
every answer. After the handshake the SRTP keys come from the exporter "EXTRACTOR-dtls_srtp" with
the only profile SRS offers, SRTP_AES128_CM_SHA1_80.
"""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from srs.core.lazy import lazy_module
from srs.protocol.rtc.errors import ERROR_RTC_DTLS, RtcError

# pyOpenSSL loads with the first DTLS context (rtc_server enabled), not in every server (core/lazy.py);
# its package imports SSL and crypto, so only the package can wait. cryptography's submodules import
# one another, which a lazy module in between breaks: they are imported where the certificate is made.
OpenSSL = lazy_module("OpenSSL")
if TYPE_CHECKING:
    from cryptography import x509

SRTP_PROFILE = b"SRTP_AES128_CM_SHA1_80"
SRTP_KEY_LEN = 16
SRTP_SALT_LEN = 14
EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"
MAX_RECORD_READ = 64 * 1024
MAX_HANDSHAKE_DATAGRAMS = 64   # a handshake that needs more is hostile or broken: end the session


class DtlsError(RtcError):
    code = ERROR_RTC_DTLS


def fingerprint_of(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


class DtlsCertificate:
    """The server's one certificate; ``fingerprint`` is "AB:CD:..." (SDP a=fingerprint:sha-256)."""

    def __init__(self, cert: x509.Certificate, key):
        self.cert = cert
        self.key = key
        self.fingerprint = fingerprint_of(cert)

    @classmethod
    def generate(cls, now: datetime.datetime | None = None, common_name: str = "srs") -> "DtlsCertificate":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        key = ec.generate_private_key(ec.SECP256R1())
        now = now or datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365))
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    def context(self) -> OpenSSL.SSL.Context:
        ctx = OpenSSL.SSL.Context(OpenSSL.SSL.DTLS_METHOD)
        ctx.set_options(OpenSSL.SSL.OP_NO_TICKET)
        ctx.use_certificate(self.cert)
        ctx.use_privatekey(self.key)
        # WebRTC peers use self-signed certificates: the check is the SDP fingerprint (below),
        # so accept any chain here but require the peer to present one.
        ctx.set_verify(OpenSSL.SSL.VERIFY_PEER | OpenSSL.SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        ctx.set_tlsext_use_srtp(SRTP_PROFILE)
        return ctx

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization
        return self.cert.public_bytes(serialization.Encoding.PEM)


class DtlsSession:
    """One peer's DTLS association. ``role`` is ours from the answer: "passive" (server, SRS's
    default) or "active" (client). ``peer_fingerprint`` from the offer is checked when given."""

    def __init__(self, certificate: DtlsCertificate, role: str = "passive",
                 peer_fingerprint: str = "", context: OpenSSL.SSL.Context | None = None):
        self.role = role
        self.peer_fingerprint = peer_fingerprint.upper()
        self.done = False
        self.closed = False       # the peer sent close_notify: the session ends normally
        self.datagrams_in = 0
        self._ssl = OpenSSL.SSL.Connection(context or certificate.context(), None)
        if role == "active":
            self._ssl.set_connect_state()
        else:
            self._ssl.set_accept_state()

    def start(self) -> list:
        """The first flight when we are active (ClientHello); nothing when passive."""
        if self.role != "active":
            return []
        return self._step()

    def feed(self, datagram: bytes) -> list:
        """A DTLS datagram from the peer -> datagrams to send back. Raises DtlsError on failure."""
        self.datagrams_in += 1
        if not self.done and self.datagrams_in > MAX_HANDSHAKE_DATAGRAMS:
            raise DtlsError(f"DTLS handshake not done after {MAX_HANDSHAKE_DATAGRAMS} datagrams")
        try:
            self._ssl.bio_write(bytes(datagram))
        except OpenSSL.SSL.Error as e:
            raise DtlsError(f"DTLS bio_write: {e}") from None
        if self.closed:
            return []
        if self.done:
            return self._drain_application()
        return self._step()

    def timeout(self):
        """Seconds until a retransmission is due, or None (DTLSv1_get_timeout)."""
        if self.done:
            return None
        return self._ssl.DTLSv1_get_timeout()

    def handle_timeout(self) -> list:
        """Retransmit the last flight when its timer expired (the caller's clock decides)."""
        if self.done:
            return []
        try:
            self._ssl.DTLSv1_handle_timeout()
        except OpenSSL.SSL.Error as e:
            raise DtlsError(f"DTLS timeout: {e}") from None
        return self._outgoing()

    def _step(self) -> list:
        try:
            self._ssl.do_handshake()
        except OpenSSL.SSL.WantReadError:
            return self._outgoing()
        except OpenSSL.SSL.Error as e:
            raise DtlsError(f"DTLS handshake: {e}") from None
        self.done = True
        out = self._outgoing()
        self._check_peer()
        return out

    def _check_peer(self) -> None:
        cert = self._ssl.get_peer_certificate(as_cryptography=True)
        if cert is None:
            raise DtlsError("DTLS peer sent no certificate")
        if self._ssl.get_selected_srtp_profile() != SRTP_PROFILE:
            raise DtlsError(f"DTLS-SRTP profile {self._ssl.get_selected_srtp_profile()!r}")
        if self.peer_fingerprint:
            got = fingerprint_of(cert)
            if got != self.peer_fingerprint:
                raise DtlsError(f"DTLS peer fingerprint {got} != SDP {self.peer_fingerprint}")

    def _drain_application(self) -> list:
        # After the handshake the peer may send alerts (close_notify) or a retransmitted Finished;
        # reading lets OpenSSL answer them. WebRTC carries no application data over DTLS here.
        out = []
        try:
            self._ssl.recv(MAX_RECORD_READ)
        except OpenSSL.SSL.WantReadError:
            pass
        except OpenSSL.SSL.ZeroReturnError:
            self.closed = True
        except OpenSSL.SSL.Error as e:
            raise DtlsError(f"DTLS read: {e}") from None
        out.extend(self._outgoing())
        return out

    def _outgoing(self) -> list:
        out = []
        while True:
            try:
                data = self._ssl.bio_read(MAX_RECORD_READ)
            except OpenSSL.SSL.WantReadError:
                return out
            if not data:
                return out
            out.append(data)

    def srtp_keys(self):
        """(local key+salt, remote key+salt), 30 bytes each, for SrtpSession (RFC 5764 4.2)."""
        if not self.done:
            raise DtlsError("SRTP keys before the DTLS handshake is done")
        n = SRTP_KEY_LEN + SRTP_SALT_LEN
        m = self._ssl.export_keying_material(EXPORTER_LABEL, 2 * n)
        k, s = SRTP_KEY_LEN, SRTP_SALT_LEN
        client = m[:k] + m[2 * k:2 * k + s]
        server = m[k:2 * k] + m[2 * k + s:]
        return (client, server) if self.role == "active" else (server, client)
