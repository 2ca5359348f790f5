"""Opus packets (RFC 6716 section 3): joining single-frame packets into one multi-frame packet.

The AAC->Opus bridge encodes 20 ms frames, and each became one RTP packet: 50 packets a second
per player, each encrypted and sent on its own, for a track that is a tenth of the bytes. Joining
``n`` consecutive frames into one Opus packet (code 1 for two frames of one size, else code 3,
VBR) sends 50/n packets a second; one RTP packet carries one Opus packet of up to 120 ms (RFC 7587),
and every decoder (browsers' NetEq, libopus) takes them. Frames join only when their TOC agrees
(configuration and stereo flag): a change of mode or bandwidth starts a new packet.
"""
from __future__ import annotations

MAX_FRAME_BYTES = 1275          # RFC 6716 3.2.1
MAX_FRAMES = 48                 # code 3's M field; 120 ms of 2.5 ms frames


class OpusError(ValueError):
    pass


def toc_config(packet: bytes) -> int:
    """The TOC's configuration and stereo bits (the frame-count code masked out)."""
    return packet[0] & 0xFC


def single_frame(packet: bytes) -> bytes:
    """The frame of a code-0 (one frame) packet; OpusError for anything else."""
    if not packet or packet[0] & 0x03 != 0:
        raise OpusError("not a single-frame Opus packet")
    if len(packet) - 1 > MAX_FRAME_BYTES:
        raise OpusError(f"Opus frame of {len(packet) - 1} bytes")
    return packet[1:]


def _frame_length(n: int) -> bytes:
    if n < 252:
        return bytes((n,))
    first = 252 + (n & 0x03)
    return bytes((first, (n - first) >> 2))


def join(packets) -> bytes:
    """Single-frame packets with one TOC configuration -> one packet with all their frames."""
    if not packets:
        raise OpusError("no Opus packets to join")
    if len(packets) == 1:
        return bytes(packets[0])
    if len(packets) > MAX_FRAMES:
        raise OpusError(f"{len(packets)} Opus frames in one packet")
    toc = toc_config(packets[0])
    frames = []
    for p in packets:
        if toc_config(p) != toc:
            raise OpusError("Opus frames of different configurations")
        frames.append(single_frame(p))
    if len(frames) == 2 and len(frames[0]) == len(frames[1]):
        return bytes((toc | 0x01,)) + frames[0] + frames[1]
    head = bytes((toc | 0x03, 0x80 | len(frames)))          # VBR, no padding, M frames
    return head + b"".join(_frame_length(len(f)) for f in frames[:-1]) + b"".join(frames)


def split(packet: bytes) -> list:
    """The frames of a packet (codes 0-3): the inverse of ``join`` (tests, and a depacketiser)."""
    if not packet:
        raise OpusError("empty Opus packet")
    code, body = packet[0] & 0x03, packet[1:]
    if code == 0:
        return [body]
    if code == 1:
        if len(body) % 2:
            raise OpusError("code 1 packet of an odd length")
        half = len(body) // 2
        return [body[:half], body[half:]]
    if code == 2:
        n, pos = _read_length(body, 0)
        return [body[pos:pos + n], body[pos + n:]]
    if not body:
        raise OpusError("code 3 packet without its frame count")
    count, vbr, padded = body[0] & 0x3F, body[0] & 0x80, body[0] & 0x40
    if count == 0 or padded:
        raise OpusError("code 3 packet with padding or no frames")
    pos = 1
    if not vbr:
        size = (len(body) - 1) // count
        return [body[1 + i * size:1 + (i + 1) * size] for i in range(count)]
    sizes = []
    for _ in range(count - 1):
        n, pos = _read_length(body, pos)
        sizes.append(n)
    frames = []
    for n in sizes:
        frames.append(body[pos:pos + n])
        pos += n
    frames.append(body[pos:])
    if pos > len(body):
        raise OpusError("code 3 frame lengths overrun the packet")
    return frames


def _read_length(body: bytes, pos: int) -> tuple:
    if pos >= len(body):
        raise OpusError("Opus frame length truncated")
    first = body[pos]
    if first < 252:
        return first, pos + 1
    if pos + 1 >= len(body):
        raise OpusError("Opus frame length truncated")
    return first + 4 * body[pos + 1], pos + 2
