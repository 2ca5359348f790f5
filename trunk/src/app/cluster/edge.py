"""Edge (cluster mode remote): pull played streams from the origin, push published ones to it.

    vhost __defaultVhost__ { cluster { mode remote; origin 10.0.0.1:1935 10.0.0.2:1935; } }

Play (SRS's SrsPlayEdge + SrsEdgeIngester): the first player (RTMP or HTTP) of a source on an edge
vhost starts ONE ``EdgeIngester`` greenlet for it. The ingester plays the stream from the origins,
round-robin on failure (3 s connect/recv timeout; the next origin at once after one that was
sending, else 1 s between attempts), and publishes what it receives into the local ``LiveSource``
like a local publisher would (``on_publish`` at the first media, ``on_message``, ``on_unpublish``
when the upstream is lost), so every edge player shares the one upstream connection and the
source's GOP cache carries them over an origin failover. It stops when the source has had no
consumer for a poll (every second).

Publish (SRS's SrsPublishEdge + SrsEdgeForwarder): a publish on an edge vhost stays a local
publish (edge players see it) and a hub output forwards it to the origins (forward.Forwarder with
the origin list).

token_traverse: on connect, the client's tcUrl, pageUrl and args are first presented to an origin;
a refusal there refuses the client here.
"""
from __future__ import annotations

import logging
import os
import socket as _socket
import time
from typing import Dict, Optional

import gevent

from srs.app.cluster.forward import Forwarder, HeaderCache, close_and_kill, split_url
from srs.app.ports import CidSource, ConfigSource
from srs.app.rtmp.client import Redirected, RtmpClient
from srs.core import version
from srs.kernel.errors import (ERROR_RTMP_EDGE_PROXY_PULL, ERROR_SOCKET_TIMEOUT, AccessDenied, RtmpError,
                               SrsError, StreamBusy)
from srs.kernel.log import cid_var
from srs.protocol.request import make_tc_url

log = logging.getLogger(__name__)

TIMEOUT_S = 3.0   # connect, handshake, replies and the gap between two upstream messages
RETRY_S = 1.0     # between two upstream attempts
POLL_S = 1.0      # how often an ingester checks that someone still plays


def strip_vhost_param(param: str) -> str:
    """The client's ``?k=v`` params without ``vhost=`` (the edge names the upstream vhost itself)."""
    query = param.lstrip("?")
    kept = [kv for kv in query.split("&") if kv and not kv.startswith("vhost=")]
    return "?" + "&".join(kept) if kept else ""


def upstream_vhost(vc, vhost: str) -> str:
    name = vc.edge_vhost or "[vhost]"
    return name.replace("[vhost]", vhost)


def upnode_args(vc, cid: int) -> Optional[dict]:
    """SRS's debug_srs_upnode: tell the origin who we are, so its logs can be correlated."""
    if not vc.debug_srs_upnode:
        return None
    return {"srs_sig": version.KEY, "srs_server": version.SIGNATURE, "srs_version": version.VERSION,
            "srs_pid": float(os.getpid()), "srs_id": float(cid)}


class EdgeIngester:
    """The one upstream play of an edge source."""

    def __init__(self, manager: "EdgeManager", source, vc, param: str):
        self.manager = manager
        self.source = source
        self.vc = vc
        self.vhost, self.app, self.stream = split_url(source.url)
        self.param = strip_vhost_param(param)
        self.origins = list(vc.origin)
        self.index = 0
        self.cid = manager.next_cid()
        self.client: Optional[RtmpClient] = None
        self.published = False
        self.stopped = False
        self.attempts = 0
        self.greenlet = None
        self.redirect = None  # H14: (host, port) of an origin cluster's RTMP 302, used for one attempt

    @property
    def origin(self):
        return self.origins[self.index % len(self.origins)]

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self.stopped = True
        close_and_kill(self.client, self.greenlet)
        self._unpublish()

    def _idle(self) -> bool:
        return not self.source.consumers

    def _run(self) -> None:
        cid_var.set(self.cid)
        src = self.source
        log.info("edge pull %s started, origins=%s", src.url, ",".join(f"{h}:{p}" for h, p in self.origins))
        failures = 0         # attempts in a row that got no media from their origin
        last_handover = 0.0  # when the last failed origin handed over to the next at once
        try:
            while not self.stopped:
                if self._idle():
                    break
                followed, self.redirect = self.redirect, None
                host, port = followed or self.origin
                self.attempts += 1
                try:
                    self._ingest(host, port)
                    if self._idle():
                        break
                except Redirected as e:  # H14: the origin cluster says another origin has it: go now, once
                    if followed is None:
                        log.info("edge pull %s: origin %s:%d redirects to %s", src.url, host, port, e.url)
                        self.redirect = (e.host, e.port)
                        continue
                    log.warning("edge pull %s: %s redirects again, not followed; next origin in %.0fs",
                                src.url, e.url, RETRY_S)
                except StreamBusy as e:
                    log.warning("edge pull %s: local source busy (%s), stop", src.url, e)
                    break
                except (SrsError, OSError) as e:
                    log.warning("edge pull %s from origin %s:%d failed (attempt %d): %s; next origin",
                                src.url, host, port, self.attempts, e)
                finally:
                    got_media = self.published
                    self._close_client()
                    self._unpublish()
                if followed is None:  # H14: a failed redirect target retries the same origin
                    self.index += 1
                failures = 0 if got_media else failures + 1
                # An origin that was sending and failed hands over to the next one at once: the players
                # wait only for the reconnect (the failover stall). A round of origins that all failed
                # waits RETRY_S, and so does a handover less than RETRY_S after the last: no busy loop.
                now = time.monotonic()
                if (got_media or failures % len(self.origins)) and now - last_handover >= RETRY_S:
                    last_handover = now
                    continue
                gevent.sleep(RETRY_S)
        finally:
            self.stopped = True
            self._close_client()
            self._unpublish()
            self.manager._forget(self)
            log.info("edge pull %s stopped after %d attempts", src.url, self.attempts)

    def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def _unpublish(self) -> None:
        if self.published:
            self.published = False
            self.source.on_unpublish()

    def _ingest(self, host: str, port: int) -> None:
        """Play from one origin until it fails (raises) or nobody plays here any more (returns)."""
        client = self.client = RtmpClient(host, port, TIMEOUT_S)
        vhost = upstream_vhost(self.vc, self.vhost)
        tc_url = make_tc_url(host, port, self.app, vhost=vhost, param=self.param)
        client.connect(tc_url, self.app, args=upnode_args(self.vc, self.cid))
        client.play(self.stream + self.param)
        log.info("edge pull %s from origin %s:%d, tcUrl=%s", self.source.url, host, port, tc_url)
        src = self.source
        last_data = time.monotonic()
        nb = 0
        while not self.stopped:
            try:
                for msg in client.read_messages(POLL_S):
                    if not self.published:
                        src.on_publish(self.cid)
                        self.published = True
                        log.info("edge pull %s: origin %s:%d is sending", src.url, host, port)
                    src.on_message(msg)
                    nb += 1
                last_data = time.monotonic()
            except _socket.timeout:
                if self._idle():
                    log.info("edge pull %s: no player left, stop (msgs=%d)", src.url, nb)
                    return
                if time.monotonic() - last_data >= TIMEOUT_S:
                    raise SrsError(f"no data from origin {host}:{port} for {TIMEOUT_S:.0f}s",
                                   ERROR_SOCKET_TIMEOUT) from None
                continue
            if self._idle():
                log.info("edge pull %s: no player left, stop (msgs=%d)", src.url, nb)
                return


class EdgeForwardOutput:
    """The hub output added to a source published on an edge vhost: push it to the origins."""

    def __init__(self, manager: "EdgeManager", vc, req):
        self.manager = manager
        self.vc = vc
        self.req = req
        self.cache = HeaderCache()
        self.forwarder: Optional[Forwarder] = None

    def on_publish(self, source) -> None:
        vhost, app, stream = split_url(source.url)
        cid = self.manager.next_cid()
        param = strip_vhost_param(self.req.param or "")
        self.cache.reset()
        self.forwarder = Forwarder(self.cache, upstream_vhost(self.vc, vhost), app, stream + param,
                                   self.vc.origin, cid, tag="edge publish to origin", tc_param=param,
                                   connect_args=upnode_args(self.vc, cid))
        self.forwarder.start()
        log.info("edge publish %s forwarded to origins %s", source.url,
                 ",".join(f"{h}:{p}" for h, p in self.vc.origin))

    def on_message(self, msg) -> None:
        self.cache.on_message(msg)
        if self.forwarder is not None:
            self.forwarder.push(msg)

    def on_unpublish(self, source) -> None:
        if self.forwarder is not None:
            self.forwarder.stop()
            log.info("edge publish %s to origin stopped, sent=%d msgs, dropped=%d", source.url,
                     self.forwarder.sent_msgs, self.forwarder.dropped)
            self.forwarder = None


class EdgeManager:
    """The server's edge: one ingester per played edge source."""

    def __init__(self, config: ConfigSource, next_cid: CidSource):
        self.config = config
        self.next_cid = next_cid
        self.ingesters: Dict[str, EdgeIngester] = {}

    def on_play(self, source, req) -> None:
        """A player attached to ``source`` on an edge vhost: make sure one ingester pulls it."""
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.is_edge:
            return
        if not vc.origin:
            log.error("edge vhost %s has no origin, cannot pull %s", req.vhost, source.url)
            return
        ing = self.ingesters.get(source.url)
        if ing is not None and not ing.stopped and ing.source is source:
            return
        if source.publisher_cid is not None:
            return  # published on this edge: players get it directly
        ing = EdgeIngester(self, source, vc, req.param or "")
        self.ingesters[source.url] = ing
        ing.start()

    def on_publish(self, source, req):
        """A publish on an edge vhost: returns the hub output that pushes it to the origin (the
        caller removes it with ``source.remove_hub_output`` at unpublish)."""
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.is_edge or not vc.origin:
            return None
        out = EdgeForwardOutput(self, vc, req)
        source.add_hub_output(out)
        return out

    def check_token(self, req) -> None:
        """token_traverse: connect to an origin with the client's tcUrl/pageUrl/args; raises
        AccessDenied when the origin refuses, SrsError when no origin answers."""
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.is_edge or not vc.token_traverse or not vc.origin:
            return
        last: Optional[Exception] = None
        for host, port in vc.origin:
            client = RtmpClient(host, port, TIMEOUT_S)
            try:
                client.open()
            except SrsError as e:
                last = e
                log.warning("token traverse: origin %s:%d unreachable: %s", host, port, e)
                client.close()
                continue
            try:
                client.connect(req.tc_url, req.app, req.page_url, req.swf_url, req.args)
                log.info("token traverse ok at origin %s:%d, tcUrl=%s", host, port, req.tc_url)
                return
            except RtmpError as e:
                raise AccessDenied(f"token traverse refused by origin {host}:{port}: {e}") from e
            except SrsError as e:
                raise AccessDenied(f"token traverse at origin {host}:{port} failed: {e}") from e
            finally:
                client.close()
        raise SrsError(f"token traverse: no origin reachable ({last})", ERROR_RTMP_EDGE_PROXY_PULL)

    def _forget(self, ing: EdgeIngester) -> None:
        if self.ingesters.get(ing.source.url) is ing:
            del self.ingesters[ing.source.url]

    def stop(self) -> None:
        for ing in list(self.ingesters.values()):
            ing.stop()
        self.ingesters.clear()
