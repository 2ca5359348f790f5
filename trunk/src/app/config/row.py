"""One row per directive: the vocabulary of the config table (rows_global.py, rows_vhost.py).

A ``Row`` says everything the server knows about one directive, once:

- ``path``: the full dotted path (``vhost.play.mw_latency``). SRS 5's environment variable is derived
  from it (``SRS_VHOST_PLAY_MW_LATENCY``, for the default vhost), so the table is also the list of
  names an env config reads.
- ``kind``: what the checker accepts: a leaf kind (FLAG, STR, STRS, ENDPOINT, ANY), a ``Choice``, a
  ``Number`` with its range, or BLOCK (``args`` = how many arguments the block takes, ``many`` = it
  may repeat: vhosts, ingests, engines...).
- ``default``: the value the view gives when the directive is missing or empty (a ``Ref`` copies
  another field of the same view: ``hls_key_file_path`` defaults to ``hls_path``).
- ``field``: the attribute of the typed view that holds it (the leaf name unless told); ``""`` when
  no view reads it (removed/ignored directives). ``custom=True``: the view class computes the field
  itself (parsed endpoints, rules, a block that exists only when enabled...). A BLOCK with
  ``flat=True`` has no view of its own: its rows are fields of the enclosing view (``play``,
  ``publish``, ``cluster`` are fields of VhostConfig).
- ``reload``: the reload event a change of it fires (config/reload.py orders the events as SRS does);
  None inherits the enclosing block's, ON_USE means no event (read again on each use), RESTART means
  a reload only warns that a restart is needed.
- ``alias``: the 2.0 spelling (transform: flat vhost directives move into their 3.0 block, old block
  names are renamed).
- ``ignored``: accepted with a warning "directive X is <ignored> and ignored" (``"removed"``: 2.0's
  hls_storage); the place for "known to SRS but not implemented here".
- ``source``: the name of the LiveSource option it feeds (app/live/source.py SourceOptions).
- ``env``: the SRS_* variables that set it (config/env.py): None derives the one name from the path
  (``env_name``), a tuple lists them (SRS 5 aliases), False: not settable so (SRS 5 reads no variable
  for it; a block's False covers its rows).
"""
from __future__ import annotations

import math
import re
from typing import Any, Optional, Tuple, Union

# --- leaf kinds: how many arguments and of which type (checked), read by the view
FLAG = "flag"       # on/off (SRS's convention: anything but the literal keeps the default)
STR = "str"         # one argument (may be empty)
STRS = "strs"       # zero or more arguments
ENDPOINT = "endpoint"  # [ip:]port
ANY = "any"         # a block with free-form children (ffmpeg parameter blocks)
BLOCK = "block"     # a block of rows

# --- reload behaviours besides an event name
ON_USE = ""           # no event: readers see the new Config on their next read
RESTART = "restart"   # never reloaded: a reload warns that it needs a restart

HOST_ANY = "0.0.0.0"


class Choice:
    __slots__ = ("choices",)

    def __init__(self, *choices: str):
        self.choices = choices


class Number:
    """An integer (``integer=True``) or a finite decimal in [lo, hi] (``(lo, hi]`` when ``above``)."""

    __slots__ = ("integer", "lo", "hi", "above")

    def __init__(self, integer: bool, lo: float, hi: float, above: bool = False):
        self.integer, self.lo, self.hi, self.above = integer, lo, hi, above

    def describe(self) -> str:
        fmt = (lambda v: "%d" % v) if self.integer else (lambda v: "%g" % v)
        return "%s%s, %s]" % ("(" if self.above else "[", fmt(self.lo), fmt(self.hi))

    def parse(self, text: str) -> Union[int, float, None]:
        """The value, or None when ``text`` is not a number in range."""
        if len(text) > 32 or not (INT_RE if self.integer else _FLOAT_RE).match(text):
            return None
        value = int(text) if self.integer else float(text)
        if not math.isfinite(value) or value > self.hi or value < self.lo or (self.above and value == self.lo):
            return None
        return value


INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")

INT_MAX = 2 ** 31 - 1
COUNT = Number(True, 0, INT_MAX)             # counts, bytes, kbps, milliseconds (24 days at most)
POSITIVE = Number(True, 1, INT_MAX)
PORT_OR_0 = Number(True, 0, 65535)
CHUNK = Number(True, 128, 65536)
SECONDS = Number(False, 0, 365 * 86400.0)    # 0 usually means off
PERIOD = Number(False, 0, 365 * 86400.0, above=True)  # a period that something divides by or loops on
RATIO = Number(False, 0, 1000.0)
FPS = Number(False, 0, 1000.0)
MS_FLOAT = Number(False, 0, float(INT_MAX))  # send_min_interval is in ms, with fractions
TIME_JITTER = Choice("full", "zero", "off")

Kind = Union[str, Choice, Number]


class Ref:
    """A default that is another field of the same view (``hls_key_file_path`` -> ``hls_path``)."""

    __slots__ = ("field",)

    def __init__(self, field: str):
        self.field = field


class Row:
    """One directive of the table (see the module docstring for each attribute)."""

    __slots__ = ("path", "name", "parent", "kind", "default", "field", "custom", "reload", "alias", "ignored",
                 "source", "args", "many", "flat", "env")

    def __init__(self, path: str, kind: Kind, default: Any = None, *, field: Optional[str] = None,
                 custom: bool = False, reload: Optional[str] = None, alias: Optional[str] = None,
                 ignored: Optional[str] = None, source: Optional[str] = None, args: Tuple[int, int] = (0, 0),
                 many: bool = False, flat: bool = False, env: Union[None, bool, Tuple[str, ...]] = None):
        self.path, self.kind, self.default = path, kind, default
        self.parent, _, self.name = path.rpartition(".")
        self.field = ("" if ignored else self.name) if field is None else field
        self.custom, self.reload, self.alias, self.ignored, self.source = custom, reload, alias, ignored, source
        self.args, self.many, self.flat, self.env = args, many, flat, env

    @property
    def env_name(self) -> str:
        """SRS 5's environment variable for this directive (vhost rows: for every vhost)."""
        return "SRS_" + self.path.upper().replace(".", "_")

    def __repr__(self) -> str:
        return "Row(%r)" % self.path


def block(path: str, **kw: Any) -> Row:
    return Row(path, BLOCK, **kw)


def prefixed(prefix: str, rows: Tuple[Row, ...]) -> Tuple[Row, ...]:
    """The same rows under another block (``engine`` lives in both ``transcode`` and ``ingest``)."""
    return tuple(Row(prefix + "." + r.path, r.kind, r.default, field=r.field, custom=r.custom, reload=r.reload,
                     alias=r.alias, ignored=r.ignored, source=r.source, args=r.args, many=r.many, flat=r.flat,
                     env=r.env)
                 for r in rows)
