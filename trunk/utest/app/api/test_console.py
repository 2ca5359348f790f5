"""``/console/`` (app/api/console.py, research/console): the console page over the HTTP API.

The real server process. The files test reads the page and its scripts with urllib; the browser test
publishes a live stream with PyAV, plays it with a PyAV RTMP player, opens the console in headless
Chromium (behind ``http_api { auth {} }``, the credentials typed into the URL as a user would) and
checks what the page shows: the stream's name, codecs and resolution, the player in the clients
table; one-click HTTP-FLV and HLS previews decode at the source's size; the kick button disconnects the
RTMP player. Screenshots are left in the test's tmp dir (doc/console.png was taken the same way, with two
streams and a minute of charts, at 0.75 scale).
"""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import TRUNK, Player, SrsProcess, media_playlist, publish_bg, wait_for
from srs.app.api.console import console_env, console_files
from srs.app.config.conf import Config
from srs.main.bench.srt_runs import free_udp_port

CONSOLE = os.path.join(TRUNK, "research", "console")
PLAYERS = os.path.join(TRUNK, "research", "players")
USER, PASSWORD = "admin", "s3cret"
FLV_MOUNT = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def _get(url: str, auth: bool = False):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_console_files_and_env(tmp_path):
    """The page, its own scripts and the players' scripts come back byte for byte; nothing else of the
    disk does; env.json tells the page where HTTP-FLV and HLS are."""
    with SrsProcess(tmp_path, vhost_body=FLV_MOUNT + f" hls {{ enabled on; hls_path {tmp_path}/html/hls; }}") as srs:
        for name, folder in (("", CONSOLE), ("console.js", CONSOLE), ("console.css", CONSOLE),
                             ("js/mpegts.js", PLAYERS), ("js/hls.min.js", PLAYERS)):
            status, headers, body = _get(srs.api_url("console/" + name))
            assert status == 200, name
            with open(os.path.join(folder, name or "index.html"), "rb") as f:
                assert body == f.read(), name
        assert _get(srs.api_url("console/"))[1]["Content-Type"].startswith("text/html")
        for bad in ("console/../conf/srs.conf", "console/%2e%2e/%2e%2e/conf/srs.conf", "console/js/../console.js/",
                    "console/README.md", "console/js/index.html", "console/nope.js"):
            assert _get(srs.api_url(bad))[0] == 404, bad
        status, _, body = _get(srs.api_url("console/env.json"))
        env = json.loads(body)
        assert status == 200 and env["http_server"] == {"enabled": True, "port": srs.http_port}, env
        assert env["vhosts"] == [{"name": "__defaultVhost__", "flv": "[vhost]/[app]/[stream].flv",
                                  "hls": "hls/[app]/[stream].m3u8", "webrtc": False}], env
        # SRS's console URL without the slash
        req = urllib.request.Request(srs.api_url("console"))
        assert urllib.request.urlopen(req, timeout=5).geturl().endswith("/console/")


def test_console_env_without_http_server():
    """HLS outside the HTTP server's folder, or no HTTP server: no preview link the page cannot play."""
    conf = Config.parse_text("listen 1935;\nhttp_server { enabled on; dir /srv/html; }\nvhost a { hls { enabled on; hls_path /srv/x; } }"
                             "\nvhost b { http_remux { enabled on; } }", file="t")
    env = console_env(conf)
    assert {v["name"]: (v["flv"], v["hls"]) for v in env["vhosts"]} == {
        "a": (None, None), "b": ("[vhost]/[app]/[stream].flv", None)}
    off = console_env(Config.parse_text("listen 1935;\nvhost b { http_remux { enabled on; } hls { enabled on; } }", file="t"))
    assert off["http_server"]["enabled"] is False and off["vhosts"][0]["flv"] is None and off["vhosts"][0]["hls"] is None


def test_console_env_webrtc_preview_only_where_whep_plays():
    """A WebRTC preview link where the WHEP signalling would accept a player: rtc_server on, and the
    vhost's rtc with rtmp_to_rtc (the page's streams are mostly RTMP-published)."""
    text = ("listen 1935;\nrtc_server { enabled %s; listen 8000; }\n"
            "vhost a { rtc { enabled on; rtmp_to_rtc on; } }\nvhost b { rtc { enabled on; rtmp_to_rtc off; } }\n"
            "vhost c { }")
    on = console_env(Config.parse_text(text % "on", file="t"))
    assert {v["name"]: v["webrtc"] for v in on["vhosts"]} == {"a": True, "b": False, "c": False}
    off = console_env(Config.parse_text(text % "off", file="t"))
    assert not any(v["webrtc"] for v in off["vhosts"])


def test_console_files_listed_once(tmp_path):
    """Only files with a served extension, found when the app is built; no folder walk at request time."""
    (tmp_path / "c").mkdir()
    for name in ("index.html", "a.js", "notes.md", "x.py"):
        (tmp_path / "c" / name).write_text("x")
    (tmp_path / "c" / "sub").mkdir()
    files = console_files(str(tmp_path / "c"), PLAYERS)
    assert sorted(files) == ["a.js", "index.html", "js/hls.min.js", "js/mpegts.js"]
    assert console_files(None, None) == {}


PROBE = """JSON.stringify({
  ticks: srsConsole.ticks, errors: srsConsole.errors, lastError: srsConsole.lastError,
  streams: Array.from(document.querySelectorAll('#streams-body tr')).map(r => ({
    name: r.querySelector('.name').innerText, video: r.querySelector('.video').innerText,
    audio: r.querySelector('.audio').innerText, players: r.querySelector('.players').innerText,
    previews: Array.from(r.querySelectorAll('button[data-preview]')).map(b => b.dataset.preview),
    snapshot: r.querySelector('img.snapshot') ? r.querySelector('img.snapshot').naturalWidth : null})),
  clients: Array.from(document.querySelectorAll('#clients-body tr')).map(r => r.dataset.client),
  cpuPoints: srsConsole.history.cpuSelf.length, netPoints: srsConsole.history.recv.length,
  config: document.getElementById('config-view').textContent.length
})"""
VIDEO = ("JSON.stringify({w: document.getElementById('video').videoWidth, "
         "t: document.getElementById('video').currentTime, p: srsConsole.preview || null})")


def _probe(page, script: str = PROBE):
    try:
        return json.loads(page.evaluate(script))
    except Exception:  # noqa: BLE001 - the page is still loading
        return None


def test_console_in_chromium_with_auth(tmp_path, media_flv):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    hls = f"hls {{ enabled on; hls_fragment 1; hls_window 10; hls_path {tmp_path / 'html'}; }}"
    srs = SrsProcess(tmp_path, vhost_body=FLV_MOUNT + hls)
    auth = f"auth {{ enabled on; username {USER}; password {PASSWORD}; }}"
    text = open(srs.conf_path).read().replace(f"listen {srs.api_port}; }}", f"listen {srs.api_port}; {auth} }}")
    open(srs.conf_path, "w").write(text)
    with srs:
        # no credentials: the page and its data are refused, the browser gets the challenge
        for path in ("console/", "console/env.json", "console/console.js", "api/v1/streams"):
            status, headers, _ = _get(srs.api_url(path))
            assert status == 401 and headers["WWW-Authenticate"].startswith("Basic"), path
        assert _get(srs.api_url("console/"), auth=True)[0] == 200
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=30)
        assert srs.wait_published("live/livestream"), srs.output()
        player = Player(srs.rtmp_url("live/livestream"), max_seconds=90, read_timeout_s=10)
        player.start()
        assert srs.wait_players("live/livestream"), srs.output()
        url = srs.api_url("console/?interval=500").replace("http://", f"http://{USER}:{PASSWORD}@")
        with Chromium(tmp_path) as browser:
            page = browser.new_page(url)
            # the stream with its codecs, and both clients (publisher, player), are on the page
            shown = wait_for(lambda: (lambda s: s if s and s["streams"] and s["streams"][0]["video"]
                                      and len(s["clients"]) >= 2 and s["netPoints"] >= 2 else None)(_probe(page)),
                             30, 0.25)
            assert shown, (_probe(page), page.console()[-10:])
            page.screenshot(tmp_path / "console.png")
            s = shown["streams"][0]
            assert "live/livestream" in s["name"] and "publishing" in s["name"], shown
            assert s["video"].startswith("H264") and f"{media_flv.width}x{media_flv.height}" in s["video"], shown
            assert s["audio"].startswith("AAC") and "44100Hz 2ch" in s["audio"], shown
            assert s["players"] == "1" and s["previews"] == ["flv", "hls"], shown
            # a thumbnail exactly when the API gives the stream a snapshot (app/snapshot, i14/snap-abr)
            api_stream = json.loads(_get(srs.api_url("api/v1/streams"), auth=True)[2])["streams"][0]
            if api_stream.get("snapshot"):
                thumb = wait_for(lambda: (lambda p: p["streams"][0]["snapshot"] if p else None)(_probe(page)), 15, 0.25)
                assert thumb == 160, _probe(page)
            else:
                assert s["snapshot"] is None, shown
            assert shown["errors"] == 0 and shown["cpuPoints"] >= 2 and shown["config"] > 0, shown

            # the RTMP player, before the preview adds an HTTP-FLV one (both are SRS's type "Play")
            clients = json.loads(_get(srs.api_url("api/v1/clients"), auth=True)[2])["clients"]
            play_id = [c["id"] for c in clients if c["type"] == "Play" and c["url"] == "/live/livestream"]
            assert len(play_id) == 1 and play_id[0] in shown["clients"], (clients, shown)

            # one click: the HTTP-FLV preview (mpegts.js from /console/js) decodes at the source's size
            page.evaluate("document.querySelector('button[data-preview=flv]').click()")
            played = wait_for(lambda: (lambda v: v if v and v["w"] and v["t"] > 0.5 else None)(_probe(page, VIDEO)),
                              30, 0.25)
            assert played and played["w"] == media_flv.width, (_probe(page, VIDEO), page.console()[-10:])
            page.screenshot(tmp_path / "console_preview.png")
            # and HLS (hls.js), once the playlist has two segments
            m3u8 = srs.http_url("live/livestream.m3u8")
            assert wait_for(lambda: media_playlist(m3u8)[0].count("#EXTINF") >= 2, 20, 0.25), srs.output()
            page.evaluate("document.querySelector('button[data-preview=hls]').click()")
            played = wait_for(lambda: (lambda v: v if v and v["p"]["kind"] == "hls" and v["w"] and v["t"] > 0.5
                                       else None)(_probe(page, VIDEO)), 30, 0.25)
            assert played and played["w"] == media_flv.width, (_probe(page, VIDEO), page.console()[-10:])

            # kick the RTMP player from its row: the server closes it, the page drops the row
            assert player.video_frames > 0 and player.is_alive(), player.error
            page.evaluate(f"document.querySelector('button[data-kick=\"{play_id[0]}\"]').click()")
            player.join(20)
            assert not player.is_alive(), "the kicked RTMP player is still playing"
            gone = wait_for(lambda: (lambda p: p if p and play_id[0] not in p["clients"] else None)(_probe(page)),
                            10, 0.25)
            assert gone and gone["errors"] == 0, (_probe(page), page.console()[-10:])
            assert play_id[0] in page.evaluate("srsConsole.kicked"), page.console()[-10:]
            page.screenshot(tmp_path / "console_kicked.png")
            assert not [m for m in page.console() if m.startswith("exception")], page.console()
        assert srs.wait_log("kickoff client id=" + play_id[0]), srs.output()
    pub.join(10)


def test_console_webrtc_preview_in_chromium(tmp_path, media_flv):
    """With rtc_server on and the vhost's rtc playing RTMP streams, the row offers WebRTC: one click
    plays the stream over WHEP in the page (Chromium), at the source's size."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    rtc = f"rtc_server {{ enabled on; listen 127.0.0.1:{free_udp_port()}; candidate 127.0.0.1; }}"
    vhost = FLV_MOUNT + " rtc { enabled on; rtmp_to_rtc on; } play { mw_latency 100; }"
    with SrsProcess(tmp_path, vhost_body=vhost, global_body=rtc) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=30)
        assert srs.wait_published("live/livestream"), srs.output()
        with Chromium(tmp_path, extra_flags=["--allow-loopback-in-peer-connection"]) as browser:
            page = browser.new_page(srs.api_url("console/?interval=500"))
            shown = wait_for(lambda: (lambda s: s if s and s["streams"] and s["streams"][0]["video"] else None)(
                _probe(page)), 30, 0.25)
            assert shown and shown["streams"][0]["previews"] == ["flv", "webrtc"], (shown, page.console()[-10:])
            page.evaluate("document.querySelector('button[data-preview=webrtc]').click()")
            played = wait_for(lambda: (lambda v: v if v and v["p"]["kind"] == "webrtc" and v["w"] and v["t"] > 0.5
                                       else None)(_probe(page, VIDEO)), 30, 0.25)
            assert played and played["w"] == media_flv.width, (_probe(page, VIDEO), page.console()[-10:])
            assert not [m for m in page.console() if m.startswith("exception")], page.console()
            # the page's WHEP player is a client of the server, as SRS lists a WebRTC player
            clients = json.loads(_get(srs.api_url("api/v1/clients"))[2])["clients"]
            assert [c["url"] for c in clients if c["type"] == "rtc-play"] == ["/live/livestream"], clients
    pub.join(10)
