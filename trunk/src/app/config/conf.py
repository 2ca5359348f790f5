"""The config system: ``Config.load(path)`` parses, checks and returns the typed read-only view.

    config = Config.load("conf/srs.conf")          # raises ConfigError (file:line in the message)
    config = Config.from_env(os.environ)            # srs -e: SRS_* variables only (env.py)
    new = Config.reread(config, path)                # a reload: the file again, or -e's variables again
    config.listen                                    # (("0.0.0.0", 1935),)
    vhost = config.vhost("a.com")                    # exact name, else __defaultVhost__, else None
    vhost.hls.hls_fragment, vhost.mw_latency         # seconds / ms, SRS defaults applied
    changes = diff(old, new)                         # reload events; changes.warnings for ignored ones

Pieces: parser (syntax, include), the table (row.py, rows_global.py, rows_vhost.py, table.py: one row per
directive with its kind, default, view field, reload event and 2.0 alias), schema (2.0->3.0 transform,
whitelist, value checks), view (typed values), reload (diff); all but the parser derive from the rows.
Nothing else in the server parses config strings.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

from srs.app.config.env import ENV_ONLY_FILE, apply_env, env_root, ignored_env
from srs.app.config.parser import Directive, Parser
from srs.app.config.reload import Change, Changes, diff
from srs.app.config.schema import check, parse_endpoint, transform
from srs.app.config.table import view_fields
from srs.app.config.view import (DEFAULT_VHOST, HOOK_EVENTS, BandcheckConfig, DashConfig, DvrConfig, EngineConfig,
                                 ExecConfig, HdsConfig, HeartbeatConfig, HlsConfig, HttpApiConfig, HttpHooksConfig,
                                 HttpRemuxConfig, HttpServerConfig, HttpStaticConfig, IngestConfig, RawApiConfig,
                                 ReferConfig, SecurityConfig, StatsConfig, StreamCasterConfig, TranscodeConfig,
                                 VhostConfig, View, read)
from srs.kernel.errors import ConfigError

__all__ = ["Config", "ConfigError", "Directive", "Change", "Changes", "diff", "DEFAULT_VHOST", "HOOK_EVENTS",
           "VhostConfig", "HttpApiConfig", "RawApiConfig", "HttpServerConfig", "HeartbeatConfig", "StatsConfig",
           "StreamCasterConfig", "ReferConfig", "SecurityConfig", "HlsConfig", "HdsConfig", "DvrConfig",
           "HttpHooksConfig", "ExecConfig", "DashConfig", "HttpStaticConfig", "HttpRemuxConfig", "BandcheckConfig",
           "TranscodeConfig", "IngestConfig", "EngineConfig"]


EMPTY_ENV: Mapping[str, str] = {}


class Config(View):
    """A parsed and checked config file. Immutable: a reload builds a new Config and diffs the two."""

    __slots__ = ("file", "root", "warnings") + view_fields("")

    @classmethod
    def load(cls, path: str, env: Optional[Mapping[str, str]] = None) -> "Config":
        """Parse ``path`` (following includes), apply the SRS_* variables of ``env`` (default: this
        process's, so a reload applies them again, as SRS 5), check it and build the view; raises
        ConfigError."""
        return cls.from_tree(Parser().parse_file(path), os.environ if env is None else env)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Config":
        """The config of ``srs -e``: the SRS_* variables alone, no file."""
        return cls.from_tree(env_root(), env)

    @classmethod
    def reread(cls, running: "Config", path: str, env: Optional[Mapping[str, str]] = None) -> Optional["Config"]:
        """The config a reload (SIGHUP, raw API) builds: the file ``path`` again, or, for ``srs -e``, the
        SRS_* variables again as SRS 5 does; None when there is nothing to read again (``-p/-x``'s
        generated conf). ``env`` defaults to this process's."""
        env = os.environ if env is None else env
        if running.file == ENV_ONLY_FILE:
            return cls.from_env(env)
        return cls.load(path, env) if path else None

    @classmethod
    def parse_text(cls, text: str, file: str = "<text>", env: Mapping[str, str] = EMPTY_ENV) -> "Config":
        return cls.from_tree(Parser().parse_text(text, file), env)

    @classmethod
    def from_tree(cls, root: Directive, env: Mapping[str, str] = EMPTY_ENV) -> "Config":
        transform(root)
        apply_env(root, env)
        warnings = check(root) + ignored_env(env)
        values = read(root, "")
        listen = root.get("listen")
        return cls(
            file=root.file, root=root, warnings=tuple(warnings),
            listen=tuple(parse_endpoint(a, listen) for a in listen.args),
            vhosts=tuple(VhostConfig.of(d, values["chunk_size"]) for d in root.get_all("vhost")), **values)

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
