"""The ``srs`` program: ``./objs/srs -c conf/srs.conf`` as SRS's srs_main_server.

Only this layer monkey-patches, daemonises, sets up logging and installs signal handlers; the
handlers just queue work for the server's control greenlet.
"""
from __future__ import annotations

import gc
import logging
import os
import signal
import sys

import gevent
from gevent import monkey

from srs.core import version
from srs.kernel.errors import ConfigError, SrsError
from srs.kernel.log import SrsFormatter, level_from_name

USAGE = """Usage: srs [-h?vVgG] [-t] [-e] [-c filename]
Options:
   -?, -h              : show this help and exit 0
   -v, -V              : show version and exit 0
   -g, -G              : show server signature and exit 0
   -t                  : test configuration file, exit 0 if ok, else the error code
   -c filename         : use configuration file for SRS (SRS_CONFIG_FILE overrides it)
   -e                  : use only the environment: SRS_* variables, as SRS 5 (SRS_ENV_ONLY does the same);
                         without -e, the SRS_* variables that are set override the conf file
   -p rtmp-port -x http-port : quick start without a conf (daemon off, console log, http server on)
For example:
   srs -v
   srs -t -c conf/srs.conf
   srs -c conf/srs.conf
   SRS_LISTEN=1935 SRS_VHOST_HLS_ENABLED=on srs -e
"""


class Options:
    __slots__ = ("config", "test", "rtmp_port", "http_port", "env_only")

    def __init__(self):
        self.config = ""
        self.test = False
        self.env_only = False
        self.rtmp_port = 0
        self.http_port = 0


def parse_argv(argv: list) -> "Options | int":
    """Returns Options, or an exit code after printing help/version."""
    opts = Options()
    if not argv:
        sys.stdout.write(USAGE)
        return 0
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "-?", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if arg in ("-v", "-V", "--version"):
            sys.stderr.write(version.VERSION + "\n")
            return 0
        if arg in ("-g", "-G"):
            sys.stderr.write(version.SIGNATURE + "\n")
            return 0
        if arg == "-t":
            opts.test = True
        elif arg == "-e":
            opts.env_only = True
        elif arg.startswith("-c"):
            if len(arg) > 2:
                opts.config = arg[2:]
            elif i + 1 < len(argv):
                i += 1
                opts.config = argv[i]
            else:
                sys.stderr.write("srs: -c needs a filename\n" + USAGE)
                return 2
        elif arg in ("-p", "-x"):
            port = argv[i + 1] if i + 1 < len(argv) else ""
            # ASCII digits only (str.isdigit takes '²' and Arabic digits), and a port's range
            if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
                sys.stderr.write(f"srs: {arg} needs a port (1-65535), got {port!a}\n")
                return 2
            i += 1
            if arg == "-p":
                opts.rtmp_port = int(argv[i])
            else:
                opts.http_port = int(argv[i])
        else:
            sys.stderr.write(f"srs: invalid option {arg}\n" + USAGE)
            return 2
        i += 1
    opts.env_only = opts.env_only or "SRS_ENV_ONLY" in os.environ
    if not opts.env_only and os.environ.get("SRS_CONFIG_FILE"):
        opts.config = os.environ["SRS_CONFIG_FILE"]
    if opts.env_only:
        opts.config = ""  # SRS 5: -e reads no file
    elif not opts.config and not opts.rtmp_port:
        sys.stderr.write("srs: no config file, use -c filename\n" + USAGE)
        return 2
    return opts


def dolphin_conf(rtmp_port: int, http_port: int) -> str:
    """The conf for ``-p/-x`` quick start."""
    http = f"http_server {{ enabled on; listen {http_port}; }}\n" if http_port else ""
    remux = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }" if http_port else ""
    return (f"listen {rtmp_port};\ndaemon off;\nsrs_log_tank console;\n{http}"
            f"vhost __defaultVhost__ {{ {remux} }}\n")


def load_config(opts: Options):
    from srs.app.config.conf import Config  # lazy: app after monkey.patch_all(), see main()
    from srs.app.server.assets import conf_path

    if opts.env_only:
        return Config.from_env(os.environ)
    if opts.config:
        # not here (a wheel install run from elsewhere): the shipped conf/*.conf of that name
        opts.config = conf_path(opts.config)
        return Config.load(opts.config)  # the SRS_* variables of this process override the file
    return Config.parse_text(dolphin_conf(opts.rtmp_port, opts.http_port), file="<argv>")


def daemonize() -> None:
    """Double fork as SRS does; the parent exits 0 at once."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def setup_logging(config) -> "object":
    # SRS's line names no source file, thread or process: skip the stack walk and lookups the stdlib
    # does for every record (a join of thousands of players logs ~8 lines each)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    if config.srs_log_tank == "console":
        handler = logging.StreamHandler(sys.stderr)
    else:
        from srs.app.server.logfile import ReopenableFileHandler  # lazy: app after patch_all(), see main()
        handler = ReopenableFileHandler(config.srs_log_file)
    handler.setFormatter(SrsFormatter(utc=config.utc_time))
    root.addHandler(handler)
    root.setLevel(level_from_name(config.srs_log_level))
    return handler


# The cyclic collector, tuned for a server of thousands of connections. What a player holds (its socket,
# greenlet, consumer, buffers) is freed by reference counting when it leaves; the collector only finds
# cycles, yet by default it runs every 700 net allocations and, while the heap grows (players joining),
# a full collection each time it grew by a quarter. A full collection scans every tracked object: with
# 4000-10,000 players that stalls the event loop for tens of ms, the tail of their first-media times.
# Start-up's objects (modules, conf, listeners) are frozen out of every scan, and the young
# generations collected less often: garbage cycles still go, a little later.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: "list | None" = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_argv(argv)
    if isinstance(opts, int):
        return opts

    monkey.patch_all()

    try:
        config = load_config(opts)
    except ConfigError as e:
        sys.stderr.write(f"srs: config error: {e}\n")
        return e.code & 0xFF or 1
    except OSError as e:
        sys.stderr.write(f"srs: cannot read config {opts.config}: {e.strerror}\n")
        return 1
    if opts.test:
        for warning in config.warnings:  # accepted but ignored directives: never silently
            sys.stderr.write(f"srs: config warning: {warning}\n")
        sys.stderr.write(f"config file {opts.config or config.file} syntax is ok\nconfig file is ok\n")
        return 0

    if config.work_dir and config.work_dir not in ("./", "."):
        try:
            os.chdir(config.work_dir)
        except OSError as e:
            sys.stderr.write(f"srs: cannot change to work_dir {config.work_dir}: {e.strerror}\n")
            return 1
    if config.daemon and not opts.rtmp_port:
        daemonize()

    # lazy: the app layer only after monkey.patch_all() above, so that any socket, lock,
    # subprocess or ssl name its modules bind at import time is already gevent's. (gevent, logging
    # and kernel at the top are safe: importing gevent loads threading and logging anyway.)
    # Patching when this module is imported instead would patch any process importing it.
    from srs.app.server.pidfile import PidFile
    from srs.app.server.server import Server

    try:
        handler = setup_logging(config)
    except OSError as e:
        sys.stderr.write(f"srs: cannot open log file {config.srs_log_file}: {e.strerror}\n")
        return 1
    log = logging.getLogger("srs.main")
    for warning in config.warnings:  # accepted but ignored directives: never silently
        log.warning("config: %s", warning)
    pidfile = PidFile(config.pid)
    try:
        pidfile.acquire()
    except (SrsError, OSError) as e:  # OSError: a pid "file" that is a device (pid /dev/zero)
        log.error("%s", e)
        sys.stderr.write(f"srs: {e}\n")
        return 1

    server = Server(config, config_path=os.path.abspath(opts.config) if opts.config else "",
                    argv=[sys.argv[0]] + list(argv), log_handler=handler)
    # Handlers only queue work for the server's control greenlet.
    gevent.signal_handler(signal.SIGHUP, server.post, "reload")
    gevent.signal_handler(signal.SIGUSR1, server.post, "reopen")
    gevent.signal_handler(signal.SIGTERM, server.post, "quit" if not config.force_grace_quit else "grace")
    gevent.signal_handler(signal.SIGINT, server.post, "quit")
    gevent.signal_handler(signal.SIGQUIT, server.post, "grace")
    gevent.signal_handler(signal.SIGUSR2, server.post, "quit")
    code = 0
    try:
        server.start()
        tune_gc()
        server.wait()
    except SrsError as e:
        log.error("server failed: %s", e)
        code = 1
    except OSError as e:
        log.error("server failed: %s", e)
        code = 1
    finally:
        server.stop()
        pidfile.release()
        log.info("srs terminated, code=%d", code)
        logging.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
