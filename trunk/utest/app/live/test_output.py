"""Output, the non-blocking writer of the fan-out, on real sockets (gevent socketpairs): the backlog
of a full socket, and write_blocking behind a backlog (the connection's own replies)."""
import gevent
import gevent.socket
import pytest

from srs.app.live.output import Output, OutputClosed


def full_pair():
    """An Output whose socket is full: a backlog waits, drained by its own greenlet."""
    a, b = gevent.socket.socketpair()
    a.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
    out = Output(a, 7)
    first = bytes(range(256)) * 4096  # 1 MB: far more than the socket buffers hold
    out.write(first)
    assert out.blocked and out.drainer is not None
    return out, b, first


def read_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(65536, n - len(data)))
        assert chunk, "peer closed early"
        data += chunk
    return bytes(data)


def test_write_blocking_behind_a_backlog_returns_once_everything_is_sent_in_order():
    out, peer, first = full_pair()
    reply = b"reply" * 100
    waiter = gevent.spawn(out.write_blocking, reply)
    gevent.sleep(0)
    assert not waiter.ready()  # the backlog is not drained: the reply waits behind it
    received = read_exactly(peer, len(first) + len(reply))
    waiter.join(5)
    assert waiter.successful() and waiter.value is None
    assert received == first + reply
    assert not out.blocked and out.drainer is None and out.sent_bytes == len(first) + len(reply)


def test_write_blocking_raises_when_the_output_closes_while_it_waits():
    out, peer, _ = full_pair()
    waiter = gevent.spawn(out.write_blocking, b"reply")
    gevent.sleep(0)
    assert not waiter.ready()
    out.close()  # a kick, or the drainer's send timeout
    waiter.join(5)
    assert waiter.ready() and isinstance(waiter.exception, OutputClosed)
    with pytest.raises(OutputClosed):
        out.write_blocking(b"more")
    peer.close()
