"""Forward: push every stream published on a vhost to other servers (SRS's SrsForwarder).

    vhost __defaultVhost__ { forward { enabled on; destination 127.0.0.1:19350 127.0.0.1:19351; } }

``make_hub_output`` gives each source a ``ForwardHub`` (a hub output, see source.py). On publish it
starts one ``Forwarder`` greenlet per destination, which publishes to
``rtmp://dest/app?vhost=<vhost>/stream`` (the same vhost, as SRS). The publisher's greenlet only
appends to each forwarder's bounded queue and sets its Event: a slow or dead destination never
blocks it. Over the bound the oldest messages are dropped and counted.

A (re)connection starts from the hub's caches: metadata, sequence headers and the current GOP (the
messages since the last video keyframe, original timestamps), so the destination's players get a
decodable stream at once; then the live messages follow. A lost destination is retried every
``RECONNECT_S`` seconds while the stream is published. The edge uses the same ``Forwarder`` to
push a publish on an edge vhost to its origin (round-robin over the origin list on failure).

SRS 5's dynamic forward, ``forward { enabled on; backend http://...; }``: at each publish the hub POSTs
on_forward (app/http/hooks.py) with the publisher's request, and forwards to every ``rtmp://`` url the
backend answers (app, stream and vhost from the url). SRS waits for the backend inside the publish and
refuses the publish when it fails; here a greenlet asks, so the publisher never waits, a failed
backend is logged, and the late forwarders start from the caches (nothing is lost).
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Callable, List, Optional, Sequence, Tuple

import gevent
from gevent.event import Event

from srs.app.http.hooks import HttpHooks
from srs.app.ports import CidSource, ConfigSource, ListenPorts
from srs.app.rtmp.client import RtmpClient
from srs.kernel.errors import ERROR_SYSTEM_FORWARD_LOOP, SrsError
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AMF0_DATA, Message
from srs.protocol.request import Request, discover_tc_url, make_tc_url, parse_rtmp_url

# The publisher of a source, for the forward backend's body: cid -> (its request, its ip), or None.
PublisherOf = Callable[[int], Optional[Tuple[Request, str]]]

log = logging.getLogger(__name__)

RECONNECT_S = 3.0
TIMEOUT_S = 3.0
QUEUE_MAX_MSGS = 4096   # ~1 min of a 25 fps A/V stream: beyond that the destination is hopeless
GOP_MAX_MSGS = 4096     # a GOP longer than this is not cached (a player would wait for a keyframe)
SEND_BATCH = 128
# When the publisher leaves, a connected forwarder still sends what it holds (the stream's last
# seconds, behind when the destination or this process is slow) for at most this long.
DRAIN_S = 10.0

LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1", "::", "")


def split_url(url: str) -> Tuple[str, str, str]:
    """``vhost/app/stream`` -> (vhost, app, stream); the app may be nested, the stream is last."""
    vhost, rest = url.split("/", 1)
    app, _, stream = rest.rpartition("/")
    return vhost, app, stream


def close_and_kill(client: Optional[RtmpClient], greenlet: Optional[gevent.Greenlet]) -> None:
    """End an upstream worker (a forwarder, an edge ingester) from any greenlet: close its client, so
    a blocked read returns, and kill its greenlet unless that is the caller (already unwinding)."""
    if client is not None:
        client.close()
    if greenlet is not None and greenlet is not gevent.getcurrent():
        greenlet.kill(block=False)


class HeaderCache:
    """Metadata, sequence headers and the current GOP of a stream, in original timestamps."""

    __slots__ = ("meta", "video_sh", "audio_sh", "gop")

    def __init__(self):
        self.meta: Optional[Message] = None
        self.video_sh: Optional[Message] = None
        self.audio_sh: Optional[Message] = None
        self.gop: List[Message] = []

    def reset(self) -> None:
        self.meta = self.video_sh = self.audio_sh = None
        self.gop = []

    def on_message(self, msg: Message) -> None:
        if msg.kind == MSG_AMF0_DATA:
            self.meta = msg
        elif msg.seq_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
        elif msg.is_video and msg.keyframe:
            self.gop = [msg]
        elif self.gop:
            if len(self.gop) < GOP_MAX_MSGS:
                self.gop.append(msg)
            else:
                self.gop = []

    def snapshot(self) -> List[Message]:
        msgs = [m for m in (self.meta, self.video_sh, self.audio_sh) if m is not None]
        msgs.extend(self.gop)
        return msgs


class Forwarder:
    """One destination (or a list tried round-robin): a greenlet publishing ``stream`` there.

    ``push`` is the only method the publisher's greenlet calls; it never switches greenlets."""

    def __init__(self, cache: HeaderCache, vhost: str, app: str, stream: str,
                 destinations: Sequence[Tuple[str, int]], cid: int, tag: str = "forward",
                 tc_param: str = "", connect_args: Optional[dict] = None, queue_max: int = QUEUE_MAX_MSGS):
        self.cache = cache
        self.vhost = vhost
        self.app = app
        self.stream = stream
        self.destinations = list(destinations)
        self.index = 0
        self.cid = cid
        self.tag = tag
        self.tc_param = tc_param
        self.connect_args = connect_args
        self.queue: deque = deque()
        self.queue_max = queue_max
        self.accepting = True   # from the start, so the first connection misses nothing
        self.dropped = 0
        self.sent_msgs = 0
        self.connects = 0
        self.event = Event()
        self.client: Optional[RtmpClient] = None
        self.greenlet = None
        self.stopped = False
        self.draining = False
        self._on_done = None

    @property
    def destination(self) -> Tuple[str, int]:
        return self.destinations[self.index % len(self.destinations)]

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self.stopped = True
        self.accepting = False
        self.queue.clear()
        close_and_kill(self.client, self.greenlet)
        self.greenlet = None

    def finish(self, drain_s: float, on_done) -> None:
        """The publisher left: take no more messages; a connected forwarder sends what it still
        holds (for at most ``drain_s``), then stops. ``on_done(self)`` once it has stopped."""
        self.accepting = False
        self._on_done = on_done
        if self.client is None or not self.queue or self.greenlet is None:
            self._end()
            return
        self.draining = True
        self.event.set()
        gevent.spawn_later(drain_s, self._end)

    def _end(self) -> None:
        if self._on_done is None:
            return  # ended already (drained, or the deadline came first)
        done, self._on_done = self._on_done, None
        self.stop()
        done(self)

    def push(self, msg: Message) -> None:
        if not self.accepting:
            return
        q = self.queue
        q.append(msg)
        if len(q) > self.queue_max:
            q.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s %s:%d queue over %d msgs, dropped=%d", self.tag, *self.destination,
                            self.queue_max, self.dropped)
        self.event.set()

    # ------------------------------------------------------------------ the greenlet
    def _run(self) -> None:
        cid_var.set(self.cid)
        while not self.stopped:
            host, port = self.destination
            try:
                self._serve(host, port)
            except gevent.GreenletExit:
                raise
            except (SrsError, OSError) as e:
                log.warning("%s %s:%d failed: %s; retry in %.0fs", self.tag, host, port, e, RECONNECT_S)
            except Exception:
                log.exception("%s %s:%d: unexpected error", self.tag, host, port)
            finally:
                self._disconnect()
            if self.draining:
                self._end()  # sent all it held, or lost the connection while at it: no reconnect
            if self.stopped:
                break
            self.index += 1   # round-robin when there are several (edge origins)
            gevent.sleep(RECONNECT_S)

    def _disconnect(self) -> None:
        # While disconnected, nothing queues: the next connection starts from the caches.
        self.accepting = False
        self.queue.clear()
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def _serve(self, host: str, port: int) -> None:
        client = self.client = RtmpClient(host, port, TIMEOUT_S)
        tc_url = make_tc_url(host, port, self.app, vhost=self.vhost, param=self.tc_param)
        client.connect(tc_url, self.app, args=self.connect_args)
        client.publish(self.stream)
        self.connects += 1
        if self.connects > 1 or not self.accepting:
            # A reconnection: start from the caches (no greenlet switch between the snapshot and
            # accepting again, so nothing is lost or sent twice).
            self.queue = deque(self.cache.snapshot())
            self.accepting = True
        log.info("%s %s:%d connected, publishing %s (tcUrl=%s)", self.tag, host, port, self.stream, tc_url)
        reader = gevent.spawn(self._read, client)
        try:
            self._pump(client, reader)
        finally:
            reader.kill(block=False)

    def _pump(self, client: RtmpClient, reader) -> None:
        while True:
            if reader.ready():
                err = reader.value
                raise err if isinstance(err, SrsError) else SrsError(f"connection lost: {err}")
            if not self.queue:
                if self.draining:
                    return
                self.event.clear()
                self.event.wait(1.0)
                continue
            q = self.queue
            n = min(len(q), SEND_BATCH)
            batch = [q.popleft() for _ in range(n)]
            client.send_messages(batch)
            self.sent_msgs += n

    def _read(self, client: RtmpClient):
        """Answer acks/pings and notice a server that closes (its events are not needed)."""
        cid_var.set(self.cid)
        try:
            while True:
                for _ in client.read_messages(None):
                    pass
        except (SrsError, OSError) as e:
            return e  # for _pump: the server closed, or we closed the socket
        finally:
            self.event.set()


class ForwardHub:
    """The hub output of one source on a vhost with ``forward`` destinations."""

    def __init__(self, source, vhost: str, destinations: Sequence[Tuple[str, int]], *, config: ConfigSource,
                 next_cid: CidSource, listening: ListenPorts, backend: str = "", hooks: Optional[HttpHooks] = None,
                 publisher_of: Optional[PublisherOf] = None):
        self.config = config
        self.next_cid = next_cid
        self.listening = listening
        self.source = source
        self.vhost = vhost
        self.destinations = tuple(destinations)
        self.backend = backend
        self.hooks = hooks
        self.publisher_of = publisher_of
        self.asking: Optional[gevent.Greenlet] = None  # the backend request of this publish
        self.cache = HeaderCache()
        self.forwarders: List[Forwarder] = []

    def is_loop(self, host: str, port: int) -> bool:
        """A destination that is one of our own listeners (same vhost: forward keeps the vhost)."""
        listen = self.config().listen
        ports = {p for _, p in listen} | set(self.listening())  # "listen 0" is the port it got
        listen_hosts = {h for h, _ in listen}
        return port in ports and (host in LOCAL_HOSTS or host in listen_hosts)

    def on_publish(self, source) -> None:
        self.cache.reset()
        vhost, app, stream = split_url(source.url)
        for host, port in self.destinations:
            if self.is_loop(host, port):
                err = SrsError(f"forward {source.url} to {host}:{port} is a loop to ourselves, refused",
                               ERROR_SYSTEM_FORWARD_LOOP)
                log.error("%s", err)
                continue
            fwd = Forwarder(self.cache, vhost, app, stream, [(host, port)], self.next_cid())
            self.forwarders.append(fwd)
            fwd.start()
            log.info("forward %s to %s:%d started", source.url, host, port)
        if self.backend and self.hooks is not None and source.publisher_cid is not None:
            self.asking = gevent.spawn(self._ask_backend, source.url, source.publisher_cid)

    def _ask_backend(self, url: str, cid: int) -> None:
        """SRS 5's create_backend_forwarders: one forwarder per url the backend answers."""
        cid_var.set(cid)
        info = self.publisher_of(cid) if self.publisher_of is not None else None
        if info is None:
            log.warning("forward backend %s: publisher cid=%d of %s is gone", self.backend, cid, url)
            return
        req, ip = info
        try:
            urls = self.hooks.on_forward(self.backend, req, cid, ip)
        except SrsError as e:
            log.warning("forward backend %s for %s failed, no dynamic forward: %s", self.backend, url, e)
            return
        for target in urls:
            tc_url, stream_param = parse_rtmp_url(target)
            schema, host, vhost, app, stream, port, param = discover_tc_url(tc_url, stream_param)
            if schema != "rtmp" or not host or not app or not stream:
                log.warning("forward backend %s: ignore url %r (want rtmp://host[:port]/app/stream)", self.backend,
                            target)
                continue
            if (app, stream) == tuple(split_url(url)[1:]) and self.is_loop(host, port):
                log.error("%s", SrsError(f"forward {url} to {target} is a loop to ourselves, refused",
                                         ERROR_SYSTEM_FORWARD_LOOP))
                continue
            fwd = Forwarder(self.cache, vhost, app, stream, [(host, port)], self.next_cid(), tc_param=param)
            fwd.accepting = False  # it starts after the publish: its first connection begins from the caches
            self.forwarders.append(fwd)
            fwd.start()
            log.info("forward %s to %s (backend) started", url, target)

    def on_message(self, msg: Message) -> None:
        self.cache.on_message(msg)
        for fwd in self.forwarders:
            fwd.push(msg)

    def on_unpublish(self, source) -> None:
        url = source.url
        asking, self.asking = self.asking, None
        if asking is not None and asking is not gevent.getcurrent():
            asking.kill(block=False)  # a late answer must not start forwarders for a stream that is gone

        def stopped(fwd: Forwarder) -> None:
            log.info("forward %s to %s:%d stopped, sent=%d msgs, dropped=%d", url, *fwd.destination,
                     fwd.sent_msgs, fwd.dropped)

        for fwd in self.forwarders:
            fwd.finish(DRAIN_S, stopped)
        self.forwarders = []
        self.cache.reset()


def make_hub_output(source, vhost: str, *, config: ConfigSource, next_cid: CidSource, listening: ListenPorts,
                    hooks: Optional[HttpHooks] = None,
                    publisher_of: Optional[PublisherOf] = None) -> Optional[ForwardHub]:
    """The hub factory: a ForwardHub when the vhost has forward destinations or a backend."""
    vc = config().vhost(vhost)
    dests = vc.forward_destinations if vc is not None else ()
    backend = getattr(dests, "backend", "")  # SRS 5's forward { backend } (config/view.py ForwardDestinations)
    if not dests and not backend:
        return None
    return ForwardHub(source, vc.name, dests, config=config, next_cid=next_cid,
                      listening=listening, backend=backend, hooks=hooks, publisher_of=publisher_of)
