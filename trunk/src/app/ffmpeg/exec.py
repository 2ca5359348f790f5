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

from srs.app.ffmpeg.transcode import ProcessOutput, publisher_request, rebuild_hub_outputs, reload_vhosts
from srs.app.ffmpeg.process import SupervisedProcess, ff_log_file, split_stream_url, substitute
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

    def __init__(self, server, vhost: str, app: str, stream: str, commands: Sequence[Sequence[str]]):
        self.server = server
        self.vhost = vhost
        self.app = app
        self.stream = stream
        self.commands = [tuple(c) for c in commands]
        self.procs: List[SupervisedProcess] = []

    def __repr__(self) -> str:
        return "Exec(%s/%s/%s, %d procs)" % (self.vhost, self.app, self.stream, len(self.procs))

    def variables(self, source) -> dict:
        server = self.server
        req = publisher_request(server, source)
        port = getattr(req, "port", 0) or server.rtmp_port
        host = getattr(req, "host", "") or "127.0.0.1"
        param = getattr(req, "param", "") or ""
        tc_url = getattr(req, "tc_url", "") or make_tc_url("127.0.0.1", server.rtmp_port, self.app, self.vhost)
        return {"vhost": self.vhost, "port": port, "app": self.app, "stream": self.stream, "param": param,
                "tcUrl": tc_url, "swfUrl": getattr(req, "swf_url", "") or "",
                "pageUrl": getattr(req, "page_url", "") or "",
                "url": make_rtmp_url(host, port, self.app, self.stream, self.vhost, param)}

    def redirect_file(self, template: str, variables: dict) -> str:
        """A ``> file`` target with the variables replaced, kept inside the template's directory
        before its first ``[`` (PathOutsideRoot otherwise); "" stays "" (the log file)."""
        if not template:
            return ""
        root, rest = template_root(template)
        return confine(root, substitute(rest, **variables), self.server.cwd)

    def on_publish(self, source) -> None:
        self.stop()
        variables = self.variables(source)
        try:
            log_file = ff_log_file(self.server.config, self.server.cwd,
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
                argv = self.server.children.pick_ffmpeg(argv[0], self.server.cwd) + argv[1:]
            proc = SupervisedProcess(argv, log_file, children=self.server.children,
                                     tag="exec(%s/%s/%s)" % (self.vhost, self.app, self.stream), cwd=self.server.cwd, cid=self.server.next_cid(), stdout_file=out,
                                     stderr_file=err)
            proc.start()
            self.procs.append(proc)


def make_hub_output(server, source, vhost: str) -> Optional[Exec]:
    vc = server.config.vhost(vhost)
    if vc is None or not vc.enabled or not vc.exec.enabled or not vc.exec.publish:
        return None
    _, app, stream = split_stream_url(source.url)
    return Exec(server, vc.name, app, stream, vc.exec.publish)


def on_reload(server, old, new, changes) -> None:
    vhosts = reload_vhosts(changes, "exec")
    vhosts.discard("*")  # a new listen port does not concern running programs (they got [port] already)
    if vhosts:
        rebuild_hub_outputs(server, vhosts, Exec, make_hub_output)
