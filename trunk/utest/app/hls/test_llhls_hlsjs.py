"""hls.js (research/players/js/hls.min.js, 1.x) with ``lowLatencyMode: true`` plays an LL-HLS stream
(``hls_ll on``) in headless Chromium: it loads parts, the video decodes frames at the published size,
and its latency is measured against the regular fMP4 HLS of the same stream.

Latency, two readings per sample, the median reported (and written to ``latency.json`` in the tmp dir):
  hls_latency  hls.js's own ``hls.latency`` (live edge of the playlist -> playhead)
  behind_s     the publisher's stream time (``Publisher.sent_ms``, real time) minus the playhead:
               glass-to-glass-ish on loopback (no capture or encode; FLV timestamps are the media's)
Run with ``-s`` to see the figures (trunk/doc/PERFORMANCE.md quotes them).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import time
import urllib.parse

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.media import make_flv
from fixtures.srs_server import TRUNK, SrsProcess, media_playlist, publish_bg, wait_for, wait_port

HLS_JS = os.path.join(TRUNK, "research", "players", "js", "hls.min.js")
PAGE = """<!doctype html><html><body><video id="v" muted autoplay playsinline></video>
<script src="hls.min.js"></script><script>
const st = window.st = {parts: 0, frags: 0, errors: [], ll: null};
const url = new URLSearchParams(location.search).get("url");
const hls = new Hls({lowLatencyMode: %s});
hls.on(Hls.Events.FRAG_LOADED, (e, d) => { if (d.part) st.parts++; else st.frags++; });
hls.on(Hls.Events.ERROR, (e, d) => st.errors.push(d.details + (d.fatal ? "!" : "")));
hls.on(Hls.Events.LEVEL_LOADED, (e, d) => { st.ll = {block: d.details.canBlockReload, skip: d.details.canSkipUntil,
                                                    partTarget: d.details.partTarget}; });
hls.loadSource(url); hls.attachMedia(document.getElementById("v"));
</script></body></html>"""
PROBE = ("(() => { const v = document.getElementById('v'); return JSON.stringify(Object.assign({}, window.st, "
         "{t: v.currentTime, w: v.videoWidth, paused: v.paused, latency: hls.latency, "
         "frames: v.getVideoPlaybackQuality().totalVideoFrames}));})()")


@pytest.mark.parametrize("mode", ["ll", "regular"])
def test_hlsjs_low_latency_mode_plays_parts(tmp_path, mode):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    media = make_flv(tmp_path / "long.flv", seconds=30, fps=25, gop=25, audio="aac")
    html = str(tmp_path / "html")
    ll = "hls_ll on; hls_part 0.333;" if mode == "ll" else ""
    conf = (f"hls {{ enabled on; hls_fragment 1; hls_td_ratio 1; hls_window 10; hls_path {html}; "
            f"hls_use_fmp4 on; {ll} }}")
    with SrsProcess(tmp_path, vhost_body=conf) as srs:
        assert wait_port(srs.http_port), srs.output()
        os.makedirs(os.path.join(html, "p"))
        shutil.copy(HLS_JS, os.path.join(html, "p"))
        with open(os.path.join(html, "p", "ll.html"), "w") as f:
            f.write(PAGE % ("true" if mode == "ll" else "false"))
        pub = publish_bg(media.path, srs.rtmp_url("live/s"))
        m3u8 = srs.http_url("live/s.m3u8")
        assert wait_for(lambda: os.path.exists(os.path.join(html, "live/s.m3u8")), 15), srs.output()
        text = media_playlist(m3u8)[0]
        assert ("#EXT-X-PART:" in text) == (mode == "ll"), text
        samples, last = [], None
        with Chromium(tmp_path) as browser:
            page = browser.new_page(srs.http_url("p/ll.html") + "?url=" + urllib.parse.quote(m3u8, safe=""))
            deadline = time.monotonic() + 25
            first_t = None
            while time.monotonic() < deadline and pub.is_alive():
                try:
                    s = json.loads(page.evaluate(PROBE))
                except Exception:  # noqa: BLE001 - page still loading
                    time.sleep(0.2)  # sampling step while the page loads
                    continue
                sent = pub.sent_ms
                last = s
                if s["t"] > 0 and not s["paused"]:
                    first_t = s["t"] if first_t is None else first_t
                    if s["t"] - first_t > 2:  # past the start-up: the player has settled on its target
                        samples.append({"hls_latency": s["latency"], "behind_s": sent / 1000.0 - s["t"]})
                if len(samples) >= 20:
                    break
                time.sleep(0.25)  # sampling step of the player's state
            page.screenshot(tmp_path / f"hlsjs_{mode}.png")
            console = page.console()[-10:]
    report = (last, console, srs.output()[-1500:] if last is None else "")
    assert last is not None and len(samples) >= 8, report
    assert last["w"] == media.width and last["frames"] > 50, report
    assert not [e for e in last["errors"] if e.endswith("!")], report  # no fatal error
    figures = {k: round(statistics.median(x[k] for x in samples), 2) for k in ("hls_latency", "behind_s")}
    with open(tmp_path / "latency.json", "w") as f:
        json.dump({"mode": mode, **figures}, f)
    print(f"\nLATENCY {mode}: {figures} ({len(samples)} samples)")
    if mode == "ll":
        assert last["parts"] > 10, report  # hls.js fetched parts, not (only) whole segments
        assert last["ll"] and last["ll"]["block"] and abs(last["ll"]["partTarget"] - 0.333) < 1e-6, report
        assert figures["hls_latency"] < 4.0, (figures, report)  # loosely (loaded machine); goal <= 2 s


def test_http_flv_delivery_latency_reference(tmp_path):
    """The reference row of the latency table: HTTP-FLV read with PyAV (FFmpeg's demuxer, no player
    buffer), publisher stream time minus the timestamp of each video packet as it arrives."""
    import av
    media = make_flv(tmp_path / "long.flv", seconds=12, fps=25, gop=25, audio="aac")
    conf = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"
    with SrsProcess(tmp_path, vhost_body=conf) as srs:
        assert wait_port(srs.http_port), srs.output()
        pub = publish_bg(media.path, srs.rtmp_url("live/f"))
        assert pub.wait_sent(1000), pub.error
        lags, frames, start = [], 0, time.monotonic()
        # no probing ahead: FFmpeg would otherwise hand out seconds of buffered packets first
        opts = {"analyzeduration": "0", "probesize": "4096", "fflags": "nobuffer"}
        with av.open(srs.http_url("live/f.flv"), options=opts, timeout=10) as c:
            for pkt in c.demux(video=0):
                if pkt.pts is None:
                    continue
                frames += 1
                lags.append(pub.sent_ms / 1000.0 - float(pkt.pts * pkt.time_base))
                if len(lags) >= 150:
                    break
    assert frames == 150 and time.monotonic() - start > 3  # real time: the stream came as published
    median = round(statistics.median(lags[75:]), 2)  # past the GOP cache burst
    with open(tmp_path / "latency.json", "w") as f:
        json.dump({"mode": "http-flv", "behind_s": median}, f)
    print(f"\nLATENCY http-flv: behind_s {median}")
    assert median < 3.0  # loosely: a loaded machine delays the server (PERFORMANCE.md)
