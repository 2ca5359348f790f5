"""protocol/kbps: cumulative byte counters and the 30 s kbps window, driven by the caller's clock."""
from __future__ import annotations

from srs.protocol.kbps import KBPS_WINDOW_MS, Kbps


def test_kbps_over_the_window():
    k = Kbps()
    k.sample(0)
    k.add(1000, 125_000)
    k.sample(1000)
    assert (k.recv_kbps_30s, k.send_kbps_30s) == (8, 1000)  # bytes * 8 / ms
    assert k.dumps() == {"recv_30s": 8, "send_30s": 1000}
    assert (k.recv_bytes, k.send_bytes) == (1000, 125_000)


def test_kbps_window_forgets_old_samples():
    k = Kbps()
    k.sample(0)
    k.add(0, 1_000_000)
    k.sample(1000)        # 8000 kbps burst
    for t in range(2000, 2000 + KBPS_WINDOW_MS + 5000, 1000):
        k.sample(t)       # then silence
    assert k.send_kbps_30s == 0
    assert Kbps().send_kbps_30s == 0  # no samples: 0, not a crash


def test_recent_kbps_spans_the_client_life_then_one_to_two_windows():
    from srs.protocol.kbps import RecentKbps
    k = RecentKbps(1000)
    assert k.read(1000, 0, 0) == {"recv_30s": 0, "send_30s": 0}
    # 10 s in at 800 kbit/s sent: the whole life so far
    assert k.read(11_000, 0, 1_000_000) == {"recv_30s": 0, "send_30s": 800}
    # 40 s in: the first checkpoint moves to now; the rate still spans the life (one window of history)
    assert k.read(41_000, 0, 4_000_000) == {"recv_30s": 0, "send_30s": 800}
    # the rate drops to 80 kbit/s after 41 s: 70 s in, the figure spans 41..70 s alone
    assert k.read(71_000, 300_000, 4_300_000) == {"recv_30s": 80, "send_30s": 80}
    # read twice at the same instant: the same figure (checkpoints moved only once)
    assert k.read(71_000, 300_000, 4_300_000) == {"recv_30s": 80, "send_30s": 80}
