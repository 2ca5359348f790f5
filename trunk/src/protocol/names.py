"""The names a client chooses - vhost, app, stream, param - checked once, where they come in.

Every entry point (RTMP connect/publish/play, HTTP-FLV/TS/AAC/MP3 URLs, the FLV POST and RTSP
casters, and any protocol added later) decodes the names once by its own rules (RTMP: none; HTTP:
one %-decoding of the path) and passes them here before anything else uses them. The names later
become file paths (HLS, DVR, HDS, exec logs), URLs (forward, casters' RTMP output) and log lines, so
a name is refused unless it is plain text of the expected shape:

- valid UTF-8: no lone surrogates (AMF0 strings are decoded with ``surrogateescape``, HTTP paths
  below with it too, so invalid bytes show up as surrogates);
- no NUL, no control characters (C0, DEL and C1), no backslash;
- app and stream: one or more ``/``-separated segments, none empty, ``.`` or ``..``; no ``?`` or
  ``#`` (a name that would be read back as a URL query or fragment);
- vhost: a host name or address: letters, digits, ``. - _ :`` (``__defaultVhost__``, IPv6 without
  brackets), not ``.``, no empty label (``..``);
- the same rules hold after one more %-decoding of app and stream, so a layer that decodes again
  (an HTTP player of the HLS files, a URL built from the name) cannot be walked out either:
  ``..%2F..%2FX`` sent over RTMP is refused, ``a%20b`` is fine;
- lengths in UTF-8 bytes: each of vhost, app and stream at most 255 (a file name component on
  common file systems), the param at most 4096; an empty app or stream is refused too.

A refusal raises ``RequestError`` with ``ERROR_RTMP_STREAM_NAME_EMPTY`` (2051, SRS's code for an
empty stream name) or ``ERROR_RTMP_STREAM_NAME_INVALID`` (2057: SRS has no code for this check, so
the next free one after SRS 6's 2056). Its message names the part and shows the value escaped and
cut to 64 characters, so it can go to a log line or a client status as is.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from srs.kernel.errors import (ERROR_RTMP_STREAM_NAME_EMPTY, ERROR_RTMP_STREAM_NAME_INVALID,
                               RequestError)
from srs.kernel.log import escape

MAX_NAME_BYTES = 255
MAX_PARAM_BYTES = 4096

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_VHOST = re.compile(r"[A-Za-z0-9._:\-]+")
_SHOWN_CHARS = 64


def shown(value: str) -> str:
    """A client string as a log line or status description may show it: escaped and cut."""
    if len(value) > _SHOWN_CHARS:
        return escape(value[:_SHOWN_CHARS]) + f"...({len(value)} chars)"
    return escape(value)


def _refuse(part: str, value: str, why: str) -> RequestError:
    return RequestError(f"bad {part} name '{shown(value)}': {why}", ERROR_RTMP_STREAM_NAME_INVALID)


def _utf8_size(part: str, value: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _refuse(part, value, "not valid UTF-8") from None


def _check_text(part: str, value: str, limit: int) -> None:
    """What every client string must be: text, valid UTF-8, no controls or backslash, bounded."""
    if not isinstance(value, str):
        raise RequestError(f"bad {part} name: not a string", ERROR_RTMP_STREAM_NAME_INVALID)
    if _utf8_size(part, value) > limit:
        raise _refuse(part, value, f"longer than {limit} bytes")
    if _CONTROL.search(value):
        raise _refuse(part, value, "control character")
    if "\\" in value:
        raise _refuse(part, value, "backslash")


def _check_path_shape(part: str, value: str, shown_as: str) -> None:
    if "?" in value or "#" in value:
        raise _refuse(part, shown_as, "'?' or '#' in a name")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise _refuse(part, shown_as, f"path segment '{segment}'")


def check_path_name(part: str, value: str) -> str:
    """An app or a stream name (``part`` says which, for the message); returns it unchanged."""
    if not value:
        raise RequestError(f"empty {part} name", ERROR_RTMP_STREAM_NAME_EMPTY)
    _check_text(part, value, MAX_NAME_BYTES)
    _check_path_shape(part, value, value)
    if "%" in value:
        # One more decoding must not turn the name into something else we refuse.
        again = unquote(value, errors="surrogateescape")
        if again != value:
            try:
                _check_text(part, again, MAX_NAME_BYTES)
                _check_path_shape(part, again, value)
            except RequestError as e:
                raise _refuse(part, value, f"once %-decoded: {str(e).split(': ', 1)[-1]}") from None
    return value


def check_vhost(value: str) -> str:
    if not value:
        raise RequestError("empty vhost name", ERROR_RTMP_STREAM_NAME_EMPTY)
    _check_text("vhost", value, MAX_NAME_BYTES)
    if not _VHOST.fullmatch(value) or value == "." or ".." in value:  # ".." : an empty DNS label
        raise _refuse("vhost", value, "not a host name")
    return value


def check_param(value: str) -> str:
    """The ``?k=v`` text kept for hooks and ``[param]``: any printable text, bounded."""
    if value:
        _check_text("param", value, MAX_PARAM_BYTES)
    return value


def check_names(vhost: str, app: str, stream: str | None, param: str = "") -> None:
    """All of a request's client-chosen names; ``stream`` None when there is none yet (connect)."""
    check_vhost(vhost)
    check_path_name("app", app)
    if stream is not None:
        check_path_name("stream", stream)
    check_param(param)


def check_request(req, with_stream: bool = True) -> None:
    """``check_names`` on a ``Request`` (after ``set_stream`` when ``with_stream``)."""
    check_names(req.vhost, req.app, req.stream if with_stream else None, req.param)
