"""The config table: every directive's Row, and what the checker, the view, the reload diff and the
live source derive from it (so a directive is declared once, in rows_global.py or rows_vhost.py).

- ``CHILDREN[block path]``: name -> Row, the whitelist schema.check walks;
- ``view_fields(path)``: the fields of the view of a block (VhostConfig is ``view_fields("vhost")``),
  ``view_plan(path)``: the rows view.read turns into those fields;
- ``reload_events(scope)``: event kind -> the view fields whose change fires it (reload.diff);
- ``SOURCE_OPTIONS``: LiveSource option -> (VhostConfig field, default) (SourceOptions).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from srs.app.config.row import BLOCK, ON_USE, Row
from srs.app.config.rows_abr import ABR_ROWS
from srs.app.config.rows_global import GLOBAL_ROWS
from srs.app.config.rows_rtc import RTC_ROWS
from srs.app.config.rows_snapshot import SNAPSHOT_ROWS
from srs.app.config.rows_srt import SRT_ROWS
from srs.app.config.rows_unimplemented import UNIMPLEMENTED_ROWS
from srs.app.config.rows_vhost import VHOST_ROWS

ROWS: Tuple[Row, ...] = (GLOBAL_ROWS + VHOST_ROWS + SRT_ROWS + RTC_ROWS + SNAPSHOT_ROWS + ABR_ROWS
                         + UNIMPLEMENTED_ROWS)
BY_PATH: Dict[str, Row] = {r.path: r for r in ROWS}
assert len(BY_PATH) == len(ROWS), "a directive is declared twice"

# block path ("" = the root) -> its children by name, in table order
CHILDREN: Dict[str, Dict[str, Row]] = {"": {}}
for _row in ROWS:
    CHILDREN[_row.parent][_row.name] = _row  # a KeyError here: the row's block is declared below it
    if _row.kind == BLOCK:
        CHILDREN[_row.path] = {}


def reload_kind(row: Row) -> str:
    """The row's reload event: its own, else its enclosing block's, else ON_USE."""
    while row.reload is None:
        if not row.parent:
            return ON_USE
        row = BY_PATH[row.parent]
    return row.reload


def view_plan(path: str) -> List[Tuple[Row, Tuple[str, ...]]]:
    """The rows that are fields of the view of block ``path``, with the names leading to each from that
    block: its own rows, those of its flat blocks (``("play", "mw_latency")``), and its sub-blocks."""
    plan: List[Tuple[Row, Tuple[str, ...]]] = []

    def walk(block: str, names: Tuple[str, ...]) -> None:
        for row in CHILDREN[block].values():
            if row.kind == BLOCK and row.flat:
                walk(row.path, names + (row.name,))
            elif row.field:
                plan.append((row, names + (row.name,)))

    walk(path, ())
    return plan


def view_fields(path: str) -> Tuple[str, ...]:
    """The field names of the view of block ``path``, in table order (a field fed by two rows once)."""
    return tuple(dict.fromkeys(row.field for row, _ in view_plan(path)))


def holder(row: Row, scope: str) -> str:
    """The field of ``scope``'s view that holds ``row``'s value: the row's own, or that of the first
    block with a view of its own on the way (``vhost.hls.hls_fragment`` -> ``hls`` in the vhost)."""
    path = row.path[len(scope) + 1:] if scope else row.path
    names = path.split(".")
    prefix = scope
    for name in names[:-1]:
        prefix = prefix + "." + name if prefix else name
        block = BY_PATH[prefix]
        if not block.flat:
            return block.field
    return row.field


def reload_events(scope: str, exclude: Tuple[str, ...] = ()) -> Dict[str, Tuple[str, ...]]:
    """Event kind -> the fields of ``scope``'s view ("" = Config, "vhost" = VhostConfig) it covers, in
    table order; rows read on use fire nothing. Nested scopes (a vhost inside the root) are left out."""
    events: Dict[str, Tuple[str, ...]] = {}
    for row in ROWS:
        if scope and not row.path.startswith(scope + "."):
            continue
        if not scope and row.path.split(".")[0] in _SCOPES:
            continue
        kind = reload_kind(row)
        field = holder(row, scope)
        if kind == ON_USE or kind in exclude or not field:
            continue
        fields = events.setdefault(kind, ())
        if field not in fields:
            events[kind] = fields + (field,)
    return events


_SCOPES = ("vhost",)

# LiveSource option -> (VhostConfig field, default): the knobs a source reads, refreshed on reload
SOURCE_OPTIONS: Dict[str, Tuple[str, object]] = {r.source: (r.field, r.default) for r in VHOST_ROWS if r.source}
