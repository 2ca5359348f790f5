"""WebRTC app parts that touch OpenSSL/libsrtp (DTLS handshake, SRTP); the server comes later."""
