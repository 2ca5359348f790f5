"""SRT stream ids as SRS 5 reads them (srs_app_srt_utility.cpp), without validating names: the caller
passes app and stream through srs.protocol.names like every client's.

- ``""``                                   -> ``#!::r=live/livestream,m=publish``
- ``#!::r=live/livestream,m=publish``      (keys r, h, m; any other k=v becomes a query parameter)
- ``#!::h=vhost,r=app/stream,m=request``   (h with one ``/`` is a legacy app/stream, with two or more
                                            its first segment is the vhost)
- ``live/livestream?m=publish``, ``livestream`` (plain path; no ``/`` -> the default app). SRS plays
  every plain id; we also honour ``m=publish|request`` in its query, as the issue asks.
"""
from __future__ import annotations

from .errors import SrtError

MODE_PUBLISH = "publish"
MODE_PLAY = "play"
_MODES = {"publish": MODE_PUBLISH, "request": MODE_PLAY}
_SEPARATORS = ("&", ";")


class StreamIdError(SrtError):
    """A stream id we cannot route (no path, unknown mode)."""


class StreamId:
    __slots__ = ("vhost", "app", "stream", "mode", "params")

    def __init__(self, vhost: str, app: str, stream: str, mode: str, params: str = ""):
        self.vhost = vhost
        self.app = app
        self.stream = stream
        self.mode = mode
        self.params = params  # query string without '?', e.g. "vhost=h&secret=x"

    def __eq__(self, other) -> bool:
        return isinstance(other, StreamId) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return (f"StreamId(vhost={self.vhost!r}, app={self.app!r}, stream={self.stream!r}, "
                f"mode={self.mode!r}, params={self.params!r})")


def _mode(value: str) -> str:
    mode = _MODES.get(value)
    if mode is None:
        raise StreamIdError(f"SRT stream id mode m={value!r}")
    return mode


def parse_streamid(sid: str, default_app: str = "live") -> StreamId:
    if not sid:
        sid = "#!::r=live/livestream,m=publish"
    vhost, mode, params = "", MODE_PLAY, []
    if not sid.startswith("#!::"):
        path = sid
        if "?" in path:
            path, query = path.split("?", 1)
            for kv in query.split("&"):
                k, _, v = kv.partition("=")
                if k == "m":
                    mode = _mode(v)
                elif kv:
                    params.append(kv)
    else:
        path = ""
        body = sid[4:].replace("?", ",")
        for sep in _SEPARATORS:
            body = body.replace(sep, ",")
        for kv in body.split(","):
            if not kv:
                continue
            k, eq, v = kv.partition("=")
            if k == "r":
                path = v
            elif k == "h":
                parts = v.split("/")
                if len(parts) == 2:
                    path = v
                elif len(parts) > 2:
                    vhost, path = parts[0], "/".join(parts[1:])
                else:
                    vhost = v
            elif k == "m":
                mode = _mode(v)
            elif eq:
                params.append(kv)
        if vhost:
            params.insert(0, f"vhost={vhost}")
    if not path:
        raise StreamIdError(f"SRT stream id {sid!r} names no stream")
    if "/" not in path:
        path = f"{default_app}/{path}"
    app, _, stream = path.rpartition("/")
    return StreamId(vhost, app, stream, mode, "&".join(params))
