"""The config system: ``Config.load(path)`` parses, checks and returns the typed read-only view.

    config = Config.load("conf/srs.conf")          # raises ConfigError (file:line in the message)
    config.listen                                    # (("0.0.0.0", 1935),)
    vhost = config.vhost("a.com")                    # exact name, else __defaultVhost__, else None
    vhost.hls.hls_fragment, vhost.mw_latency         # seconds / ms, SRS defaults applied
    changes = diff(old, new)                         # reload events; changes.warnings for ignored ones

Pieces: config_parser (syntax, include), config_schema (2.0->3.0 transform, whitelist, value checks),
config_view (typed values), config_reload (diff). Nothing else in the server parses config strings.
"""
from __future__ import annotations

from typing import Optional, Tuple

from srs.app.config.parser import Directive, Parser
from srs.app.config.reload import Change, Changes, diff
from srs.app.config.schema import check, parse_endpoint, transform
from srs.app.config.view import (DEFAULT_VHOST, HOOK_EVENTS, BandcheckConfig, DashConfig, DvrConfig, EngineConfig,
                                 ExecConfig, HdsConfig, HeartbeatConfig, HlsConfig, HttpApiConfig, HttpHooksConfig,
                                 HttpRemuxConfig, HttpServerConfig, HttpStaticConfig, IngestConfig, RawApiConfig,
                                 ReferConfig, SecurityConfig, StatsConfig, StreamCasterConfig, TranscodeConfig,
                                 VhostConfig, View, _flag, _int, _str)
from srs.core.performance import CHUNK_SIZE
from srs.kernel.errors import ConfigError

__all__ = ["Config", "ConfigError", "Directive", "Change", "Changes", "diff", "DEFAULT_VHOST", "HOOK_EVENTS",
           "VhostConfig", "HttpApiConfig", "RawApiConfig", "HttpServerConfig", "HeartbeatConfig", "StatsConfig",
           "StreamCasterConfig", "ReferConfig", "SecurityConfig", "HlsConfig", "HdsConfig", "DvrConfig",
           "HttpHooksConfig", "ExecConfig", "DashConfig", "HttpStaticConfig", "HttpRemuxConfig", "BandcheckConfig",
           "TranscodeConfig", "IngestConfig", "EngineConfig"]


class Config(View):
    """A parsed and checked config file. Immutable: a reload builds a new Config and diffs the two."""

    __slots__ = ("file", "root", "warnings",
                 "listen", "pid", "chunk_size", "ff_log_dir", "ff_log_level", "srs_log_tank", "srs_log_level",
                 "srs_log_file", "max_connections", "daemon", "work_dir", "asprocess", "utc_time", "pithy_print_ms",
                 "empty_ip_ok", "grace_start_wait", "grace_final_wait", "force_grace_quit",
                 "disable_daemon_for_docker", "inotify_auto_reload", "auto_reload_for_docker", "reuseport",
                 "http_api", "http_server", "heartbeat", "stats", "stream_casters", "vhosts")

    @classmethod
    def load(cls, path: str) -> "Config":
        """Parse ``path`` (following includes), check it and build the view; raises ConfigError."""
        return cls.from_tree(Parser().parse_file(path))

    @classmethod
    def parse_text(cls, text: str, file: str = "<text>") -> "Config":
        return cls.from_tree(Parser().parse_text(text, file))

    @classmethod
    def from_tree(cls, root: Directive) -> "Config":
        transform(root)
        warnings = check(root)
        g = root.get
        chunk_size = _int(g("chunk_size"), CHUNK_SIZE)
        listen = g("listen")
        return cls(
            file=root.file, root=root, warnings=tuple(warnings),
            listen=tuple(parse_endpoint(a, listen) for a in listen.args),
            pid=_str(g("pid"), "./objs/srs.pid"), chunk_size=chunk_size,
            ff_log_dir=_str(g("ff_log_dir"), "./objs"), ff_log_level=_str(g("ff_log_level"), "info"),
            srs_log_tank=_str(g("srs_log_tank"), "file"), srs_log_level=_str(g("srs_log_level"), "trace"),
            srs_log_file=_str(g("srs_log_file"), "./objs/srs.log"),
            max_connections=_int(g("max_connections"), 1000), daemon=_flag(g("daemon"), True),
            work_dir=_str(g("work_dir"), "./"), asprocess=_flag(g("asprocess"), False),
            utc_time=_flag(g("utc_time"), False), pithy_print_ms=_int(g("pithy_print_ms"), 10000),
            empty_ip_ok=_flag(g("empty_ip_ok"), True), grace_start_wait=_int(g("grace_start_wait"), 2300),
            grace_final_wait=_int(g("grace_final_wait"), 3200), force_grace_quit=_flag(g("force_grace_quit"), False),
            disable_daemon_for_docker=_flag(g("disable_daemon_for_docker"), True),
            inotify_auto_reload=_flag(g("inotify_auto_reload"), False),
            auto_reload_for_docker=_flag(g("auto_reload_for_docker"), True), reuseport=_flag(g("reuseport"), False),
            http_api=HttpApiConfig.of(g("http_api")), http_server=HttpServerConfig.of(g("http_server")),
            heartbeat=HeartbeatConfig.of(g("heartbeat")), stats=StatsConfig.of(g("stats")),
            stream_casters=tuple(StreamCasterConfig.of(d) for d in root.get_all("stream_caster")),
            vhosts=tuple(VhostConfig.of(d, chunk_size) for d in root.get_all("vhost")),
        )

    def vhost(self, name: str) -> Optional[VhostConfig]:
        """The vhost block named ``name``, else ``__defaultVhost__``, else None (SRS: vhost not found).

        A disabled block is still returned (check ``.enabled``): SRS matches it and then denies.
        """
        default = None
        for vhost in self.vhosts:
            if vhost.name == name:
                return vhost
            if vhost.name == DEFAULT_VHOST:
                default = vhost
        return default

    def vhost_names(self) -> Tuple[str, ...]:
        return tuple(v.name for v in self.vhosts)

    def dumps(self) -> str:
        """The checked tree as config text, in 3.0 spelling (for the raw API's query)."""
        return self.root.dumps() + "\n"

    def __repr__(self) -> str:
        return "Config(%s, listen=%r, vhosts=%r)" % (self.file, self.listen, self.vhost_names())
