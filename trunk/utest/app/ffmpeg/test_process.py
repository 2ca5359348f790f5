"""The child registry a server owns (ChildRegistry): every supervised child is tracked by the registry
it was given, and stop_all ends exactly those — a child that ignores SIGTERM with SIGKILL — with no
zombie left. Real processes (sleep, sh), driven by gevent in this process."""
import time

import gevent
import psutil

from srs.app.ffmpeg.process import ChildRegistry, SupervisedProcess

STUBBORN = ["/bin/sh", "-c", "trap '' TERM; sleep 30"]


def until(cond, timeout_s=10.0):
    """Polls ``cond`` between gevent switches (the supervisors run in this hub) until the deadline."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        gevent.sleep(0.01)


def tree(proc: SupervisedProcess) -> list:
    """The child and its descendants (the sh's sleep), as psutil processes."""
    p = psutil.Process(proc.pid)
    return [p] + p.children(recursive=True)


def gone(procs) -> bool:
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def test_stop_all_ends_the_registrys_own_children_only():
    mine, other = ChildRegistry(), ChildRegistry()
    plain = SupervisedProcess(["sleep", "30"], children=mine, tag="plain")
    stubborn = SupervisedProcess(STUBBORN, children=mine, tag="stubborn")
    theirs = SupervisedProcess(["sleep", "30"], children=other, tag="theirs")
    for p in (plain, stubborn, theirs):
        p.start()
    until(lambda: all(p.pid for p in (plain, stubborn, theirs)))
    until(lambda: len(tree(stubborn)) == 2)  # the shell has started its sleep
    mine_procs = tree(plain) + tree(stubborn)
    theirs_procs = tree(theirs)
    assert mine.supervised == {plain, stubborn} and len(mine.children) == 2 and other.supervised == {theirs}
    t0 = time.monotonic()
    assert mine.stop_all(timeout_s=0.5) == 2
    assert time.monotonic() - t0 < 3  # SIGKILL after the timeout, not the supervisor's 3 s
    # the children are reaped; the shell's own sleep got the group's SIGKILL and exits a moment later
    until(lambda: gone(mine_procs), 5)
    assert not mine.supervised and not mine.children
    assert plain.stopped and stubborn.stopped and plain.pid is None
    assert not gone(theirs_procs) and theirs.pid is not None  # another server's child lives on
    assert other.stop_all() == 1 and not other.children
    until(lambda: gone(theirs_procs), 5)


def test_a_stopped_child_is_reaped_and_leaves_the_registry():
    reg = ChildRegistry()
    proc = SupervisedProcess(["sleep", "30"], children=reg, tag="one")
    proc.start()
    until(lambda: proc.pid is not None)
    procs = tree(proc)
    proc.stop()
    assert not reg.supervised
    assert proc.wait_stopped()
    until(lambda: not reg.children)
    until(lambda: gone(procs), 5)
    assert reg.stop_all() == 0
