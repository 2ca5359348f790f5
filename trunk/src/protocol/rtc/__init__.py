"""Sans-IO WebRTC building blocks: SDP offer/answer, STUN (ICE-lite), H.264 RTP, RTCP, NACK ring and
jitter buffer. No sockets, no clock, no randomness: the app layer passes them in."""
