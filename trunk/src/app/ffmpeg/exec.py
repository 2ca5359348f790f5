"""Exec (SRS 3's SrsNgExec): run programs for every published stream, killed on unpublish.

    vhost v { exec { enabled on; publish ./objs/ffmpeg/bin/ffmpeg -f flv -i [url] -c copy -y ./[stream].flv; } }

Each ``publish`` directive is one argv; its arguments get ``[vhost] [port] [app] [stream] [param]
[tcUrl] [swfUrl] [pageUrl] [url]`` replaced from the publisher's request (``[url]`` is the RTMP URL
of the stream on this server). Redirections written as separate arguments (``>file``, ``1>file``,
``2>file`` or ``> file``) send the child's stdout/stderr there; by default both go to
``ff_log_dir/exec-<vhost>-<app>-<stream>.log``. Redirections are taken out of the conf's argv
before the variables are replaced (a stream named ``>x`` is an argument, not a redirection), and a
redirection file stays inside its directory before the first ``[`` variable, as the log stays
inside ff_log_dir, and no argument gains a ``..`` component, a leading "/" or a NUL from the names
(file_root.confined_argument): a stream whose names would break these starts no program (one log line). A program that exits is restarted 3 s later while
the stream is published (SRS's process cycle); unpublish stops it (SIGTERM, then SIGKILL).
A program named ``ffmpeg`` whose path does not exist falls back like transcode's (ffmpeg.resolve_ffmpeg).
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Tuple

from srs.app.ffmpeg.process import FfmpegPorts, SupervisedProcess, ff_log_file, split_stream_url, substitute
from srs.app.ffmpeg.transcode import (HubFactory, ProcessOutput, publisher_request, rebuild_hub_outputs,
                                      reload_vhosts)
from srs.app.ports import Connections, SourceDirectory
from srs.app.server.file_root import PathOutsideRoot, confine, confined_argument, show_name, template_root
from srs.protocol.request import make_rtmp_url, make_tc_url

log = logging.getLogger(__name__)


def split_redirects(args: Sequence[str]) -> Tuple[List[str], str, str]:
    """(argv, stdout_file, stderr_file): shell-style redirections taken out of an exec argv."""
    argv: List[str] = []
    out = err = ""
    i = 0
    while i < len(args):
        a = args[i]
        target = None
        for prefix in ("2>", "1>", ">"):
            if a.startswith(prefix):
                target = prefix
                break
        if target is None:
            argv.append(a)
            i += 1
            continue
        path = a[len(target):]
        if not path and i + 1 < len(args):
            i += 1
            path = args[i]
        if target == "2>":
            err = path
        else:
            out = path
        i += 1
    return argv, out, err


class Exec(ProcessOutput):
    """Hub output: the vhost's exec programs for one stream while it is published."""

    def __init__(self, ports: FfmpegPorts, connections: Connections, vhost: str, app: str, stream: str,
                 commands: Sequence[Sequence[str]]):
        self.ports = ports
        self.connections = connections
        self.vhost = vhost
        self.app = app
        self.stream = stream
        self.commands = [tuple(c) for c in commands]
        self.procs: List[SupervisedProcess] = []

    def __repr__(self) -> str:
        return "Exec(%s/%s/%s, %d procs)" % (self.vhost, self.app, self.stream, len(self.procs))

    def variables(self, source) -> dict:
        own_port = self.ports.rtmp_port()
        own_tc_url = make_tc_url("127.0.0.1", own_port, self.app, self.vhost)
        req = publisher_request(self.connections, source)
        if req is None:  # not published by a connection we hold: our own listener stands for it
            port, host, param, tc_url, swf_url, page_url = own_port, "127.0.0.1", "", own_tc_url, "", ""
        else:
            port, host, param = req.port or own_port, req.host or "127.0.0.1", req.param or ""
            tc_url, swf_url, page_url = req.tc_url or own_tc_url, req.swf_url or "", req.page_url or ""
        return {"vhost": self.vhost, "port": port, "app": self.app, "stream": self.stream, "param": param,
                "tcUrl": tc_url, "swfUrl": swf_url, "pageUrl": page_url,
                "url": make_rtmp_url(host, port, self.app, self.stream, self.vhost, param)}

    def redirect_file(self, template: str, variables: dict) -> str:
        """A ``> file`` target with the variables replaced, kept inside the template's directory
        before its first ``[`` (PathOutsideRoot otherwise); "" stays "" (the log file)."""
        if not template:
            return ""
        root, rest = template_root(template)
        return confine(root, substitute(rest, **variables), self.ports.cwd)

    def on_publish(self, source) -> None:
        self.stop()
        variables = self.variables(source)
        try:
            log_file = ff_log_file(self.ports.config(), self.ports.cwd,
                                   "exec-%s-%s-%s" % (self.vhost, self.app, self.stream))
            commands = []
            for cmd in self.commands:
                argv, out, err = split_redirects(cmd)
                commands.append(([confined_argument(a, substitute(a, **variables)) for a in argv],
                                 self.redirect_file(out, variables),
                                 self.redirect_file(err, variables)))
        except PathOutsideRoot as e:
            # the programs' own arguments carry the same names: start none of them
            who = show_name("/".join((self.vhost, self.app, self.stream)))
            log.error("exec(%s): refused, no program started: %s", who, e)
            return
        for argv, out, err in commands:
            if not argv:
                continue
            if os.path.basename(argv[0]) == "ffmpeg":
                # the conf's ffmpeg path (SRS's objs/ffmpeg/bin/ffmpeg) falls back as transcode's does
                argv = self.ports.children.pick_ffmpeg(argv[0], self.ports.cwd) + argv[1:]
            tag = "exec(%s/%s/%s)" % (self.vhost, self.app, self.stream)
            self.procs.append(self.ports.start(argv, log_file, tag, stdout_file=out, stderr_file=err))


def make_hub_output(ports: FfmpegPorts, connections: Connections, source, vhost: str) -> Optional[Exec]:
    """The hub factory (the Server binds ``ports`` and ``connections``)."""
    vc = ports.config().vhost(vhost)
    if vc is None or not vc.enabled or not vc.exec.enabled or not vc.exec.publish:
        return None
    _, app, stream = split_stream_url(source.url)
    return Exec(ports, connections, vc.name, app, stream, vc.exec.publish)


def on_reload(factory: HubFactory, sources: SourceDirectory, old, new, changes) -> None:
    """A reload handler (the Server binds its registered hub ``factory`` and ``sources``)."""
    vhosts = reload_vhosts(changes, "exec")
    vhosts.discard("*")  # a new listen port does not concern running programs (they got [port] already)
    if vhosts:
        rebuild_hub_outputs(sources, vhosts, Exec, factory)
