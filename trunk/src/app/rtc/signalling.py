"""WebRTC signalling on the HTTP API port: WHIP/WHEP and SRS 4's JSON /rtc/v1/play/ and /publish/.

``RtcSignalling.install(api_app)`` adds the routes to the API's bottle app (so the API's auth,
CORS, body bound and method override apply). Each offer goes through the same admission as an RTMP
client: names validated (protocol/names.py), the vhost must exist and enable ``rtc`` (and
rtc_server must run), security rules and the on_play/on_publish hooks may refuse, one publisher
per stream. Then the offer is parsed and negotiated (protocol/rtc/sdp.py: strict, bounded), and the
UDP server makes the session (server.py) and its answer.

Answers: WHIP/WHEP 201 ``application/sdp`` with ``Location: /rtc/v1/whip/?action=delete&token=..
&app=..&stream=..&session=..`` (SRS 5), DELETE with that session and token ends the session (200,
also for an unknown session, as SRS). The JSON API answers ``{code: 0, server, service, pid, sdp,
sessionid}``. A refusal is an HTTP error with a one-line reason (WHIP/WHEP) or SRS's numeric code
in JSON: 400 bad offer or name, 403 forbidden (security, hook, rtc disabled for the vhost), 404
unknown vhost, 409 stream busy, 503 rtc_server disabled or max_connections reached.
"""
from __future__ import annotations

import json
import logging
import os
import re
import string
from typing import Callable, Optional
from urllib.parse import urlencode

import bottle

from srs.app.rtc.server import Refused, RtcServer
from srs.app.rtc.session import PLAY, PUBLISH
from srs.app.ports import ConfigSource, ConnectionHooks, LiveSources
from srs.kernel.errors import (ERROR_RTMP_VHOST_NOT_FOUND, ERROR_SYSTEM_SECURITY_DENY, ERROR_SYSTEM_STREAM_BUSY,
                               AccessDenied, RequestError, SrsError)
from srs.kernel.log import escape
from srs.protocol import names
from srs.protocol.request import Request, parse_rtmp_url
from srs.protocol.rtc.errors import SdpError
from srs.protocol.rtc.sdp import negotiate, parse_offer
from srs.protocol.security import check_security

log = logging.getLogger(__name__)

ERROR_RTC_API_BODY = 5011       # SRS: the JSON body is not an object with sdp and streamurl
ERROR_RTC_DISABLED = 5021       # SRS: rtc disabled for the vhost
ERROR_RTC_SERVER = 5000
ALPHANUM = string.ascii_letters + string.digits
CLIENT_UFRAG = re.compile(r"\A[A-Za-z0-9+/]{4,32}\Z")
CLIENT_PWD = re.compile(r"\A[A-Za-z0-9+/]{22,32}\Z")
TOKEN = re.compile(r"\A[A-Za-z0-9]{1,32}\Z")
MAX_SDP_BYTES = 64 * 1024


def random_text(n: int) -> str:
    raw = os.urandom(n)
    return "".join(ALPHANUM[b % len(ALPHANUM)] for b in raw)


class Denied(Exception):
    """The offer is refused: HTTP ``status`` with SRS's ``code`` and a reason."""

    def __init__(self, status: int, code: int, why: str):
        super().__init__(why)
        self.status = status
        self.code = code


class RtcSignalling:
    def __init__(self, server: RtcServer, config: ConfigSource, hooks: ConnectionHooks, sources: LiveSources,
                 identity: Callable[[], dict]):
        self.server = server
        self.config = config
        self.hooks = hooks
        self.sources = sources
        self.identity = identity

    def install(self, app: bottle.Bottle) -> None:
        for path, play in (("/rtc/v1/whip/", None), ("/rtc/v1/whep/", True), ("/rtc/v1/whip-play/", True)):
            app.route(path, method=["POST", "DELETE"], callback=lambda play=play: self.whip(play))
        app.route("/rtc/v1/play/", method="POST", callback=lambda: self.json_api(PLAY))
        app.route("/rtc/v1/publish/", method="POST", callback=lambda: self.json_api(PUBLISH))

    # ------------------------------------------------------------------ WHIP / WHEP
    def whip(self, play: Optional[bool]) -> str:
        r = bottle.request
        query = r.query
        if r.method == "DELETE":
            return self._delete(query.get("session", ""), query.get("token", ""))
        kind = PLAY if play or query.get("action", "") == "play" else PUBLISH
        try:
            app, stream = query.get("app", "") or "live", query.get("stream", "") or "livestream"
            param = ("?" + r.query_string) if r.query_string else ""
            session, answer = self._offer(kind, r.get_header("Host", ""), app, stream, param, self._body(),
                                          query.get("eip", "") or query.get("candidate", ""),
                                          query.get("ice-ufrag", ""), query.get("ice-pwd", ""))
        except Denied as e:
            bottle.response.status = e.status
            bottle.response.content_type = "text/plain"
            return f"{e}\n"
        req = session.req
        bottle.response.status = 201
        bottle.response.content_type = "application/sdp"
        # escaped: an ICE ufrag may hold "+" and "/" (RFC 8839 ice-char), and a "+" read back as a space
        # would leave the DELETE without its session
        bottle.response.set_header("Location", "/rtc/v1/whip/?" + urlencode(
            {"action": "delete", "token": session.token, "app": req.app, "stream": req.stream,
             "session": session.username}))
        return answer

    def _delete(self, username: str, token: str) -> str:
        if not token or not TOKEN.match(token):
            bottle.response.status = 400
            return "DELETE needs the token of the session\n"
        session = self.server.find(username) if username else None
        if session is not None:
            if session.token != token:
                bottle.response.status = 403
                return "wrong token\n"
            session.close("DELETE by the client")
        bottle.response.content_type = "text/plain"
        return ""

    # ------------------------------------------------------------------ SRS 4's JSON API
    def json_api(self, kind: str) -> str:
        bottle.response.content_type = "application/json"
        try:
            try:
                body = json.loads(self._body())
            except (ValueError, UnicodeDecodeError) as e:
                raise Denied(400, ERROR_RTC_API_BODY, f"body is not JSON: {e}") from None
            if not isinstance(body, dict) or not isinstance(body.get("sdp"), str) or not isinstance(
                    body.get("streamurl"), str):
                raise Denied(400, ERROR_RTC_API_BODY, "body needs sdp and streamurl strings")
            tc_url, stream = parse_rtmp_url(body["streamurl"][:4096])
            req = Request(tc_url)
            req.set_stream(stream)
            api = bottle.request.query
            session, answer = self._offer(kind, req.host, req.app, req.stream, req.param, body["sdp"],
                                          api.get("eip", "") or api.get("candidate", ""), "", "",
                                          vhost=req.vhost)
        except Denied as e:
            bottle.response.status = e.status
            return json.dumps({"code": e.code, **self.identity()})
        return json.dumps({"code": 0, **self.identity(), "sdp": answer, "sessionid": session.username})

    # ------------------------------------------------------------------ admission
    def _body(self) -> str:
        data = bottle.request.body.read(MAX_SDP_BYTES + 1)
        if len(data) > MAX_SDP_BYTES:
            raise Denied(400, SdpError.code, f"offer larger than {MAX_SDP_BYTES} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise Denied(400, SdpError.code, "offer is not UTF-8") from None

    def _offer(self, kind: str, host_header: str, app: str, stream: str, param: str, offer_text: str,
               eip: str, ufrag: str, pwd: str, vhost: str = "") -> tuple:
        ip = bottle.request.remote_addr or ""
        host = _host_of(host_header)
        try:
            req = Request(f"webrtc://{host or '127.0.0.1'}/{app}", ip=ip)
            req.set_stream(stream + param if param.startswith("?") else stream)
            if vhost:
                req.update_vhost(vhost)
            names.check_request(req)
        except RequestError as e:
            log.warning("RTC %s refused: %s", kind, e)
            raise Denied(400, e.code, str(e)) from None
        if ufrag and not CLIENT_UFRAG.match(ufrag) or pwd and not CLIENT_PWD.match(pwd):
            raise Denied(400, SdpError.code, "ice-ufrag must be 4-32 and ice-pwd 22-32 ICE characters")
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.enabled:
            raise Denied(404, ERROR_RTMP_VHOST_NOT_FOUND, f"vhost {names.shown(req.vhost)} not found")
        req.update_vhost(vc.name)
        if not self.server.enabled:
            raise Denied(503, ERROR_RTC_SERVER, "rtc_server is disabled")
        if not vc.rtc.enabled:
            raise Denied(403, ERROR_RTC_DISABLED, f"rtc disabled in vhost {vc.name}")
        src = self.sources.get(req.stream_url)
        if kind == PUBLISH and (src is not None and not src.can_publish or self.server.publishing(req.stream_url)):
            raise Denied(409, ERROR_SYSTEM_STREAM_BUSY, f"stream {req.stream_url} is busy")
        if kind == PLAY and not vc.rtc.rtmp_to_rtc and src is not None and src.publisher_cid is not None and (
                self.server.by_cid.get(src.publisher_cid) is None):
            raise Denied(403, ERROR_RTC_DISABLED, f"stream {req.stream_url} is not WebRTC and rtmp_to_rtc is off")
        try:
            negotiation = negotiate(parse_offer(offer_text), publish=kind == PUBLISH, nack=vc.rtc.nack,
                                    twcc=vc.rtc.twcc, dtls_role=vc.rtc.dtls_role)
        except SdpError as e:
            log.warning("RTC %s %s: offer refused (%d): %s", kind, req.stream_url, e.code, e)
            raise Denied(400, e.code, f"offer refused: {e}") from None
        hooks = vc.http_hooks if vc.http_hooks is not None and vc.http_hooks.enabled else None
        cid = self.server.ports.next_cid()   # the session's: hooks and logs name it from here on
        method = "play" if kind == PLAY else "publish"
        try:
            if vc.security is not None and vc.security.enabled:
                check_security(vc.security.rules, method, ip)
            if hooks is not None:
                url = hooks.on_play if kind == PLAY else hooks.on_publish
                if url:
                    call = self.hooks.on_play if kind == PLAY else self.hooks.on_publish
                    call(url, req, cid, ip)
        except AccessDenied as e:
            log.warning("RTC %s %s denied: %s", method, req.stream_url, e)
            raise Denied(403, ERROR_SYSTEM_SECURITY_DENY, f"{method} denied") from None
        src = self.sources.get(req.stream_url)   # again: a hook may have let a publisher in meanwhile
        if kind == PUBLISH and (src is not None and not src.can_publish or self.server.publishing(req.stream_url)):
            raise Denied(409, ERROR_SYSTEM_STREAM_BUSY, f"stream {req.stream_url} is busy")
        try:
            session, answer = self.server.create_session(
                cid, kind, req, negotiation, vc, host, eip, ufrag or random_text(8), pwd or random_text(32),
                random_text(9), int.from_bytes(os.urandom(6), "big"))
        except Refused as e:
            log.warning("RTC %s %s refused: %s", kind, req.stream_url, e)
            raise Denied(503, ERROR_RTC_SERVER, str(e)) from None
        except SrsError as e:
            raise Denied(400, e.code, str(e)) from None
        log.info("RTC %s %s, session %s cid=%d, ip=%s, candidates=%s", kind, req.stream_url, session.username,
                 session.cid, ip, escape(str(session.local.candidates)))
        return session, answer


def _host_of(host_header: str) -> str:
    """The host of a Host header (no port, no brackets), or "" when it is not a plain host."""
    h = host_header.strip()
    if h.startswith("["):
        h = h[1:].partition("]")[0]
    elif h.count(":") == 1:
        h = h.partition(":")[0]
    try:
        return names.check_vhost(h) if h else ""
    except RequestError:
        return ""

