"""hls.js switches levels of the ABR master playlist in headless Chromium when the bandwidth drops.

The server ladders a live 640x360 stream into a 1500 kbps and a 150 kbps rendition; a page of ours
plays ``livestream_abr.m3u8`` with hls.js (research/players/js/hls.min.js) from the top level; then
the test throttles the page's network to 400 kbps over the DevTools protocol and waits for hls.js to
switch to the low level on its own. Skipped without chromium. The heaviest test of the ABR set (a
live ladder for ~30 s plus a browser).
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.media import make_flv
from fixtures.srs_server import TRUNK, SrsProcess, media_playlist, publish_forever, wait_for

HLS_JS = os.path.join(TRUNK, "research", "players", "js", "hls.min.js")

PAGE = """<!doctype html><html><body><video id="video" muted autoplay playsinline></video>
<script src="hls.min.js"></script><script>
window.switches = []; window.levels = null; window.errors = [];
var video = document.getElementById('video');
var hls = new Hls({capLevelToPlayerSize: false, abrEwmaDefaultEstimate: 5000000, liveSyncDurationCount: 2});
hls.on(Hls.Events.MANIFEST_PARSED, function (e, d) {
  window.levels = d.levels.map(function (l) { return [l.bitrate, l.width, l.height]; });
  hls.startLevel = d.levels.length - 1;  // the top: the drop must bring it down
  video.play();
});
hls.on(Hls.Events.LEVEL_SWITCHED, function (e, d) { window.switches.push(d.level); });
hls.on(Hls.Events.ERROR, function (e, d) { window.errors.push(d.details); });
hls.loadSource('MASTER'); hls.attachMedia(video);
</script></body></html>"""

LADDER = """
hls { enabled on; hls_fragment 1; hls_window 20; hls_path {html}; }
abr { enabled on; preset ultrafast;
      rendition hi { height 360; vbitrate 1500; abitrate 64; }
      rendition lo { height 144; vbitrate 150; abitrate 32; } }
"""
STATE = "JSON.stringify({levels: window.levels, switches: window.switches, errors: window.errors, " \
        "t: document.getElementById('video').currentTime})"


def test_hlsjs_switches_down_when_the_bandwidth_drops(tmp_path):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    media = make_flv(tmp_path / "src.flv", seconds=4, width=640, height=360, fps=25, gop=25, vbitrate=1_500_000)
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=LADDER.replace("{html}", html)) as srs:
        stop = publish_forever(srs, media.path, "live/livestream")
        os.makedirs(html, exist_ok=True)
        shutil.copy(HLS_JS, html)
        master = srs.http_url("live/livestream_abr.m3u8")
        with open(os.path.join(html, "abr.html"), "w") as f:
            f.write(PAGE.replace("MASTER", master))

        def ready():  # both variants listed and each with a few segments
            try:
                text = urllib.request.urlopen(master, timeout=2).read().decode()
                return text.count("#EXT-X-STREAM-INF") == 2 and all(
                    media_playlist(srs.http_url("live/livestream_%s.m3u8" % n), 2)[0].count("#EXTINF") >= 3
                    for n in ("hi", "lo"))
            except OSError:
                return False
        assert wait_for(ready, timeout_s=40, step_s=0.5), srs.log_text()[-3000:]
        try:
            with Chromium(tmp_path) as browser:
                page = browser.new_page(srs.http_url("abr.html"))

                def state():
                    try:
                        s = json.loads(page.evaluate(STATE))
                    except Exception:  # noqa: BLE001 - still navigating
                        return None
                    return s if "switches" in s else None  # the page's script has not run yet
                top = wait_for(lambda: (lambda s: s if s and s["levels"] and s["switches"] and s["t"] > 0.5
                                        else None)(state()), timeout_s=30, step_s=0.25)
                assert top, state()
                assert sorted(w for _, w, _ in top["levels"]) == [256, 640]
                high = max(range(2), key=lambda i: top["levels"][i][0])
                assert top["switches"][-1] == high, top
                page.send("Network.enable")
                page.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                               "downloadThroughput": 400_000 / 8,
                                                               "uploadThroughput": 400_000 / 8})
                low = 1 - high
                down = wait_for(lambda: (lambda s: s if s and low in s["switches"][len(top["switches"]):]
                                         else None)(state()), timeout_s=40, step_s=0.5)
                assert down, state()
        finally:
            stop.set()
