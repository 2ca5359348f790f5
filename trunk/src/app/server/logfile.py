"""A log file handler that SIGUSR1 (logrotate) can reopen, and a log-level switch for reload."""
from __future__ import annotations

import logging
import os


class ReopenableFileHandler(logging.StreamHandler):
    """The file is UTF-8 whatever the locale says, and a character it cannot take is written
    backslash-escaped instead of failing the whole line (SrsFormatter escapes client text already;
    this covers a handler used with another formatter)."""

    def __init__(self, path: str):
        self.path = path
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        super().__init__(open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace"))

    def reopen(self, path: "str | None" = None) -> None:
        """Close and open again (after logrotate moved the file, or a reload changed srs_log_file)."""
        self.acquire()
        try:
            if path:
                self.path = path
            old = self.stream
            self.stream = open(self.path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
            try:
                old.close()
            except OSError:
                pass
        finally:
            self.release()
