"""SRS's log format over the stdlib ``logging`` module, with a connection id per greenlet.

    [2026-11-21 01:02:03.456][trace][12345][107] RTMP client ip=127.0.0.1

Modules log through ``logging.getLogger(__name__)``; the handler/formatter pair is installed by main.
The cid lives in a ContextVar: greenlets each get their own context (a spawned greenlet does not
inherit its parent's), so the app layer sets it at the top of every greenlet it spawns.
Levels are SRS's: verbose < info < trace < warn < error (info prints as ``debug`` as SRS does).
"""
from __future__ import annotations

import contextvars
import logging
import os

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
        msg = record.getMessage()
        if record.levelno >= WARN:
            err = getattr(record, "errno", 0) or 0
            head += f"[{err}]"
            if err:
                msg += f"({os.strerror(err)})"
        if record.exc_info and record.levelno >= WARN:
            msg += "\n" + self.formatException(record.exc_info)
        return f"{head} {msg}"


def verbose(logger: logging.Logger, msg: str, *args) -> None:
    if logger.isEnabledFor(VERBOSE):
        logger.log(VERBOSE, msg, *args)


def trace(logger: logging.Logger, msg: str, *args) -> None:
    logger.log(TRACE, msg, *args)
