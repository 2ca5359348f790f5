"""SRS's log format: client strings are escaped, every record is one line, none is lost."""
from __future__ import annotations

import logging
import sys

import pytest

from srs.app.server.logfile import ReopenableFileHandler
from srs.kernel import log as klog
from srs.kernel.log import SrsFormatter, escape

ESCAPES = [
    ("livestream", "livestream"),
    ("直播 поток", "直播 поток"),                   # printable non-ASCII text is kept
    ("\udcbe\udcff\udc80", "\\xbe\\xff\\x80"),    # invalid UTF-8 as surrogateescape decodes it
    ("a\x00b", "a\\x00b"),
    ("a\r\nb\tc", "a\\r\\nb\\tc"),
    ("a\x1b[31mred", "a\\x1b[31mred"),            # no terminal escapes in the log
    ("a\x7f\x85b", "a\\x7f\\x85b"),
    ("a\ud800b", "a\\ud800b"),                    # a lone surrogate that is not a raw byte
]


@pytest.mark.parametrize("raw, shown", ESCAPES)
def test_escape(raw, shown):
    assert escape(raw) == shown
    shown.encode("utf-8")


def record(msg, *args, level=klog.TRACE, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("srs.test", level, __file__, 1, msg, args, exc_info)


def test_formatter_escapes_client_strings_in_every_line():
    f = SrsFormatter()
    line = f.format(record("RTMP publish %s, tcUrl=%s", "live/\udcbe\udcff\x00", "rtmp://h/a\nFAKE [error] line"))
    assert line.endswith("RTMP publish live/\\xbe\\xff\\x00, tcUrl=rtmp://h/a\\nFAKE [error] line")
    assert "\n" not in line
    line.encode("utf-8")
    # the message text itself too, not only its arguments
    assert f.format(record("name \udcfe")).endswith("name \\xfe")


def test_formatter_keeps_a_line_whose_args_do_not_fit():
    line = SrsFormatter().format(record("two %s %s", "only-one"))
    assert "two %s %s" in line and "only-one" in line


def test_traceback_keeps_its_lines_but_escapes_what_is_in_them():
    try:
        raise ValueError("bad name \udcbe\x00")
    except ValueError:
        line = SrsFormatter().format(record("failed %s", "x\ny", level=klog.ERROR, exc_info=sys.exc_info()))
    head, _, tb = line.partition("\n")
    assert head.endswith("failed x\\ny")
    assert "Traceback (most recent call last):" in tb and "bad name \\xbe\\x00" in tb
    line.encode("utf-8")


def test_handler_writes_every_record_and_never_reports_a_logging_error(tmp_path, capsys):
    """A real handler on a UTF-8 file, as the server's: the invalid-UTF-8 stream name is in the file,
    escaped, and nothing goes to stderr (logging prints "--- Logging error ---" there)."""
    path = tmp_path / "srs.log"
    stream = open(path, "w", encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SrsFormatter())
    logger = logging.getLogger("srs.test.handler")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(klog.TRACE)
    try:
        for name in ("\udcbe\udcff\udc00", "a\x00b", "ok", "直播"):
            logger.warning("client refused: stream %s", name)
        logger.info("%d %d", 1)  # arguments that do not fit the format
    finally:
        logger.removeHandler(handler)
        stream.close()
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 5
    assert lines[0].endswith("client refused: stream \\xbe\\xff\\udc00")
    assert lines[1].endswith("client refused: stream a\\x00b")
    assert lines[3].endswith("client refused: stream 直播")
    assert "Logging error" not in capsys.readouterr().err


def test_log_file_takes_any_text_whatever_the_formatter(tmp_path, capsys):
    """The server's log file handler writes UTF-8 and escapes what it cannot encode, even behind a
    formatter that does not escape (a third-party one, or a future change)."""
    handler = ReopenableFileHandler(str(tmp_path / "srs.log"))
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("srs.test.logfile")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("stream %s", "直播\udcbe")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (tmp_path / "srs.log").read_text("utf-8") == "stream 直播\\udcbe\n"
    assert "Logging error" not in capsys.readouterr().err
