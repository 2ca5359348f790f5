"""What a client asks for: tcUrl -> schema/host/vhost/app, plus the stream name and its params.

Parsing follows SRS 3.0 (``srs_discovery_tc_url`` / ``srs_vhost_resolve`` / ``SrsRequest::strip``):

- ``schema://host[:port]/app`` gives schema, host, port (default 1935) and app; vhost = host unless
  the app (or the stream name) carries a vhost parameter. Since FMLE-era clients cannot put a
  query in a URL, ``?``, ``&``, ``&&``, ``=``, ``,`` and ``...`` all separate, so
  ``live?vhost=v.com``, ``live...vhost...v.com`` and ``live&vhost=v.com`` all name vhost v.com.
- ``param`` keeps the original text from the first ``?`` (of the stream if it has one, else of
  the app); a param that is only ``?vhost=__defaultVhost__`` is dropped.
- A trailing ``/_definst_`` (Wowza/FMS default instance) is removed from the app.
- Names are stripped of spaces/CR/LF/TAB (host and vhost also of ``/``) and of leading and trailing
  ``/`` (app, stream).
- When the stream name is empty but the app has a ``/`` (``rtmp://ip/live/livestream`` with an
  empty stream, as OBS can send), the stream is taken from the app (SRS 4's guess, harmless here).
"""
from __future__ import annotations

import copy as _copy
from typing import Any

from srs.kernel.errors import ERROR_RTMP_REQ_CONNECT, ERROR_RTMP_REQ_TCURL, RequestError

DEFAULT_PORT = 1935
DEFAULT_VHOST = "__defaultVhost__"
DEFAULT_APP = "__defaultApp__"

_SEPARATORS = (",", "...", "&&", "&", "=")  # order matters: "&&" before "&"


def _remove_chars(s: str, chars: str) -> str:
    for c in chars:
        s = s.replace(c, "")
    return s


def parse_host_port(hostport: str, default_port: int = DEFAULT_PORT) -> tuple:
    """``host[:port]`` or ``[v6]:port`` -> (host, port). A bad port raises RequestError."""
    host, port_text = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end > 0:
            host = hostport[1:end]
            rest = hostport[end + 1:]
            if rest.startswith(":"):
                port_text = rest[1:]
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":", 1)
    # (several colons without brackets: a bare IPv6 address, no port)
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RequestError(f"invalid port {port_text!r} in {hostport!r}", ERROR_RTMP_REQ_TCURL)
        port = int(port_text)
    return host, port


def resolve_vhost(vhost: str, name: str, param: str) -> tuple:
    """SRS's ``srs_vhost_resolve`` on an app or stream name: -> (vhost, name, param)."""
    pos = name.find("?")
    if pos >= 0:
        param = name[pos:]
    for sep in _SEPARATORS:
        name = name.replace(sep, "?")
    if name.endswith("/_definst_"):
        name = name[:-len("/_definst_")]
    pos = name.find("?")
    if pos >= 0:
        query = name[pos + 1:]
        name = name[:pos]
        at = query.find("vhost?")
        if at >= 0 and query[at + 6:]:
            vhost = query[at + 6:]
    pos = vhost.find("?")
    if pos >= 0:  # the vhost value runs until the next separator
        vhost = vhost[:pos]
    return vhost, name, param


def guess_stream_by_app(app: str, param: str) -> tuple:
    """An empty stream name: take it from ``app/stream`` or ``?k=v/stream`` -> (app, param, stream)."""
    pos = app.find("/")
    if pos >= 0:
        stream = app[pos + 1:]
        app = app[:pos]
        q = stream.find("?")
        if q >= 0:
            param = stream[q:]
            stream = stream[:q]
        return app, param, stream
    pos = param.find("/")
    if pos >= 0:
        return app, param[:pos], param[pos + 1:]
    return app, param, ""


def strip_host(name: str) -> str:
    return _remove_chars(name, "/ \n\r\t")


def strip_name(name: str) -> str:
    return _remove_chars(name, " \n\r\t").strip("/")


def discover_tc_url(tc_url: str, stream: str = "") -> tuple:
    """-> (schema, host, vhost, app, stream, port, param), names already stripped."""
    url = tc_url
    schema = ""
    pos = url.find("://")
    if pos >= 0:
        schema, url = url[:pos], url[pos + 3:]
    pos = url.find("/")
    if pos >= 0:
        hostport, url = url[:pos], url[pos + 1:]
    else:
        hostport, url = url, ""
    host, port = parse_host_port(hostport)
    app = url or DEFAULT_APP
    param = ""
    vhost, app, param = resolve_vhost(host, app, param)
    vhost, stream, param = resolve_vhost(vhost, stream, param)
    if param == "?vhost=" + DEFAULT_VHOST:
        param = ""
    return (schema, strip_host(host), strip_host(vhost), strip_name(app), strip_name(stream), port,
            param)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _query_with_vhost(host: str, vhost: str | None, param: str) -> str:
    """Param text (``?...``) with ``vhost=`` added when the vhost is not what the host says."""
    query = param.lstrip("?&")
    if vhost and vhost != DEFAULT_VHOST and vhost != host and "vhost=" not in query:
        query = f"{query}&vhost={vhost}" if query else f"vhost={vhost}"
    return "?" + query if query else ""


def make_tc_url(host: str, port: int = DEFAULT_PORT, app: str = "", vhost: str | None = None,
                param: str = "", schema: str = "rtmp") -> str:
    """``rtmp://host[:port]/app[?vhost=...]``: the tcUrl a client sends in connect."""
    hostport = _bracket(host) if port == DEFAULT_PORT else f"{_bracket(host)}:{port}"
    return f"{schema}://{hostport}/{app}{_query_with_vhost(host, vhost, param)}"


def make_rtmp_url(host: str, port: int = DEFAULT_PORT, app: str = "", stream: str = "",
                  vhost: str | None = None, param: str = "") -> str:
    """``rtmp://host:port/app/stream?params`` with the vhost in the query when it differs from host."""
    return (f"rtmp://{_bracket(host)}:{port}/{app}/{stream}"
            f"{_query_with_vhost(host, vhost, param)}")


def parse_rtmp_url(url: str) -> tuple:
    """``rtmp://host/app/stream?k=v`` -> (tc_url, stream_with_params), split at the last ``/``.

    A ``?`` inside the app part (``rtmp://ip/live?vhost=v/stream``) stays in the tcUrl, as FMLE does.
    """
    pos = url.rfind("/")
    if pos < 0 or url[:pos].endswith("/"):  # no path after "scheme://host"
        return url, ""
    return url[:pos], url[pos + 1:]


def split_stream_url(url: str) -> tuple:
    """``vhost/app/stream`` (Request.stream_url) -> (vhost, app, stream); the app may itself
    contain ``/``, the stream is the last part."""
    vhost, _, rest = url.partition("/")
    app, _, stream = rest.rpartition("/")
    return vhost, app, stream


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


class Request:
    """One client's request; mutable while the session identifies it, then treated as read-only."""

    __slots__ = ("tc_url", "page_url", "swf_url", "object_encoding", "schema", "host", "vhost",
                 "app", "stream", "port", "param", "args", "ip", "duration")

    def __init__(self, tc_url: str = "", ip: str = ""):
        self.tc_url = tc_url
        self.page_url = ""
        self.swf_url = ""
        self.object_encoding = 0.0
        self.schema = ""
        self.host = ""
        self.vhost = ""
        self.app = ""
        self.stream = ""
        self.port = DEFAULT_PORT
        self.param = ""
        self.args: dict | None = None
        self.ip = ip
        self.duration = -1.0
        if tc_url:
            self.discover()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_connect(cls, command_object: Any, args: Any = None, ip: str = "") -> "Request":
        """From the connect command's object (and optional args object), as SrsRtmpServer::connect_app.

        Raises RequestError: ERROR_RTMP_REQ_CONNECT without a tcUrl, ERROR_RTMP_REQ_TCURL when the
        tcUrl lacks schema, host or app.
        """
        if not isinstance(command_object, dict):
            raise RequestError("connect: command object is not an object", ERROR_RTMP_REQ_CONNECT)
        tc_url = command_object.get("tcUrl")
        if not isinstance(tc_url, str) or not tc_url:
            raise RequestError("connect: invalid request, must specify the tcUrl",
                               ERROR_RTMP_REQ_CONNECT)
        req = cls(ip=ip)
        req.tc_url = tc_url
        req.page_url = _text(command_object.get("pageUrl"))
        req.swf_url = _text(command_object.get("swfUrl"))
        encoding = command_object.get("objectEncoding")
        if isinstance(encoding, (int, float)) and not isinstance(encoding, bool):
            req.object_encoding = float(encoding)
        req.args = args if isinstance(args, dict) else None
        req.discover()
        if not req.schema or not req.host or not req.vhost or not req.app:
            raise RequestError(f"connect: incomplete tcUrl {tc_url!r} (schema={req.schema!r}, "
                               f"vhost={req.vhost!r}, app={req.app!r})", ERROR_RTMP_REQ_TCURL)
        return req

    @classmethod
    def from_url(cls, url: str, ip: str = "") -> "Request":
        """For clients (edge, forward, tools): a full ``rtmp://host/app/stream?params`` URL."""
        tc_url, stream = parse_rtmp_url(url)
        req = cls(tc_url, ip=ip)
        req.set_stream(stream)
        return req

    # ------------------------------------------------------------------ parsing
    def discover(self) -> None:
        """(Re)parse tc_url alone: schema, host, vhost, app, port, param."""
        (self.schema, self.host, self.vhost, self.app, _stream, self.port,
         self.param) = discover_tc_url(self.tc_url)

    def set_stream(self, name: str) -> None:
        """Take the stream name of play/publish, which may carry ``?params`` (and a vhost).

        Everything is re-derived from tc_url + name, so calling it again (republish on the same
        connection) is safe; re-apply :meth:`update_vhost` afterwards, as SRS re-resolves the vhost.
        """
        (self.schema, self.host, self.vhost, self.app, self.stream, self.port,
         self.param) = discover_tc_url(self.tc_url, name or "")
        if not self.stream:
            app, param, stream = guess_stream_by_app(self.app, self.param)
            self.app, self.param, self.stream = strip_name(app), param, strip_name(stream)

    def update_vhost(self, name: str) -> None:
        """After config lookup: the configured vhost name (e.g. ``__defaultVhost__``)."""
        self.vhost = name

    def strip(self) -> None:
        self.host = strip_host(self.host)
        self.vhost = strip_host(self.vhost)
        self.app = strip_name(self.app)
        self.stream = strip_name(self.stream)

    def update_auth(self, other: "Request") -> None:
        """Take the auth-related fields of ``other`` (a new client of the same stream)."""
        self.page_url = other.page_url
        self.swf_url = other.swf_url
        self.tc_url = other.tc_url
        self.param = other.param
        self.args = _copy.deepcopy(other.args)

    def copy(self) -> "Request":
        dup = Request.__new__(Request)
        for name in Request.__slots__:
            setattr(dup, name, getattr(self, name))
        dup.args = _copy.deepcopy(self.args)
        return dup

    # ------------------------------------------------------------------ identity
    @property
    def stream_url(self) -> str:
        """``vhost/app/stream``: the source key (unique across vhosts)."""
        return f"{self.vhost}/{self.app}/{self.stream}"

    @property
    def url_without_vhost(self) -> str:
        """``/app/stream``: how the default vhost's streams are named (HTTP mounts, hooks)."""
        return f"/{self.app}/{self.stream}"

    @property
    def rtmp_url(self) -> str:
        """``tcUrl/stream`` without params, for logs and callbacks."""
        return f"{self.tc_url}/{self.stream}" if self.stream else self.tc_url

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in Request.__slots__)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return (f"Request(tc_url={self.tc_url!r}, vhost={self.vhost!r}, app={self.app!r}, "
                f"stream={self.stream!r}, param={self.param!r}, ip={self.ip!r})")
