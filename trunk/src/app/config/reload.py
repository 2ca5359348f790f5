"""Reload: what changed between two checked configs, as SRS's on_reload_* events (reload_conf/reload_vhost).

``diff(old, new)`` returns a ``Changes`` list of ``Change(kind, vhost=, detail=, ingest_id=)`` for the
server to apply, and ``Changes.warnings`` for changes that a reload cannot apply (daemon, work_dir,
asprocess: they only take effect at a restart). An origin<->edge ``mode`` change refuses the whole
reload with ConfigError code ERROR_RTMP_EDGE_RELOAD (2023), as SRS does.

Directives that are read on use (chunk_size globally, ff_log_dir, bandcheck, token_traverse, ack sizes...)
need no event: the server swaps in the new Config and the next reader sees the new value.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from srs.app.config.row import RESTART
from srs.app.config.table import reload_events
from srs.kernel.errors import ERROR_RTMP_EDGE_RELOAD, ConfigError

# Which fields each event covers comes from the rows (config/table.py); the order in which events
# fire is SRS's (reload_conf, then reload_vhost per vhost). An event of a new row that is not listed
# here fires after these.
GLOBAL_ORDER = ("listen", "rtmps", "pid", "max_connections", "srs_log_tank", "srs_log_level", "srs_log_file",
                "utc_time", "pithy_print_ms", "http_api", "http_server", "heartbeat", "stream_caster", "srt_server",
                "rtc_server")
TOGGLED = ("http_api", "http_server")  # their detail says enabled/disabled/modified
VHOST_ORDER = ("atc", "gop_cache", "queue_length", "time_jitter", "mix_correct", "play", "forward", "hls", "hds",
               "dvr", "mr", "chunk_size", "mw_latency", "send_min_interval", "tcp_nodelay", "publish", "min_latency",
               "http_static", "http_remux", "transcode", "abr", "exec", "dash", "refer", "security", "http_hooks",
               "cluster", "bandcheck", "ack_size")
# vhost events diff handles itself: vhost (enabled: added/removed), mode (refused), ingest (per id)
_VHOST_SPECIAL = ("vhost", "mode", "ingest")


def _ordered(events: Dict[str, Tuple[str, ...]], order: Tuple[str, ...]) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    kinds = [k for k in order if k in events] + [k for k in events if k not in order]
    return tuple((k, events[k]) for k in kinds)


_GLOBAL = reload_events("")
NEVER_RELOADED = _GLOBAL.pop(RESTART, ())
GLOBAL_KINDS = _ordered(_GLOBAL, GLOBAL_ORDER)  # (kind, fields) in firing order
VHOST_KINDS = _ordered(reload_events("vhost", exclude=_VHOST_SPECIAL), VHOST_ORDER)


class Change:
    """One reload event. ``kind`` names it (see GLOBAL_KINDS / VHOST_KINDS, plus "vhost_added",
    "vhost_removed", "ingest"); ``vhost`` is
    set for vhost events; ``detail`` is "enabled"/"disabled"/"modified" for http_api/http_server and
    "added"/"removed"/"changed" for ingest (``ingest_id`` names it)."""

    __slots__ = ("kind", "vhost", "detail", "ingest_id")

    def __init__(self, kind: str, vhost: Optional[str] = None, detail: Optional[str] = None,
                 ingest_id: Optional[str] = None):
        self.kind = kind
        self.vhost = vhost
        self.detail = detail
        self.ingest_id = ingest_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (self.kind, self.vhost, self.detail, self.ingest_id) == \
            (other.kind, other.vhost, other.detail, other.ingest_id)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = "".join(", %s=%r" % (k, getattr(self, k)) for k in ("vhost", "detail", "ingest_id")
                        if getattr(self, k) is not None)
        return "Change(%r%s)" % (self.kind, extra)


class Changes(list):
    """The reload events, in order; ``warnings`` lists what a reload does not apply."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: List[str] = []

    def kinds(self, vhost: Optional[str] = None) -> List[str]:
        return [c.kind for c in self if vhost is None or c.vhost == vhost]


def _toggle(old: Any, new: Any) -> Optional[str]:
    if old == new:
        return None
    if not old.enabled and new.enabled:
        return "enabled"
    if old.enabled and not new.enabled:
        return "disabled"
    return "modified" if new.enabled else None  # a disabled block's knobs do not matter yet


def diff(old: Any, new: Any) -> Changes:
    """Events turning ``old`` (the running Config) into ``new`` (a checked Config)."""
    changes = Changes()
    for name in NEVER_RELOADED:
        if getattr(old, name) != getattr(new, name):
            changes.warnings.append("%s changed (%r -> %r): needs a restart, ignored by reload"
                                    % (name, getattr(old, name), getattr(new, name)))
    for kind, fields in GLOBAL_KINDS:
        if kind in TOGGLED:
            detail = _toggle(getattr(old, fields[0]), getattr(new, fields[0]))
            if detail:
                changes.append(Change(kind, detail=detail))
        elif any(getattr(old, f) != getattr(new, f) for f in fields):
            changes.append(Change(kind))
    _diff_vhosts(old, new, changes)
    return changes


def _diff_vhosts(old: Any, new: Any, changes: Changes) -> None:
    before = {v.name: v for v in old.vhosts}
    after = {v.name: v for v in new.vhosts}
    # refuse first: a refused reload must not have half-applied anything
    for name, vhost in after.items():
        was = before.get(name)
        if was is not None and was.enabled and vhost.enabled and was.mode != vhost.mode:
            raise ConfigError("vhost %s: mode changed %s -> %s, origin/edge cannot be reloaded, restart instead"
                              % (name, was.mode, vhost.mode), code=ERROR_RTMP_EDGE_RELOAD)
    for name, was in before.items():
        if was.enabled and (name not in after or not after[name].enabled):
            changes.append(Change("vhost_removed", vhost=name))
    for name, vhost in after.items():
        was = before.get(name)
        if not vhost.enabled:
            continue
        if was is None or not was.enabled:
            changes.append(Change("vhost_added", vhost=name))
            continue
        for kind, fields in VHOST_KINDS:
            if any(getattr(was, f) != getattr(vhost, f) for f in fields):
                changes.append(Change(kind, vhost=name))
        _diff_ingests(was, vhost, changes)


def _diff_ingests(was: Any, vhost: Any, changes: Changes) -> None:
    # an ingest counts only while enabled (SRS starts only enabled ingesters)
    old = {i.id: i for i in was.ingests if i.enabled}
    new = {i.id: i for i in vhost.ingests if i.enabled}
    for ingest_id in old:
        if ingest_id not in new:
            changes.append(Change("ingest", vhost=vhost.name, detail="removed", ingest_id=ingest_id))
    for ingest_id, ingest in new.items():
        if ingest_id not in old:
            changes.append(Change("ingest", vhost=vhost.name, detail="added", ingest_id=ingest_id))
        elif old[ingest_id] != ingest:
            changes.append(Change("ingest", vhost=vhost.name, detail="changed", ingest_id=ingest_id))
