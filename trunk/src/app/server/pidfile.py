"""The pid file: locked for as long as we run, so a second instance refuses to start.

As SRS: the file is created if missing and locked with an fcntl write lock before the pid is
written; the pid is written in one write() to a truncated file. It is removed at exit only if it
still holds our pid.
"""
from __future__ import annotations

import errno
import fcntl
import os

from srs.kernel.errors import ERROR_SYSTEM_PID_ACQUIRE, ERROR_SYSTEM_PID_ALREADY_RUNNING, SrsError


class PidFile:
    def __init__(self, path: str):
        self.path = path
        self.fd = -1

    def acquire(self) -> None:
        d = os.path.dirname(self.path)
        if d:
            os.makedirs(d, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise SrsError(f"open pid file {self.path} failed: {e.strerror}", ERROR_SYSTEM_PID_ACQUIRE) from e
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            other = ""
            try:
                other = os.pread(fd, 32, 0).decode(errors="replace").strip()
            except OSError:
                pass
            os.close(fd)
            if e.errno in (errno.EACCES, errno.EAGAIN):
                raise SrsError(f"srs is already running (pid file {self.path} locked by pid {other or '?'})",
                               ERROR_SYSTEM_PID_ALREADY_RUNNING) from e
            raise SrsError(f"lock pid file {self.path} failed: {e.strerror}", ERROR_SYSTEM_PID_ACQUIRE) from e
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            with open(self.path) as f:
                ours = f.read().strip() == str(os.getpid())
            if ours:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1
