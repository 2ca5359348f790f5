"""TLS for the listeners (HTTPS server, HTTPS API, RTMPS): the standard library's ``ssl`` through
gevent.ssl, so a TLS socket blocks only its own greenlet.

A ``Listener`` given a ``ServerTls`` wraps each admitted socket and runs the handshake in the
connection's own greenlet, bounded by ``handshake_timeout_s``: a client that connects and never
finishes its handshake (or speaks plaintext to the TLS port) costs its own slot for a moment and
never blocks the accept loop or another client.

The fan-out writes to players without blocking (live/output.py): on a plain socket it sends on the
fd under the gevent socket. On TLS that fd would carry plaintext past the encryption, so a
``TlsSocket`` gives its own non-blocking sender (``nonblocking``), one ``SSL_write`` that either takes
the whole buffer or raises BlockingIOError. OpenSSL then wants the same bytes again, which is what
Output does: the whole buffer waits in the backlog and the drainer sends it first.
"""
from __future__ import annotations

import errno
import logging
import os
import ssl as _stdssl

import gevent
from gevent import ssl as gssl

from srs.kernel.errors import SrsError

log = logging.getLogger(__name__)

# A client has this long from accept to a finished TLS handshake.
HANDSHAKE_TIMEOUT_S = 10.0
# SRS's codes (srs_kernel_error.hpp): a failed handshake, a key/cert that cannot be loaded.
ERROR_HTTPS_HANDSHAKE = 4042
ERROR_HTTPS_KEY_CRT = 4045


class TlsError(SrsError):
    """The key pair cannot be loaded (ours) or a client's handshake failed (theirs)."""


class _NonBlockingTls:
    """What Output.write uses as ``raw``: ``send(data)`` never blocks, never writes plaintext."""

    __slots__ = ("_sock",)

    def __init__(self, sock: "TlsSocket"):
        self._sock = sock

    def send(self, data) -> int:
        sslobj = self._sock._sslobj
        if sslobj is None:  # shut down (a kick) or closed: as a closed plain socket would say
            raise OSError(errno.EBADF, "TLS connection shut down")
        try:
            return sslobj.write(data)
        except (_stdssl.SSLWantWriteError, _stdssl.SSLWantReadError) as exc:
            raise BlockingIOError(errno.EAGAIN, "TLS send would block") from exc


class TlsSocket(gssl.SSLSocket):
    """gevent's SSLSocket plus the fan-out's non-blocking sender."""

    @property
    def nonblocking(self) -> _NonBlockingTls:
        return _NonBlockingTls(self)


class _TlsContext(gssl.SSLContext):
    __slots__ = ()
    sslsocket_class = TlsSocket


class ServerTls:
    """A server-side TLS context from PEM files; ``wrap`` is called in the connection's greenlet."""

    def __init__(self, key: str, cert: str, name: str = "tls",
                 handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S):
        self.key, self.cert, self.name = key, cert, name
        self.handshake_timeout_s = handshake_timeout_s
        ctx = _TlsContext(gssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = gssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(certfile=cert, keyfile=key)
        except (OSError, _stdssl.SSLError) as exc:
            raise TlsError(f"{name}: load key={key} cert={cert} (cwd {os.getcwd()}): {exc}",
                           code=ERROR_HTTPS_KEY_CRT) from exc
        self.context = ctx

    def wrap(self, sock) -> TlsSocket:
        """The handshake, at most ``handshake_timeout_s`` in all (a client trickling its hello
        byte by byte gets no more); raises TlsError. ``sock`` is detached into the TLS socket."""
        try:
            tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:
            raise TlsError(f"{self.name}: wrap: {exc}", code=ERROR_HTTPS_HANDSHAKE) from exc
        try:
            with gevent.Timeout(self.handshake_timeout_s, TimeoutError("handshake timeout")):
                tls.do_handshake()
        except (OSError, ValueError) as exc:  # SSLError, timeout, reset; ValueError: closed meanwhile
            tls.close()
            raise TlsError(f"{self.name}: handshake: {exc}", code=ERROR_HTTPS_HANDSHAKE) from exc
        tls.settimeout(None)  # the handlers set their own deadlines, as on a plain socket
        return tls
