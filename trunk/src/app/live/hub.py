"""The hub-output contract: what a source calls on the outputs that remux its stream once
(HLS, DVR, HDS, forward, edge forward, transcode, exec).

A source holds them in ``hub`` and calls them in the publisher's greenlet, so an output must not
block: it writes files or queues for its own greenlet. An output that raises from ``on_message`` is
removed (the others still get that message); one that raises from ``on_publish``/``on_unpublish``
is logged and kept, as before.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from srs.kernel.message import Message

if TYPE_CHECKING:  # annotation only: source.py imports this module
    from srs.app.live.source import LiveSource


@runtime_checkable  # the contract test checks every real hub output class with isinstance
class HubOutput(Protocol):
    def on_publish(self, source: "LiveSource") -> None:
        """The stream starts (or the output joins a published stream, before its headers replay)."""

    def on_message(self, msg: Message) -> None:
        """One message of the publisher, after the source's hub-side bookkeeping, before jitter."""

    def on_unpublish(self, source: "LiveSource") -> None:
        """The stream stops (or the output leaves a published stream)."""
