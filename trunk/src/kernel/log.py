"""SRS's log format over the stdlib ``logging`` module, with a connection id per greenlet.

    [2026-11-21 01:02:03.456][trace][12345][107] RTMP client ip=127.0.0.1

Modules log through ``logging.getLogger(__name__)``; the handler/formatter pair is installed by main.
The cid lives in a ContextVar: greenlets each get their own context (a spawned greenlet does not
inherit its parent's), so the app layer sets it at the top of every greenlet it spawns.
Levels are SRS's: verbose < info < trace < warn < error (info prints as ``debug`` as SRS does).

Client strings reach log lines (stream names, tcUrls, URLs). A line must never be lost to them:
``SrsFormatter`` backslash-escapes, in every formatted line, the control characters (C0, DEL, C1)
and the surrogates that ``surrogateescape`` decoding leaves for invalid UTF-8 (``\\xbe`` for the
byte 0xbe), so the handler always writes valid UTF-8 text, one record per line. A message whose
``%`` arguments do not fit its format is written as its repr instead of raising a "Logging error".
"""
from __future__ import annotations

import contextvars
import logging
import os
import re

from srs.core.timeutil import format_log_time

VERBOSE = 5
INFO = logging.DEBUG      # SRS "info", printed as "debug"
TRACE = logging.INFO      # SRS "trace", the default level
WARN = logging.WARNING
ERROR = logging.ERROR

LEVEL_BY_NAME = {"verbose": VERBOSE, "info": INFO, "trace": TRACE, "warn": WARN, "error": ERROR}
_TAGS = {VERBOSE: "verb", INFO: "debug", TRACE: "trace", WARN: "warn", ERROR: "error", logging.CRITICAL: "error"}

logging.addLevelName(VERBOSE, "VERBOSE")

# The current connection/context id; 0 means "the server itself".
cid_var: contextvars.ContextVar[int] = contextvars.ContextVar("srs_cid", default=0)


def get_cid() -> int:
    return cid_var.get()


def set_cid(cid: int) -> None:
    cid_var.set(cid)


# C0 controls, DEL, C1 controls and lone surrogates (what invalid UTF-8 becomes under surrogateescape)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_KEEP_NL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape_char(m: "re.Match") -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # surrogateescape's stand-in for the raw byte c - 0xDC00
        return f"\\x{c - 0xDC00:02x}"
    if c > 0xFF:
        return f"\\u{c:04x}"
    return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(c) or f"\\x{c:02x}"


def escape(text: str) -> str:
    """``text`` with control characters and lone surrogates backslash-escaped: printable, one line,
    encodable as UTF-8. Printable non-ASCII text (a Chinese stream name) is kept as is."""
    return _UNSAFE.sub(_escape_char, text)


def _escape_keep_newlines(text: str) -> str:
    return _UNSAFE_KEEP_NL.sub(_escape_char, text)


def level_from_name(name: str) -> int:
    """Map srs_log_level to a logging level; unknown names fall back to trace like SRS."""
    return LEVEL_BY_NAME.get((name or "trace").strip().lower(), TRACE)


class SrsFormatter(logging.Formatter):
    """Formats records as SRS does; warn/error lines carry errno and strerror when known."""

    def __init__(self, utc: bool = False):
        super().__init__()
        self.utc = utc
        self.pid = os.getpid()

    def format(self, record: logging.LogRecord) -> str:
        cid = getattr(record, "cid", None)
        if cid is None:
            cid = cid_var.get()
        tag = _TAGS.get(record.levelno, "trace")
        head = f"[{format_log_time(record.created, self.utc)}][{tag}][{self.pid}][{cid}]"
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format/args pair must not lose the line
            msg = f"{record.msg!r} % {record.args!r}"
        msg = escape(msg)
        if record.levelno >= WARN:
            err = getattr(record, "errno", 0) or 0
            head += f"[{err}]"
            if err:
                msg += f"({os.strerror(err)})"
        if record.exc_info and record.levelno >= WARN:
            msg += "\n" + _escape_keep_newlines(self.formatException(record.exc_info))
        return f"{head} {msg}"


def verbose(logger: logging.Logger, msg: str, *args) -> None:
    if logger.isEnabledFor(VERBOSE):
        logger.log(VERBOSE, msg, *args)


def trace(logger: logging.Logger, msg: str, *args) -> None:
    logger.log(TRACE, msg, *args)
