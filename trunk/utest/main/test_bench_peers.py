"""The bench's servers (ours and the peers), its process-tree sampler and the epoll reader the
load tools share. The peers run only where research/bench/install-peers.sh put them (never in
`make test`'s requirements): their tests skip otherwise."""
import json
import os
import re
import shutil
import subprocess
import sys

import gevent
import gevent.socket
import psutil
import pytest

from fixtures.media import make_flv
from fixtures.srs_server import wait_for
from srs.main.bench import common, peers
from srs.main.bench.drain import Drain
from srs.main.bench.rig import Rig, Sampler, one_run


class _Opts:
    read_size = 0


def test_drain_reads_until_eof_limit_or_callback():
    stats = common.Stats(3)
    d = Drain(stats)
    a, a_peer = gevent.socket.socketpair()
    b, b_peer = gevent.socket.socketpair()
    c, c_peer = gevent.socket.socketpair()
    seen = []

    def stop_after_two(s, n):
        seen.append(n)
        return len(seen) == 2

    ga = gevent.spawn(d.read, a, 5)
    gb = gevent.spawn(d.read, b, 0, 10)
    gc = gevent.spawn(d.read, c, 0, None, stop_after_two)
    gevent.sleep(0.05)
    a_peer.sendall(b"x" * 1000)
    b_peer.sendall(b"y" * 10 + b"z" * 7)  # the limit ends it; what lies beyond is not waited for
    c_peer.sendall(b"1")
    gevent.sleep(0.05)
    c_peer.sendall(b"22")
    gevent.sleep(0.05)
    a_peer.close()
    assert ga.get(timeout=2) == 1005  # EOF on a live stream: the total, counted before included
    assert gb.get(timeout=2) >= 10
    assert gc.get(timeout=2) == 3 and seen == [1, 2]
    assert stats.nread == 1000 + gb.value + 3
    assert not d.streams
    for s in (a, b, c, b_peer, c_peer):
        s.close()


def test_drain_short_body_and_errors_end_only_that_stream():
    stats = common.Stats(2)
    d = Drain(stats)
    a, a_peer = gevent.socket.socketpair()
    b, b_peer = gevent.socket.socketpair()
    ga = gevent.spawn(d.read, a, 0, 100)
    gb = gevent.spawn(d.read, b)
    gevent.sleep(0.05)
    a_peer.sendall(b"x" * 40)
    a_peer.close()
    with pytest.raises(ValueError, match="short by 60"):
        ga.get(timeout=2)
    b_peer.sendall(b"still here")
    gevent.sleep(0.05)
    assert not gb.ready() and stats.nread == 50
    gb.kill()  # a client killed at the end of a run leaves the reader clean
    assert not d.streams
    for s in (a, b, b_peer):
        s.close()


def test_drain_paces_reads_into_batches():
    """--read-size: after the first second (the rate is learnt), a short read parks the socket
    until about 16 KB are due, so 2 s of 2 KB writes every 10 ms take far fewer reads than writes."""
    stats = common.Stats(1)
    d = Drain(stats, read_size=16384)
    a, a_peer = gevent.socket.socketpair()
    reads = []
    g = gevent.spawn(d.read, a, 0, None, lambda s, n: reads.append(n) and False)
    writes = 200
    for _ in range(writes):
        a_peer.sendall(b"x" * 2000)
        gevent.sleep(0.01)
    a_peer.close()
    assert g.get(timeout=3) == writes * 2000
    assert len(reads) < 0.75 * writes, len(reads)
    assert max(reads) >= 8000  # batches, not single writes
    a.close()


def test_select_names_and_unknown():
    kinds, skipped = peers.select("srs-py")
    assert [k.name for k in kinds] == ["srs-py"] and skipped == []
    kinds, skipped = peers.select("srs-py,srs", srs_binary="")
    assert [k.name for k in kinds] == ["srs-py"] and skipped == ["srs: no --srs-binary given"]
    with pytest.raises(SystemExit, match="unknown server nginx"):
        peers.select("nginx")
    assert peers.OURS.version().startswith("SRS-py ")


def _rig(tmp_path, kind):
    media = {"path": "", "kbps": 600}
    return Rig(str(tmp_path), media, "conf", kind=kind, max_connections=3000)


def test_our_bench_conf_is_valid(tmp_path):
    rig = _rig(tmp_path, peers.OURS)
    argv = peers.OURS.argv(rig)
    r = subprocess.run(argv + ["-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "ok" in r.stdout + r.stderr, r.stdout + r.stderr


def test_peer_templates_fill_every_field(tmp_path):
    rig = _rig(tmp_path, peers.NginxRtmp())
    peers.NginxRtmp().argv(rig)
    peers.NodeMediaServer().argv(rig)
    nginx = open(os.path.join(rig.dir, "nginx.conf")).read()
    nms = json.load(open(os.path.join(rig.dir, "nms.json")))
    assert not re.search(r"@[A-Z_]+@", nginx) and f"listen 127.0.0.1:{rig.rtmp_port};" in nginx
    assert "worker_connections 3000;" in nginx
    assert nms["rtmp"]["port"] == rig.rtmp_port and nms["http"]["port"] == rig.http_port
    if shutil.which("nginx") and os.path.isfile(peers.NGINX_MODULE):
        r = subprocess.run(["nginx", "-t", "-p", rig.dir, "-e", os.path.join(rig.dir, "error.log"),
                            "-c", os.path.join(rig.dir, "nginx.conf")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_sampler_adds_up_the_process_tree():
    """The sampler's CPU is the parent's plus the child's, read here over a window that brackets its
    own (how much CPU the busy child gets depends on the machine's load, so no fixed share)."""
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    t = time.time()\n"
            "    while time.time() - t < 4: pass\n"
            "    os._exit(0)\n"
            "time.sleep(4)\n")
    p = subprocess.Popen([sys.executable, "-c", code])
    try:
        parent_proc = psutil.Process(p.pid)
        child_proc = wait_for(parent_proc.children, 5, 0.01)[0]
        parent = parent_proc.memory_info().rss

        def cpu_s(proc):
            return sum(proc.cpu_times()[:2])

        before = (cpu_s(parent_proc), cpu_s(child_proc))
        s = Sampler(p.pid).run(2)
        after = (cpu_s(parent_proc), cpu_s(child_proc))
        sampled_s = s.avg_cpu / 100.0 * (s.t1 - s.t0)
        parent_s, child_s = after[0] - before[0], after[1] - before[1]
        assert child_s > parent_s + 0.05, (parent_s, child_s)  # a busy loop beside a sleeper
        # the child's time is in the sum (the sampler's window lies inside ours)
        assert parent_s + 0.5 * child_s < sampled_s <= parent_s + child_s + 0.02, (sampled_s, parent_s, child_s)
        assert min(s.rss) > parent  # the child's RSS is added to the parent's
    finally:
        p.wait(10)


@pytest.mark.parametrize("name", ["srs-py", "nginx-rtmp", "node-media-server"])
def test_one_run_against_each_server(tmp_path, name, media_dir):
    kinds, skipped = peers.select(name)
    if not kinds:
        pytest.skip(skipped[0])
    info = make_flv(media_dir / "bench_peer.flv", seconds=4, width=320, height=240, fps=25, gop=25)
    media = {"path": info.path, "kbps": info.size * 8 / info.duration_ms}
    # a 4 s window: 2 s saw one GOP burst more or less on a loaded machine (a ratio of 0.57 once)
    r = one_run(str(tmp_path), media, "rtmp", 5, steady=4, settle=1, kind=kinds[0])
    # the window opens once all 5 were alive (the load tool's --ready), however slowly the tool started
    assert r["joined_s"] is not None and r["alive"] == 5 and r["etasks"] == 0, r
    assert 0.6 < r["ratio"] < 1.5, r  # every player got about the stream's bitrate
    assert r["rss_mb"] > 5 and r["cpu"] >= 0
