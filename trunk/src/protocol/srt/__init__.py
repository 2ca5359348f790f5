"""Sans-IO SRT (Secure Reliable Transport, draft-sharabayko-srt): live mode, listener side.

packet     data/control packet codec and 31-bit sequence arithmetic
handshake  HSv5 handshake CIF, extensions (HSREQ/HSRSP, KMREQ/KMRSP, SID), the listener
streamid   SRS's stream id grammar
crypto     keying material (KM) messages, PBKDF2 + AES key wrap, AES-CTR payloads
receiver   receive buffer, loss list, ACK/NAK, TSBPD delivery, too-late drop
sender     send buffer, retransmission on NAK, ACK/ACKACK
connection one accepted peer: both directions, keep-alive, idle timeout, shutdown
endpoint   all peers of one UDP socket: handshakes -> events, accept/reject, demultiplexing, timers

Nothing here reads a clock or a random source: ``now_us`` and random bytes are arguments.
"""
