"""ffmpeg for transcode and ingest: SRS's command lines (SrsFFMPEG) and a supervised child process.

    argv = transcode_argv("/usr/bin/ffmpeg", engine, "rtmp://127.0.0.1:1935/live?vhost=v/s", out, log_level="info")
    proc = ports.start(argv, log_file, tag="encoder")   # FfmpegPorts: restarted RESTART_S after each exit
    proc.stop()    # SIGTERM to its process group now, SIGKILL if still alive after KILL_AFTER_S
    ports.children.stop_all()   # server stop: every child of this server, stopping ones included

The argv is built exactly as SRS 3.0 does: ``ffmpeg [-loglevel L] [-re] [perfile] [-f iformat] -i input
[vfilter] -vcodec X|-vn [-b:v bps -r fps -s WxH -aspect W:H -threads n -profile:v p -preset p vparams]
-acodec Y|-an [-b:a bps -ar hz -ac n aparams] [-f oformat] -y output``; copy/vn/an skip the options
of that track. ``resolve_ffmpeg`` picks the binary: the conf's path, else configure's FFMPEG
(trunk/Makefile.vars), else ``ffmpeg`` on PATH, else objs/ffmpeg (the PyAV stand-in).

Children run in their own session (so a stop reaches a whole shell pipeline), with the parent-death
signal set to SIGTERM on Linux (a crashed server leaves no orphans), and are always waited for
(gevent's child watcher reaps them: no zombies). The server owns a ``ChildRegistry`` of them and hands
it to what spawns children (transcode, ingest, exec).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Set, Tuple

import gevent
from gevent import subprocess

from srs.app.ports import CidSource, ConfigSource, PortSource
from srs.app.server.file_root import confine
from srs.kernel.errors import ERROR_ENCODER_ACODEC, ERROR_ENCODER_OUTPUT, ERROR_ENCODER_VCODEC, ConfigError
from srs.kernel.log import cid_var

log = logging.getLogger(__name__)

COPY, NO_VIDEO, NO_AUDIO = "copy", "vn", "an"
VCODECS = ("libx264",)
ACODECS = ("aac", "libfdk_aac", "libaacplus", "libmp3lame")
NULL_FILE = "/dev/null"
RESTART_S = 3.0      # SRS restarts a dead ffmpeg on its next 3 s cycle
KILL_AFTER_S = 3.0   # SIGTERM, then SIGKILL after this long

TRUNK = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
STANDIN_MODULE = "srs.main.ffmpeg_standin"


# ---------------------------------------------------------------------- the command line
def param_args(pairs: Iterable[Tuple[str, str]]) -> List[str]:
    """A vfilter/vparams/aparams/perfile block as ffmpeg options: ``name value;`` -> -name value."""
    args: List[str] = []
    for name, value in pairs:
        args.append("-" + name)
        if value:
            args.append(value)
    return args


def split_stream_url(url: str) -> Tuple[str, str, str]:
    """A source url ``vhost/app/stream`` -> (vhost, app, stream); the app may be nested."""
    vhost, _, rest = url.partition("/")
    app, _, stream = rest.rpartition("/")
    return vhost, app, stream


def substitute(template: str, **variables: object) -> str:
    """Replace ``[name]`` by each variable's value (vhost, port, app, stream, param, engine, ...)."""
    for name, value in variables.items():
        template = template.replace("[%s]" % name, str(value))
    return template


def _check_engine(engine) -> None:
    """SrsFFMPEG::initialize_transcode's checks (the schema already refuses unknown names)."""
    vcodec, acodec = engine.vcodec, engine.acodec
    if vcodec == NO_VIDEO and acodec == NO_AUDIO:
        raise ConfigError("engine %s: vcodec vn and acodec an leave nothing" % engine.name, code=ERROR_ENCODER_VCODEC)
    if vcodec not in (COPY, NO_VIDEO):
        if vcodec not in VCODECS:
            raise ConfigError("engine %s: invalid vcodec %r, must be libx264/copy/vn" % (engine.name, vcodec),
                              code=ERROR_ENCODER_VCODEC)
        if not engine.vprofile or not engine.vpreset:
            raise ConfigError("engine %s: libx264 needs vprofile and vpreset" % engine.name,
                              code=ERROR_ENCODER_VCODEC)
        if min(engine.vbitrate, engine.vfps, engine.vwidth, engine.vheight, engine.vthreads) < 0:
            raise ConfigError("engine %s: negative video parameter" % engine.name, code=ERROR_ENCODER_VCODEC)
    if acodec not in (COPY, NO_AUDIO):
        if acodec not in ACODECS:
            raise ConfigError("engine %s: invalid acodec %r" % (engine.name, acodec), code=ERROR_ENCODER_ACODEC)
        if min(engine.abitrate, engine.asample_rate) < 0 or engine.achannels not in (0, 1, 2):
            raise ConfigError("engine %s: invalid audio parameter" % engine.name, code=ERROR_ENCODER_ACODEC)


def _input_args(ffmpeg: Sequence[str], iparams: Sequence[str], perfile: Sequence[str], iformat: str,
                input_url: str) -> List[str]:
    args = list(ffmpeg) + list(iparams) + list(perfile)
    # SRS drops the input format for a non-RTMP input (e.g. -f flv before -i udp://..., srs#290)
    if iformat and iformat != "off" and input_url.startswith("rtmp://"):
        args += ["-f", iformat]
    return args + ["-i", input_url]


def _output_args(oformat: str, output_url: str) -> List[str]:
    if not output_url:
        raise ConfigError("empty ffmpeg output", code=ERROR_ENCODER_OUTPUT)
    args = ["-f", oformat] if oformat and oformat != "off" else []
    return args + ["-y", output_url]


def transcode_argv(ffmpeg: Sequence[str], engine, input_url: str, output_url: str,
                   iparams: Sequence[str] = ()) -> List[str]:
    """The argv of an enabled engine; raises ConfigError (ERROR_ENCODER_*) for a bad engine."""
    _check_engine(engine)
    vcodec, acodec = engine.vcodec, engine.acodec
    args = _input_args(ffmpeg, iparams, param_args(engine.perfile), engine.iformat, input_url)
    args += param_args(engine.vfilter)
    args += ["-vn"] if vcodec == NO_VIDEO else ["-vcodec", vcodec]
    if vcodec not in (COPY, NO_VIDEO):
        # SRS keeps the size even (x264 needs it)
        width, height = engine.vwidth - engine.vwidth % 2, engine.vheight - engine.vheight % 2
        if engine.vbitrate > 0:
            args += ["-b:v", str(engine.vbitrate * 1000)]
        if engine.vfps > 0:
            args += ["-r", "%.2f" % engine.vfps]
        if width > 0 and height > 0:
            args += ["-s", "%dx%d" % (width, height), "-aspect", "%d:%d" % (width, height)]
        if engine.vthreads > 0:
            args += ["-threads", str(engine.vthreads)]
        args += ["-profile:v", engine.vprofile, "-preset", engine.vpreset]
        args += param_args(engine.vparams)
    args += ["-an"] if acodec == NO_AUDIO else ["-acodec", acodec]
    aparams = param_args(engine.aparams)
    if acodec == COPY:
        # only the ADTS->ASC bitstream filter makes sense for a copied track (SRS keeps just that)
        for i in range(len(aparams) - 1):
            if aparams[i] == "-bsf:a" and aparams[i + 1] == "aac_adtstoasc":
                args += aparams[i:i + 2]
    elif acodec != NO_AUDIO:
        if engine.abitrate > 0:
            args += ["-b:a", str(engine.abitrate * 1000)]
        if engine.asample_rate > 0:
            args += ["-ar", str(engine.asample_rate)]
        if engine.achannels > 0:
            args += ["-ac", str(engine.achannels)]
        args += aparams
    return args + _output_args(engine.oformat, output_url)


def copy_argv(ffmpeg: Sequence[str], input_url: str, output_url: str, iparams: Sequence[str] = (),
              oformat: str = "flv") -> List[str]:
    """SrsFFMPEG::initialize_copy: the disabled engine of an ingest (no input format is forced)."""
    args = _input_args(ffmpeg, iparams, (), "", input_url)
    return args + ["-vcodec", COPY, "-acodec", COPY] + _output_args(oformat, output_url)


def engine_is_copy(engine) -> bool:
    """For ingest, a disabled engine (or one without codecs) copies, as SRS."""
    return engine is None or not engine.enabled or not engine.vcodec or not engine.acodec


# ---------------------------------------------------------------------- which ffmpeg
def _configured_ffmpeg(trunk: str) -> str:
    """FFMPEG recorded by ./configure in trunk/Makefile.vars, or ""."""
    try:
        with open(os.path.join(trunk, "Makefile.vars")) as f:
            for line in f:
                m = re.match(r"\s*FFMPEG\s*=\s*(.*?)\s*$", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return ""


def _executable(path: str) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def resolve_ffmpeg(conf_path: str, cwd: str, trunk: str = TRUNK) -> Tuple[List[str], str]:
    """(argv prefix, why): the conf's ffmpeg if it exists, else configure's FFMPEG, else ``ffmpeg``
    on PATH, else objs/ffmpeg, else the stand-in module run by this interpreter."""
    if conf_path:
        path = conf_path if os.path.isabs(conf_path) else os.path.join(cwd, conf_path)
        if _executable(path):
            return [conf_path], "conf"
    configured = _configured_ffmpeg(trunk)
    if _executable(configured):
        return [configured], "configure FFMPEG"
    found = shutil.which("ffmpeg")
    if found:
        return [found], "PATH"
    standin = os.path.join(trunk, "objs", "ffmpeg")
    if _executable(standin):
        return [standin], "stand-in objs/ffmpeg"
    return [sys.executable, "-m", STANDIN_MODULE], "stand-in module"


def ff_log_file(config, cwd: str, name: str) -> str:
    """ff_log_dir/<name>.log, or "" when ff_log_dir is /dev/null (logging disabled).

    ``name`` carries the stream's app and stream: raises PathOutsideRoot when the file would leave
    ff_log_dir (the caller then starts nothing: the command lines carry the same names)."""
    folder = config.ff_log_dir or "./objs"
    if folder == NULL_FILE:
        return ""
    if not os.path.isabs(folder):
        folder = os.path.normpath(os.path.join(cwd, folder))
    return confine(folder, name + ".log")


# ---------------------------------------------------------------------- the supervised child
def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()  # loaded once: the child cannot load it between fork and exec


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the server's death terminates us


class ChildRegistry:
    """The child processes of one server (transcode, ingest, exec): every supervised process not yet
    stopped and every child not yet reaped, stopping ones included, so that the server's stop ends
    them all. Owned by the server and handed to what spawns children."""

    def __init__(self):
        self.supervised: Set["SupervisedProcess"] = set()
        self.children: Set[subprocess.Popen] = set()
        self._ffmpeg_logged: Set[tuple] = set()

    def pick_ffmpeg(self, conf_path: str, cwd: str) -> List[str]:
        """resolve_ffmpeg, logging the choice once per conf path."""
        argv, why = resolve_ffmpeg(conf_path, cwd)
        key = (conf_path, tuple(argv))
        if key not in self._ffmpeg_logged:
            self._ffmpeg_logged.add(key)
            if why == "conf":
                log.info("ffmpeg: use %s (from the conf)", argv[0])
            else:
                log.warning("ffmpeg: %r not found, use %s (%s)", conf_path, " ".join(argv), why)
        return argv

    def reap(self, proc, tag: str, timeout_s: float) -> None:
        """Wait for a child sent SIGTERM; SIGKILL it after ``timeout_s``."""
        try:
            code = proc.wait(timeout=timeout_s)
            log.info("%s: pid=%d stopped, code=%s", tag, proc.pid, code)
        except subprocess.TimeoutExpired:
            log.warning("%s: pid=%d ignored SIGTERM for %.0fs, SIGKILL", tag, proc.pid, timeout_s)
            _signal(proc, signal.SIGKILL)
            proc.wait()
        self.children.discard(proc)

    def stop_all(self, timeout_s: float = KILL_AFTER_S) -> int:
        """Server shutdown: stop every supervised child and wait until all children, those already
        stopping included, are reaped (SIGKILL after the timeout). Returns how many were alive."""
        for p in list(self.supervised):
            p.stop()
        procs = [p for p in list(self.children) if p.returncode is None]
        deadline = time.monotonic() + max(timeout_s, 0.1)
        for proc in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                log.warning("pid=%d still alive at shutdown, SIGKILL", proc.pid)
                _signal(proc, signal.SIGKILL)
                proc.wait()
            self.children.discard(proc)
        return len(procs)


@dataclass(frozen=True)
class FfmpegPorts:
    """What the Server hands everything that runs child processes (transcode, exec, ingest): the
    config source, its cwd (relative paths in the conf), the child registry (its stop ends them
    all), cids for the children's log lines, and the RTMP port they play or publish through."""

    config: ConfigSource
    cwd: str
    children: ChildRegistry
    next_cid: CidSource
    rtmp_port: PortSource

    def start(self, argv: Sequence[str], log_file: str, tag: str, stdout_file: str = "",
              stderr_file: str = "") -> "SupervisedProcess":
        """A supervised child of this server, started (restarted after each exit until stopped)."""
        proc = SupervisedProcess(argv, log_file, children=self.children, tag=tag, cwd=self.cwd,
                                 cid=self.next_cid(), stdout_file=stdout_file, stderr_file=stderr_file)
        proc.start()
        return proc


class SupervisedProcess:
    """One child command, restarted ``restart_s`` after it exits until ``stop()``.

    stdout and stderr go to ``log_file`` (appended; "" = /dev/null) or to the ``stdout_file`` /
    ``stderr_file`` given (exec's ``> file`` redirections)."""

    def __init__(self, argv: Sequence[str], log_file: str = "", *, children: ChildRegistry, tag: str = "ffmpeg",
                 cwd: Optional[str] = None, cid: int = 0, restart_s: float = RESTART_S, stdout_file: str = "",
                 stderr_file: str = ""):
        self.argv = list(argv)
        self.registry = children
        self.log_file = log_file
        self.stdout_file = stdout_file or log_file
        self.stderr_file = stderr_file or log_file
        self.tag = tag
        self.cwd = cwd
        self.cid = cid
        self.restart_s = restart_s
        self.proc = None
        self.greenlet = None
        self.starts = 0
        self.exits: List[int] = []
        self.stopped = False

    @property
    def pid(self) -> Optional[int]:
        proc = self.proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        self.stopped = False
        self.registry.supervised.add(self)
        self.greenlet = gevent.spawn(self._run)

    def _open(self, path: str, opened: dict):
        if not path:
            return subprocess.DEVNULL
        if path in opened:
            return opened[path]
        full = path if os.path.isabs(path) or self.cwd is None else os.path.join(self.cwd, path)
        try:
            os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
            f = open(full, "ab")
        except OSError as e:
            log.warning("%s: cannot open log %s (%s), output discarded", self.tag, full, e)
            return subprocess.DEVNULL
        opened[path] = f
        return f

    def _spawn(self):
        opened: dict = {}
        try:
            out = self._open(self.stdout_file, opened)
            err = self._open(self.stderr_file, opened)
            return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.cwd,
                                    start_new_session=True, preexec_fn=_set_pdeathsig, close_fds=True)
        finally:
            for f in opened.values():
                f.close()  # the child holds its own descriptors

    def _run(self) -> None:
        cid_var.set(self.cid)
        while not self.stopped:
            try:
                proc = self._spawn()
            except OSError as e:
                log.error("%s: cannot start %s: %s, retry in %.0fs", self.tag, self.argv[0], e, self.restart_s)
                gevent.sleep(self.restart_s)
                continue
            self.proc = proc
            self.registry.children.add(proc)
            self.starts += 1
            log.info("%s: started pid=%d (start #%d), log=%s: %s", self.tag, proc.pid, self.starts,
                     self.log_file or NULL_FILE, " ".join(self.argv))
            code = proc.wait()
            self.registry.children.discard(proc)
            self.exits.append(code)
            if self.stopped:
                break
            delay = self.restart_delay()
            log.warning("%s: pid=%d exited with code %s, restart in %.0fs (see %s)", self.tag, proc.pid, code,
                        delay, self.log_file or "the ffmpeg log, disabled by ff_log_dir /dev/null")
            gevent.sleep(delay)

    def restart_delay(self) -> float:
        """Seconds before the next start after an exit: SRS's fixed cycle (a subclass may back off)."""
        return self.restart_s

    def stop(self) -> None:
        """Non-blocking: SIGTERM now; a helper greenlet sends SIGKILL after KILL_AFTER_S and reaps."""
        if self.stopped:
            return
        self.stopped = True
        self.registry.supervised.discard(self)
        g, self.greenlet = self.greenlet, None
        if g is not None and g is not gevent.getcurrent():
            g.kill(block=False)
        proc = self.proc
        if proc is not None and proc.returncode is None:
            _signal(proc, signal.SIGTERM)
            gevent.spawn(self.registry.reap, proc, self.tag, KILL_AFTER_S)
            log.info("%s: stop pid=%d", self.tag, proc.pid)

    def wait_stopped(self, timeout_s: float = KILL_AFTER_S + 1) -> bool:
        """After stop(): wait until the child is gone (True) or the timeout passes."""
        proc = self.proc
        if proc is None:
            return True
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True


def _signal(proc, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the whole session: shell wrappers and their children
    except OSError:
        try:
            proc.send_signal(sig)
        except OSError:
            pass

