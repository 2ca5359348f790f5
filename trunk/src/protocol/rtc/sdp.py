"""SDP offer parsing (RFC 8866) and SRS-style answers for WebRTC publish (recvonly) and play (sendonly).

The parser is strict and bounded (size, line count, line length, counts of media and codecs):
an offer is client input on the API port. Any malformed offer raises ``SdpError`` with 5012; an
offer that parses but cannot be answered (no BUNDLE, no rtcp-mux, wrong direction, no Opus or no
H.264 packetization-mode 1) raises it with 5018, as SRS does. Randomness (ufrag/pwd, ssrc, the
session id) and the certificate fingerprint are passed in by the app.
"""
from __future__ import annotations

import re

from srs.protocol.rtc.errors import SdpError

MAX_SDP_SIZE = 64 * 1024     # Chromium's offer with every codec and simulcast stays under 16 KB
MAX_LINES = 2048
MAX_LINE_LENGTH = 2048
MAX_MEDIA = 16
MAX_FORMATS = 64             # payload types on one m-line
TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
PREFERRED_H264_PROFILE = "42e01f"
SRS_CANDIDATE_PRIORITY = (126 << 24) | (65535 << 8) | 255   # 2130706431, fixed in SRS
_TOKEN = re.compile(r"^[\x21-\x7e]+$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")
_MEDIA_KINDS = ("audio", "video")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class MediaDesc:
    """One m-section of an offer: what the negotiation reads from it."""

    def __init__(self, kind: str, port: int, proto: str, formats: list):
        self.kind = kind
        self.port = port
        self.proto = proto
        self.formats = formats                 # payload types in offer order
        self.mid = ""
        self.direction = "sendrecv"
        self.rtcp_mux = False
        self.rtpmaps: dict = {}                # pt -> (encoding name, clock rate, channels)
        self.fmtps: dict = {}                  # pt -> "k=v;k=v"
        self.rtcp_fbs: dict = {}               # pt -> ["nack", "nack pli", ...]
        self.extmaps: dict = {}                # id -> uri
        self.ssrcs: list = []                  # (ssrc, attribute) in order
        self.ice_ufrag = ""
        self.ice_pwd = ""
        self.fingerprint = ""
        self.setup = ""

    def fmtp_params(self, pt: int) -> dict:
        out = {}
        for item in self.fmtps.get(pt, "").split(";"):
            key, _, value = item.strip().partition("=")
            if key:
                out[key.lower()] = value
        return out


class SessionDesc:
    def __init__(self):
        self.bundle: list = []
        self.ice_ufrag = ""
        self.ice_pwd = ""
        self.fingerprint = ""
        self.setup = ""
        self.media: list = []

    def remote_ice(self):
        """(ufrag, pwd) of the offerer: the first m-section's, else the session-level ones."""
        for m in self.media:
            if m.ice_ufrag:
                return m.ice_ufrag, m.ice_pwd
        return self.ice_ufrag, self.ice_pwd

    def remote_setup(self) -> str:
        for m in self.media:
            if m.setup:
                return m.setup
        return self.setup


def _int(text: str, what: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
    if not _DIGITS.match(text):              # str.isdigit() also accepts "²", which int() refuses
        raise SdpError(f"SDP {what} {text[:32]!r} is not a number")
    v = int(text)
    if not lo <= v <= hi:
        raise SdpError(f"SDP {what} {v} out of [{lo}, {hi}]")
    return v


def parse_offer(text) -> SessionDesc:
    """Parse an SDP offer (str or bytes); raise SdpError(5012) on anything malformed or oversized."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_SDP_SIZE:
            raise SdpError(f"SDP of {len(text)} bytes exceeds {MAX_SDP_SIZE}")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not UTF-8") from None
    if len(text) > MAX_SDP_SIZE:
        raise SdpError(f"SDP of {len(text)} chars exceeds {MAX_SDP_SIZE}")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise SdpError(f"SDP of {len(lines)} lines exceeds {MAX_LINES}")
    if not lines or lines[0].rstrip(" ") != "v=0":
        raise SdpError("SDP does not start with v=0")
    sess = SessionDesc()
    media = None
    for line in lines:
        line = line.rstrip(" ")        # pion and some WHIP clients leave trailing spaces
        if len(line) > MAX_LINE_LENGTH:
            raise SdpError(f"SDP line of {len(line)} chars exceeds {MAX_LINE_LENGTH}")
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"invalid SDP line {line[:64]!r}")
        if any(c in line for c in "\r\x00"):
            raise SdpError("SDP line with a control character")
        kind, value = line[0], line[2:]
        if kind == "m":
            media = _parse_m_line(value)
            if len(sess.media) >= MAX_MEDIA:
                raise SdpError(f"SDP with more than {MAX_MEDIA} media sections")
            sess.media.append(media)
        elif kind == "a":
            _parse_attribute(sess, media, value)
    return sess


def _parse_m_line(value: str) -> MediaDesc:
    parts = value.split(" ")
    if len(parts) < 4:
        raise SdpError(f"invalid m-line {value[:64]!r}")
    if len(parts) - 3 > MAX_FORMATS:
        raise SdpError(f"m-line with {len(parts) - 3} formats exceeds {MAX_FORMATS}")
    port = _int(parts[1].split("/")[0], "port", 0, 65535)
    if parts[2].endswith("RTP/SAVPF") or parts[2].endswith("RTP/AVPF") or parts[2].endswith("RTP/AVP"):
        formats = [_int(f, "payload type", 0, 127) for f in parts[3:]]
    else:
        formats = []   # application (SCTP) or other: kept, refused by the negotiation
    return MediaDesc(parts[0], port, parts[2], formats)


def _parse_attribute(sess: SessionDesc, m, value: str) -> None:
    name, _, arg = value.partition(":")
    target = m if m is not None else sess
    if name == "group":
        sem, _, mids = arg.partition(" ")
        if sem == "BUNDLE":
            sess.bundle = [x for x in mids.split(" ") if x]
    elif name == "ice-ufrag":
        target.ice_ufrag = _ice_token(arg, "ice-ufrag", 4, 256)
    elif name == "ice-pwd":
        target.ice_pwd = _ice_token(arg, "ice-pwd", 22, 256)
    elif name == "fingerprint":
        algo, _, fp = arg.partition(" ")
        if not algo or not fp or not _TOKEN.match(algo) or not re.fullmatch(r"[0-9A-Fa-f:]+", fp):
            raise SdpError(f"invalid fingerprint {arg[:64]!r}")
        # offers may list sha-256, sha-384 and sha-512 (aiortc): keep sha-256 when there is one
        if not target.fingerprint.startswith("sha-256 "):
            target.fingerprint = f"{algo.lower()} {fp.upper()}"
    elif name == "setup":
        if arg not in ("active", "passive", "actpass", "holdconn"):
            raise SdpError(f"invalid setup {arg[:32]!r}")
        target.setup = arg
    elif m is None:
        return
    elif name == "mid":
        if not arg or not _TOKEN.match(arg) or len(arg) > 64:
            raise SdpError(f"invalid mid {arg[:32]!r}")
        m.mid = arg
    elif name in _DIRECTIONS:
        m.direction = name
    elif name == "rtcp-mux":
        m.rtcp_mux = True
    elif name == "rtpmap":
        pt, _, enc = arg.partition(" ")
        pt = _int(pt, "rtpmap payload type", 0, 127)
        fields = enc.split("/")
        if len(fields) < 2 or not fields[0] or not _TOKEN.match(fields[0]):
            raise SdpError(f"invalid rtpmap {arg[:64]!r}")
        channels = _int(fields[2], "channels", 1, 255) if len(fields) > 2 else 1
        m.rtpmaps[pt] = (fields[0], _int(fields[1], "clock rate", 1, 10_000_000), channels)
    elif name == "fmtp":
        pt, _, params = arg.partition(" ")
        m.fmtps[_int(pt, "fmtp payload type", 0, 127)] = params
    elif name == "rtcp-fb":
        pt, _, fb = arg.partition(" ")
        if pt != "*":
            fbs = m.rtcp_fbs.setdefault(_int(pt, "rtcp-fb payload type", 0, 127), [])
            if len(fbs) < 16:
                fbs.append(fb)
    elif name == "extmap":
        ident, _, rest = arg.partition(" ")
        ident = _int(ident.split("/")[0], "extmap id", 1, 255)
        uri = rest.split(" ")[0]
        if not uri:
            raise SdpError(f"invalid extmap {arg[:64]!r}")
        m.extmaps[ident] = uri
    elif name == "ssrc":
        ssrc, _, attr = arg.partition(" ")
        if len(m.ssrcs) < 64:
            m.ssrcs.append((_int(ssrc, "ssrc"), attr))


def _ice_token(arg: str, what: str, lo: int, hi: int) -> str:
    # RFC 8839: ice-char = ALPHA / DIGIT / "+" / "/"; Chromium and aiortc stay in that set
    if not lo <= len(arg) <= hi or not re.fullmatch(r"[A-Za-z0-9+/=#_-]+", arg):
        raise SdpError(f"invalid {what} of {len(arg)} chars")
    return arg


class Track:
    """One negotiated m-section of the answer."""

    def __init__(self, media: MediaDesc, pt: int, codec: tuple, fmtp: str, rtcp_fbs: list,
                 twcc_id: int):
        self.media = media
        self.kind = media.kind
        self.mid = media.mid
        self.pt = pt
        self.codec = codec            # (name, clock, channels)
        self.fmtp = fmtp
        self.rtcp_fbs = rtcp_fbs
        self.twcc_id = twcc_id        # 0: transport-cc not negotiated
        self.ssrc = 0                 # ours (play), or the offerer's first ssrc (publish)
        for ssrc, _attr in media.ssrcs:
            self.ssrc = ssrc
            break


class Negotiation:
    """Which codecs, PTs and feedback an answer carries; ``tracks`` in offer order, one per kind."""

    def __init__(self, offer: SessionDesc, tracks: list, rejected: list, setup: str):
        self.offer = offer
        self.tracks = tracks
        self.rejected = rejected      # m-sections answered with port 0
        self.setup = setup            # our DTLS role in the answer: "passive" or "active"

    def track(self, kind: str):
        for t in self.tracks:
            if t.kind == kind:
                return t
        return None


def negotiate(offer: SessionDesc, publish: bool, nack: bool = True, twcc: bool = True,
              dtls_role: str = "passive") -> Negotiation:
    """SRS's checks, in its order, then the codec choice (raises SdpError 5018 when unanswerable)."""
    if not offer.bundle:
        raise SdpError("offer without BUNDLE", exchange=True)
    if not offer.media:
        raise SdpError("offer without media", exchange=True)
    ufrag, pwd = offer.remote_ice()
    if not ufrag or not pwd:
        raise SdpError("offer without ice-ufrag/ice-pwd", exchange=True)
    if not offer.fingerprint and not any(m.fingerprint for m in offer.media):
        raise SdpError("offer without fingerprint", exchange=True)
    tracks, rejected, seen = [], [], set()
    allowed = ("sendrecv", "sendonly") if publish else ("sendrecv", "recvonly")
    for m in offer.media:
        if m.kind not in _MEDIA_KINDS:
            raise SdpError(f"offer with {m.kind[:16]!r} media", exchange=True)
        if not m.rtcp_mux:
            raise SdpError(f"{m.kind} without rtcp-mux", exchange=True)
        if not m.mid or m.mid not in offer.bundle:
            raise SdpError(f"{m.kind} mid {m.mid!r} not in BUNDLE", exchange=True)
        if m.direction not in allowed:
            raise SdpError(f"{m.kind} direction {m.direction} for "
                           f"{'publish' if publish else 'play'}", exchange=True)
        if m.kind in seen or m.port == 0:
            rejected.append(m)
            continue
        seen.add(m.kind)
        tracks.append(_audio(m, nack, twcc) if m.kind == "audio" else _video(m, nack, twcc))
    if not any(t.kind == "audio" for t in tracks) and not any(t.kind == "video" for t in tracks):
        raise SdpError("offer without audio or video", exchange=True)
    setup = offer.remote_setup()
    if setup == "active":
        ours = "passive"
    elif setup == "passive":
        ours = "active"
    else:
        ours = dtls_role if dtls_role in ("passive", "active") else "passive"
    return Negotiation(offer, tracks, rejected, ours)


def _feedback(m: MediaDesc, pt: int, nack: bool, twcc_id: int) -> list:
    keep = []
    for fb in m.rtcp_fbs.get(pt, []):
        if fb in ("nack", "nack pli") and nack:
            keep.append(fb)
        elif fb == "transport-cc" and twcc_id:
            keep.append(fb)
    return keep


def _twcc_id(m: MediaDesc, twcc: bool) -> int:
    if twcc:
        for ident, uri in m.extmaps.items():
            if uri == TWCC_URI:
                return ident
    return 0


def _audio(m: MediaDesc, nack: bool, twcc: bool) -> Track:
    for pt in m.formats:
        name, clock, channels = m.rtpmaps.get(pt, ("", 0, 0))
        if name.lower() == "opus":
            params = m.fmtp_params(pt)
            fmtp = ";".join(f"{k}={params[k]}" for k in ("minptime", "useinbandfec", "stereo")
                            if k in params)
            tid = _twcc_id(m, twcc)
            return Track(m, pt, (name, clock, channels), fmtp, _feedback(m, pt, nack, tid), tid)
    raise SdpError("offer without Opus", exchange=True)


def _video(m: MediaDesc, nack: bool, twcc: bool) -> Track:
    pm1, bare = [], []
    for pt in m.formats:
        name = m.rtpmaps.get(pt, ("", 0, 0))[0]
        if name.upper() != "H264":
            continue
        params = m.fmtp_params(pt)
        if params.get("packetization-mode") == "1":
            pm1.append(pt)
        elif pt not in m.fmtps:
            bare.append(pt)
    preferred = [pt for pt in pm1
                 if m.fmtp_params(pt).get("profile-level-id", "").lower() == PREFERRED_H264_PROFILE]
    choice = (preferred or pm1 or bare or [None])[0]
    if choice is None:
        raise SdpError("offer without H.264 packetization-mode=1", exchange=True)
    tid = _twcc_id(m, twcc)
    return Track(m, choice, m.rtpmaps[choice], m.fmtps.get(choice, ""),
                 _feedback(m, choice, nack, tid), tid)


class LocalIce:
    """What the app draws for one session: ufrag (8 chars), pwd (32), the DTLS fingerprint, the
    candidates [(ip, port)], and for play the ssrcs per kind and a cname."""

    def __init__(self, ufrag: str, pwd: str, fingerprint: str, candidates, ssrcs=None,
                 cname: str = ""):
        self.ufrag = ufrag
        self.pwd = pwd
        self.fingerprint = fingerprint     # "AB:CD:..." sha-256
        self.candidates = list(candidates)
        self.ssrcs = dict(ssrcs or {})     # kind -> ssrc
        self.cname = cname


def build_answer(neg: Negotiation, local: LocalIce, publish: bool, stream: str,
                 session_id: int, version: str = "4.0.0(Leo)") -> str:
    """The answer text as SRS writes it (srs_app_rtc_sdp.cpp): ice-lite, BUNDLE, one m per track."""
    lines = ["v=0", f"o=SRS/{version} {session_id} 2 IN IP4 0.0.0.0",
             f"s={'SRSPublishSession' if publish else 'SRSPlaySession'}", "t=0 0", "a=ice-lite",
             "a=group:BUNDLE " + " ".join(t.mid for t in neg.tracks),
             f"a=msid-semantic: WMS {stream}"]
    rejected = {id(m) for m in neg.rejected}
    for m in neg.offer.media:
        if id(m) in rejected:
            lines += [f"m={m.kind} 0 {m.proto} {' '.join(str(f) for f in m.formats[:1]) or '0'}",
                      "c=IN IP4 0.0.0.0", f"a=mid:{m.mid}", "a=inactive"]
            continue
        t = next(t for t in neg.tracks if t.media is m)
        lines += _track_lines(t, local, publish, stream, neg.setup)
    return "\r\n".join(lines) + "\r\n"


def _track_lines(t: Track, local: LocalIce, publish: bool, stream: str, setup: str) -> list:
    name, clock, channels = t.codec
    lines = [f"m={t.kind} 9 UDP/TLS/RTP/SAVPF {t.pt}", "c=IN IP4 0.0.0.0",
             f"a=ice-ufrag:{local.ufrag}", f"a=ice-pwd:{local.pwd}",
             f"a=fingerprint:sha-256 {local.fingerprint}", f"a=setup:{setup}", f"a=mid:{t.mid}"]
    if t.twcc_id:
        lines.append(f"a=extmap:{t.twcc_id} {TWCC_URI}")
    lines += ["a=recvonly" if publish else "a=sendonly", "a=rtcp-mux", "a=rtcp-rsize",
              f"a=rtpmap:{t.pt} {name}/{clock}" + (f"/{channels}" if t.kind == "audio" else "")]
    lines += [f"a=rtcp-fb:{t.pt} {fb}" for fb in t.rtcp_fbs]
    if t.fmtp:
        lines.append(f"a=fmtp:{t.pt} {t.fmtp}")
    if not publish:
        ssrc = local.ssrcs.get(t.kind, 0)
        if ssrc:
            track_id = f"{t.kind}-{stream.replace('/', '-')}"
            lines += [f"a=msid:{stream} {track_id}", f"a=ssrc:{ssrc} cname:{local.cname}",
                      f"a=ssrc:{ssrc} msid:{stream} {track_id}"]
    for i, (ip, port) in enumerate(local.candidates):
        lines.append(f"a=candidate:{i} 1 udp {SRS_CANDIDATE_PRIORITY} {ip} {port} typ host generation 0")
    return lines
