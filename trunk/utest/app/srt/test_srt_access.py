"""Who may use the SRT server: passphrases (pbkeylen 16 and 32), http_hooks that refuse a publish,
the API's kick, the vhost's srt gate, the conf rows and their SRS_* variables."""
from __future__ import annotations

import json
import signal
import urllib.request

import pytest

from fixtures.api_server import ApiServer
from fixtures.srs_server import Player, SrsProcess, wait_for
from srs.app.config.conf import Config
from srs.app.srt.server import listener_config
from srt_clients import (RawCaller, count_frames, ffmpeg_play, ffmpeg_publish, free_udp_port, sid, source_frames,
                         srt_url)

PASSPHRASE = "a-secret-of-some-length"


def api(srs, path: str, method: str = "GET"):
    req = urllib.request.Request(srs.api_url(path), method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def srt_clients(srs, kind: str) -> list:
    return [c for c in api(srs, "/api/v1/clients")["clients"] if c["type"] == kind]


def test_srt_rows_defaults_and_env():
    c = Config.parse_text("listen 1935; vhost __defaultVhost__ { }")
    s = c.srt_server
    assert (s.enabled, s.listen, s.latency, s.peerlatency, s.peer_idle_timeout, s.payloadsize, s.default_app) == \
        (False, ("0.0.0.0", 10080), 120, 0, 10000, 1316, "live")
    assert (c.vhost("x").srt.enabled, c.vhost("x").srt.srt_to_rtmp) == (False, True)
    env = Config.from_env({"SRS_LISTEN": "1935", "SRS_SRT_SERVER_ENABLED": "on", "SRS_SRT_SERVER_LISTEN": "10090",
                           "SRS_SRT_SERVER_LATENCY": "300", "SRS_SRT_SERVER_PASSPHRASE": PASSPHRASE,
                           "SRS_SRT_SERVER_PBKEYLEN": "32", "SRS_VHOST_SRT_ENABLED": "on"})
    s = env.srt_server
    assert (s.enabled, s.listen[1], s.latency, s.passphrase, s.pbkeylen) == (True, 10090, 300, PASSPHRASE, "32")
    assert env.vhost("__defaultVhost__").srt.enabled
    lc = listener_config(s)
    assert (lc.recv_latency_ms, lc.pbkeylen, lc.passphrase) == (300, 32, PASSPHRASE.encode())
    # SRS 4's spelling is accepted with a warning, not an error
    c = Config.parse_text("listen 1935; srt_server { enabled on; tlpkdrop off; } vhost __defaultVhost__ { }")
    assert any("tlpkdrop" in w for w in c.warnings)


@pytest.mark.parametrize("pbkeylen", [16, 32])
def test_passphrase_publish_and_play_wrong_one_refused(tmp_path, pbkeylen):
    port = free_udp_port()
    body = f"srt_server {{ enabled on; listen {port}; passphrase {PASSPHRASE}; pbkeylen {pbkeylen}; }}"
    with SrsProcess(tmp_path, vhost_body="srt { enabled on; }", global_body=body) as srs:
        stream = f"live/enc{pbkeylen}"
        for bad in ({"passphrase": "not-the-right-one", "pbkeylen": pbkeylen}, {}):
            r = ffmpeg_publish(srt_url(port, f"#!::r={stream},m=publish", **bad), seconds=1, timeout_s=20)
            assert r.returncode != 0
        assert "published" not in srs.log_text()
        # the player after the refusals: it gives up after its idle timeout without data
        out = str(tmp_path / "play.ts")
        player = ffmpeg_play(srt_url(port, f"#!::r={stream},m=request", passphrase=PASSPHRASE,
                                     pbkeylen=pbkeylen, latency=500000), out)
        assert srs.wait_players(stream, 1), srs.log_text()[-3000:]
        pub = ffmpeg_publish(srt_url(port, f"#!::r={stream},m=publish", passphrase=PASSPHRASE, pbkeylen=pbkeylen,
                                     linger=2, latency=500000), wait=False)
        entry = wait_for(lambda: srt_clients(srs, "srt-publish"), timeout_s=15)
        assert entry and entry[0]["srt"]["encrypted"]
        assert all(c["srt"]["encrypted"] for c in srt_clients(srs, "srt-play"))
        _, err = pub.communicate(timeout=30)
        assert pub.returncode == 0, err
        _, err = player.communicate(timeout=30)
        got, want = count_frames(out), source_frames(4)
        assert got["h264"] == (want["h264"], 768, 320) and got["aac"][0] == want["aac"], (got, err)
        assert "Traceback" not in srs.log_text()


def test_hooks_refuse_publish_and_api_kicks(tmp_path):
    port = free_udp_port()
    with ApiServer("--deny-publish", "denied") as hooks_srv:
        hooks = (f"http_hooks {{ enabled on; on_connect {hooks_srv.url('/api/v1/clients')}; "
                 f"on_publish {hooks_srv.url('/api/v1/streams')}; on_unpublish {hooks_srv.url('/api/v1/streams')}; "
                 f"on_close {hooks_srv.url('/api/v1/clients')}; }}")
        with SrsProcess(tmp_path, vhost_body="srt { enabled on; }\n" + hooks,
                        global_body=f"srt_server {{ enabled on; listen {port}; }}") as srs:
            r = ffmpeg_publish(srt_url(port, "#!::r=live/denied,m=publish"), seconds=1, timeout_s=20)
            assert r.returncode != 0
            assert srs.wait_log("refused (1403): publish denied")
            assert "source __defaultVhost__/live/denied published" not in srs.log_text()
            # an allowed publish, then the API's DELETE ends it: ffmpeg sees the SHUTDOWN
            rtmp = Player(srs.rtmp_url("live/kicked"), max_seconds=30, read_timeout_s=3, decode=False)
            rtmp.start()
            pub = ffmpeg_publish(srt_url(port, "#!::r=live/kicked,m=publish"), seconds=20, wait=False)
            assert srs.wait_published("live/kicked", timeout_s=15), srs.log_text()[-3000:]
            assert wait_for(lambda: rtmp.video_frames > 10, timeout_s=15)
            cid = srt_clients(srs, "srt-publish")[0]["id"]
            assert api(srs, f"/api/v1/clients/{cid}", "DELETE")["code"] == 0
            assert srs.wait_log("SRT client closed, local, srt-publish")
            assert srs.wait_unpublished("live/kicked")
            pub.wait(20)
            assert not srt_clients(srs, "srt-publish")
            rtmp.join(20)
            actions = [(e["body"]["action"], e["body"].get("stream")) for e in hooks_srv.received()]
            assert ("on_publish", "kicked") in actions and ("on_unpublish", "kicked") in actions
            assert ("on_publish", "denied") in actions and ("on_unpublish", "denied") not in actions
            assert sum(a == "on_close" for a, _ in actions) >= 2
            assert "Traceback" not in srs.log_text()


def test_vhost_without_srt_refuses(tmp_path):
    port = free_udp_port()
    with SrsProcess(tmp_path, global_body=f"srt_server {{ enabled on; listen {port}; }}") as srs:
        r = ffmpeg_publish(srt_url(port, "#!::r=live/x,m=publish"), seconds=1, timeout_s=20)
        assert r.returncode != 0
        assert srs.wait_log("refused (1403): srt disabled in vhost __defaultVhost__")


def test_reload_listens_again_with_the_new_options(tmp_path):
    port = free_udp_port()
    with SrsProcess(tmp_path, vhost_body="srt { enabled on; }",
                    global_body=f"srt_server {{ enabled on; listen {port}; latency 120; }}") as srs:
        assert srs.wait_log(f"SRT listen at udp://0.0.0.0:{port}, latency=120ms")
        conf = open(srs.conf_path).read().replace("latency 120;", "latency 300;")
        with open(srs.conf_path, "w") as f:
            f.write(conf)
        srs.signal(signal.SIGHUP)
        assert srs.wait_log(f"SRT listen at udp://0.0.0.0:{port}, latency=300ms"), srs.log_text()[-2000:]
        assert srs.wait_log("SRT server stopped")
        pub = ffmpeg_publish(srt_url(port, "#!::r=live/reloaded,m=publish"), seconds=1, timeout_s=20)
        assert pub.returncode == 0, pub.stderr
        assert srs.wait_unpublished("live/reloaded")
        assert "latency 300ms" in srs.log_text()


def test_max_connections_and_security_rules(tmp_path):
    """SRT callers take slots of max_connections like TCP clients (past it: SRT_REJ_RESOURCE), and the
    vhost's security rules refuse them (1403), freeing their slot."""
    port = free_udp_port()
    conf = ("listen {rtmp_port}; max_connections 2; daemon off; pid {pid}; srs_log_tank file; srs_log_file {log};\n"
            f"srt_server {{{{ enabled on; listen {port}; }}}}\n"
            "vhost __defaultVhost__ {{ srt {{ enabled on; }} security {{ enabled on; deny publish all; "
            "allow play all; }} }}\n")
    with SrsProcess(tmp_path, conf=conf) as srs:
        assert srs.wait_log("SRT listen at")
        callers = [RawCaller(port, socket_id=0x7000 + i) for i in range(4)]
        try:
            assert callers[0].connect(sid("#!::r=live/a,m=request")) == "accepted"
            assert callers[1].connect(sid("#!::r=live/a,m=publish")) == 1403
            assert callers[2].connect(sid("#!::r=live/b,m=request")) == "accepted"
            assert callers[3].connect(sid("#!::r=live/c,m=request")) == 3   # SRT_REJ_RESOURCE
        finally:
            for c in callers:
                c.close()
        assert srs.wait_log("max_connections 2 reached")
        assert "security: publish denied" in srs.log_text()
