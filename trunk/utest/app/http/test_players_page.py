"""The browser players (research/players) against the real server, in a real headless Chromium.

A stream is published over RTMP in real time; srs_player.html plays it as HTTP-FLV (mpegts.js) and
as HLS (hls.js) in two tabs, and the test reads video.currentTime over the DevTools protocol until
it has advanced more than a second in both; the same for DASH (dash.js) and HLS in fMP4
(``hls_use_fmp4``, hls.js), with decoded frames counted. Screenshots are left in the test's tmp dir.
Skipped when /usr/bin/chromium is missing (Debian package ``chromium``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import urllib.parse
import urllib.request

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import TRUNK, SrsProcess, media_playlist, publish_flv, wait_for, wait_port

PLAYERS = os.path.join(TRUNK, "research", "players")

# What the page exposes (window.srsPlayerState, mirrored into document.title) plus the video element.
PROBE = ("JSON.stringify({t: document.getElementById('video').currentTime, title: document.title,"
         " st: window.srsPlayerState || null, w: document.getElementById('video').videoWidth,"
         " frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames,"
         " status: document.getElementById('status').textContent})")


def _conf(html: str) -> str:
    return ("http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
            f"hls {{ enabled on; hls_fragment 1; hls_window 10; hls_path {html}; }}")


def _publisher(srs: SrsProcess, path: str, stop: threading.Event, opaque: bool = False) -> threading.Thread:
    def run():
        # Loops long enough for the whole test; the server going away ends it with an error.
        while not stop.is_set():
            try:
                publish_flv(path, srs.rtmp_url("live/livestream"), realtime=True, loops=10, opaque=opaque)
            except Exception:  # noqa: BLE001 - the server stopped under the publisher
                return

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _wait_m3u8(url: str, segments: int, timeout_s: float) -> str:
    seen = [""]

    def playlist():
        try:
            seen[0] = media_playlist(url, 2)[0]
        except OSError:
            return None
        return seen[0] if seen[0].count("#EXTINF") >= segments else None
    text = wait_for(playlist, timeout_s, 0.2)
    assert text, "no HLS playlist with %d segments at %s: %r" % (segments, url, seen[0])
    return text


def _evaluate(page, script: str):
    """The page's answer to ``script``, None while it is still loading."""
    try:
        return page.evaluate(script)
    except Exception:  # noqa: BLE001 - page still loading
        return None


def test_static_players_served(tmp_path):
    """The shipped pages and the bundled players come back byte for byte from http_server."""
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path) as srs:
        shutil.copytree(PLAYERS, os.path.join(html, "players"))
        assert wait_port(srs.http_port), srs.output()
        for name in ("index.html", "srs_player.html", "js/mpegts.js", "js/hls.min.js", "js/dash.mediaplayer.min.js",
                     "LICENSES.md"):
            with open(os.path.join(PLAYERS, name), "rb") as f:
                want = f.read()
            got = urllib.request.urlopen(srs.http_url("players/" + name), timeout=5).read()
            assert got == want, name
    page = open(os.path.join(PLAYERS, "srs_player.html")).read()
    # Nothing is loaded from other sites: the scripts are the local copies.
    assert re.findall(r'<script src="([^"]+)"', page) == ["js/mpegts.js", "js/hls.min.js",
                                                          "js/dash.mediaplayer.min.js"]
    lic = open(os.path.join(PLAYERS, "LICENSES.md")).read()
    for version in ("1.8.2", "1.7.4", "4.7.4"):
        assert version in lic
    assert "Apache License" in lic and "Dash Industry Forum" in lic


def test_players_play_flv_and_hls_in_chromium(tmp_path, media_flv):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    html = str(tmp_path / "html")
    stop = threading.Event()
    with SrsProcess(tmp_path, vhost_body=_conf(html)) as srs:
        shutil.copytree(PLAYERS, os.path.join(html, "players"))
        assert wait_port(srs.http_port), srs.output()
        pub = _publisher(srs, media_flv.path, stop)
        flv = srs.http_url("live/livestream.flv")
        m3u8 = srs.http_url("live/livestream.m3u8")
        # The FLV page retries by itself, but starting it once the stream exists keeps the test short.
        playlist = _wait_m3u8(m3u8, 1, 10)
        # The segments are files in the http_server dir; an http_remux mount must not take them for
        # live .ts streams (a request that would hang until the timeout).
        seg = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")][0]
        try:
            got = urllib.request.urlopen(srs.http_url("live/" + seg), timeout=3).read()
        except OSError as e:
            raise AssertionError("HLS segment %s not served as a file: %s" % (seg, e)) from e
        assert got[:1] == b"\x47" and len(got) % 188 == 0, got[:16]
        page_url = srs.http_url("players/srs_player.html") + "?url="
        with Chromium(tmp_path) as browser:
            pages = {"flv": browser.new_page(page_url + urllib.parse.quote(flv, safe=""))}
            _wait_m3u8(m3u8, 2, 10)
            pages["hls"] = browser.new_page(page_url + urllib.parse.quote(m3u8, safe=""))
            first, last, playing = _watch(pages, tmp_path)
            # SRS-style parameters build the URL on this server; autostart=false leaves it idle.
            srs_style = browser.new_page(srs.http_url("players/srs_player.html") +
                                         "?app=live&stream=livestream&type=hls&autostart=false")
            state = "[document.getElementById('url').value, srsPlayerState.state]"
            built = wait_for(lambda: (lambda b: b if b and b[0] else None)(_evaluate(srs_style, state)), 4, 0.1)
            index = browser.new_page(srs.http_url("players/index.html"))
            hrefs = "Array.from(document.querySelectorAll('a.play')).map(a => a.href)"
            links = wait_for(lambda: (lambda ls: ls if ls and "%3A" in ls[0] else None)(_evaluate(index, hrefs)),
                             4, 0.1)
            index.screenshot(tmp_path / "index.png")
            report = {k: (last.get(k), first.get(k), pages[k].console()[-10:]) for k in pages}
        stop.set()
    pub.join(5)
    assert built == [m3u8, "idle"], built
    mpd = srs.http_url("live/livestream.mpd")
    assert links == [page_url + urllib.parse.quote(u, safe="") for u in (flv, m3u8, mpd)], links
    _check_played(report, first, last, playing, (("flv", "mpegts.js"), ("hls", "hls.js")), media_flv.width)


def _watch(pages, tmp_path, deadline_s: float = 20):
    """Probe every page until each has played over 1.5 s of media; (first, last, playing) probes."""
    first = {}
    last = {}
    playing = {}  # each page's last probe that said "playing"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for kind, page in pages.items():
            try:
                s = json.loads(page.evaluate(PROBE))
            except Exception:  # noqa: BLE001 - page still navigating
                continue
            last[kind] = s
            if s["st"] and s["st"]["state"] == "playing":
                first.setdefault(kind, s["t"])
                first.setdefault(kind + ".frames", s["frames"])
                playing[kind] = s
        if all(k in first and playing[k]["t"] - first[k] > 1.5 for k in pages):
            break
        time.sleep(0.25)  # sampling step of the players' state over the deadline above
    for kind, page in pages.items():
        page.screenshot(tmp_path / ("player_%s.png" % kind))
    return first, last, playing


def _check_played(report, first, last, playing, engines, width):
    for kind, engine in engines:
        s = last.get(kind)
        assert s and s["st"], report
        assert s["st"]["engine"].startswith(engine), report
        assert kind in first, report
        # Media time went on for over a second while the player said "playing" (a browser starved
        # of CPU may say "waiting" for a moment at any probe, the last one too).
        assert playing[kind]["t"] - first[kind] > 1.0, report
        assert re.match(r"SRS player: playing t=\d+\.\d$", s["title"]), report
        assert s["w"] == width, report
        assert s["frames"] > 25, report  # the video element decoded pictures, not only moved its clock
        # and kept showing them: at least half the 25 fps while the clock went on (a video frozen under
        # advancing audio, as with badly timed audio in a muxed fMP4, shows ~8 fps)
        shown = playing[kind]["frames"] - first[kind + ".frames"]
        assert shown >= 12.5 * (playing[kind]["t"] - first[kind]), report


@pytest.mark.parametrize("vcodec", ["h264", "av1"])
def test_players_play_dash_and_fmp4_hls_in_chromium(tmp_path, media_flv, vcodec):
    """dash.js plays the live MPD, hls.js the fMP4 (CMAF) playlist of ``hls_use_fmp4 on``; H.264, and AV1
    published over Enhanced RTMP (Chromium decodes AV1 in software; HEVC it has no decoder for here)."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    media = media_flv
    if vcodec == "av1":
        from fixtures.media_ex import make_flv_ex
        media = make_flv_ex(tmp_path / "av1.flv", vcodec="av1", seconds=4, width=320, height=240)
    html = str(tmp_path / "html")
    stop = threading.Event()
    conf = (f"hls {{ enabled on; hls_fragment 1; hls_window 10; hls_path {html}; hls_use_fmp4 on; }}\n"
            f"dash {{ enabled on; dash_fragment 1; dash_update_period 1; dash_path {html}; }}")
    with SrsProcess(tmp_path, vhost_body=conf) as srs:
        shutil.copytree(PLAYERS, os.path.join(html, "players"))
        assert wait_port(srs.http_port), srs.output()
        pub = _publisher(srs, media.path, stop, opaque=vcodec == "av1")
        m3u8 = srs.http_url("live/livestream.m3u8")
        mpd = srs.http_url("live/livestream.mpd")
        playlist = _wait_m3u8(m3u8, 2, 15)
        assert "#EXT-X-MAP:URI=" in playlist and "#EXT-X-VERSION:7" in playlist, playlist
        assert wait_for(lambda: os.path.exists(os.path.join(html, "live", "livestream.mpd")), 10)
        page_url = srs.http_url("players/srs_player.html") + "?url="
        with Chromium(tmp_path) as browser:
            pages = {kind: browser.new_page(page_url + urllib.parse.quote(url, safe=""))
                     for kind, url in (("dash", mpd), ("hls", m3u8))}
            first, last, playing = _watch(pages, tmp_path, 30)
            report = {k: (last.get(k), first.get(k), pages[k].console()[-10:]) for k in pages}
        stop.set()
    pub.join(5)
    _check_played(report, first, last, playing, (("dash", "dash.js"), ("hls", "hls.js")), media.width)
