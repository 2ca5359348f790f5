"""hls { hls_ctx on; } (SRS 5) on the real server: the first .m3u8 answer is a master playlist with a
session id; the session is an hls-play client (API) with on_play and, once idle, on_stop hooks (bodies
checked by the strict SRS 5 receiver); its playlist's segments carry hls_ctx. Off, the file is served."""
from __future__ import annotations

import json
import os
import re
import urllib.request

from fixtures.srs5_receiver import Srs5Receiver
from fixtures.srs_server import SrsProcess, publish_bg, wait_for, wait_port


def get(srs, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{srs.http_port}{path}", timeout=5) as resp:
        return resp.read()


def hls_body(srs_html: str, extra: str = "") -> str:
    return f"hls {{ enabled on; hls_fragment 1; hls_window 2; hls_path {srs_html}; {extra} }}"


def test_hls_player_is_a_session_with_hooks(tmp_path, media_flv):  # hls_ctx on: SRS 5's default
    with Srs5Receiver() as rx:
        hooks = f"http_hooks {{ enabled on; on_play {rx.url('/play')}; on_stop {rx.url('/stop')}; }}"
        srs = SrsProcess(tmp_path, vhost_body=hls_body(str(tmp_path / "html")) + hooks)
        with srs:
            assert wait_port(srs.http_port)
            pub = publish_bg(media_flv.path, srs.rtmp_url("live/ctx"), loops=3, speed=2.0)
            m3u8 = os.path.join(srs.html, "live", "ctx.m3u8")
            assert wait_for(lambda: os.path.exists(m3u8), 15)
            master = get(srs, "/live/ctx.m3u8?token=abc").decode()
            assert master.startswith("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n"), master
            ctx = re.search(r"^/live/ctx\.m3u8\?hls_ctx=([a-z0-9]{8})&token=abc$", master, re.M).group(1)
            [play] = rx.bodies("on_play")
            assert play["param"] == "?token=abc" and play["stream"] == "ctx" and play["tcUrl"].startswith("http://")
            with urllib.request.urlopen(srs.api_url("/api/v1/clients"), timeout=5) as resp:
                clients = json.loads(resp.read())["clients"]
            [me] = [c for c in clients if c["type"] == "hls-play"]
            assert me["id"] == play["client_id"]
            playlist = get(srs, f"/live/ctx.m3u8?hls_ctx={ctx}").decode()
            segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
            assert segments and all(line.endswith(f".ts?hls_ctx={ctx}") for line in segments), playlist
            assert len(get(srs, "/live/" + segments[-1])) > 188
            assert len(rx.bodies("on_play")) == 1  # the session's requests are not new players
            pub.join(30)
            # nobody asks any more: the session ends after 2 x hls_window, with on_stop
            assert wait_for(lambda: rx.bodies("on_stop"), 15)
            [stop] = rx.bodies("on_stop")
            assert stop["client_id"] == play["client_id"] and rx.errors == []


def test_without_hls_ctx_the_playlist_is_the_file(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=hls_body(str(tmp_path / "html"), "hls_ctx off;")) as srs:
        assert wait_port(srs.http_port)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/plain"), speed=2.0)
        m3u8 = os.path.join(srs.html, "live", "plain.m3u8")
        assert wait_for(lambda: os.path.exists(m3u8), 15)
        body = get(srs, "/live/plain.m3u8").decode()
        assert "#EXT-X-TARGETDURATION" in body and "hls_ctx" not in body
        pub.join(30)
