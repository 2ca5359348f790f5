"""The ladder's DASH master ``livestream_abr.mpd`` read by real DASH clients while the stream is live.

One server for the module: a live 640x360 stream laddered into 288p (1000 kbps) and 144p (150 kbps),
each rendition with its own DASH output, and the master listing the source (``abr { source on; }``)
and both renditions in one video AdaptationSet.
- the MPD text: one video AdaptationSet with the source and both renditions (bandwidth: measured for
  the source, configured for the renditions; the size and codecs of their own headers, their own
  segment directory), one audio set (a Representation per audio bitrate), aligned timelines; the
  HLS master lists the source first too;
- Debian's ffmpeg 5.1 dash demuxer opens the master and decodes frames of a chosen representation
  at its size (144p, 288p and the source's 360p);
- dash.js (research/players/js) in headless Chromium plays it: currentTime advances, frames are
  decoded, and a forced switch to the other quality is rendered at that quality's size.
- dash.js with its own ABR on, started at the top, goes down on its own when the test throttles the
  page's network to 400 kbps (DevTools protocol).
A live ladder (one decode, two ultrafast x264 encodes and a copy) for ~30 s: the heaviest of this set.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.request

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.media import make_flv
from fixtures.srs_server import TRUNK, SrsProcess, publish_forever, wait_for

FFMPEG = shutil.which("ffmpeg")
DASH_JS = os.path.join(TRUNK, "research", "players", "js", "dash.mediaplayer.min.js")

LADDER = """
dash { enabled on; dash_fragment 1; dash_update_period 1; dash_window_size 6; dash_path {html}; }
hls { enabled on; hls_fragment 1; hls_window 20; hls_path {html}; }
abr { enabled on; preset ultrafast; source on;
      rendition hi { height 288; vbitrate 1000; abitrate 64; }
      rendition lo { height 144; vbitrate 150; abitrate 32; } }
"""


def representations(mpd: str) -> dict:
    """{id: (attributes, BaseURL, startNumber, [(t, d)])} of every Representation of the MPD text."""
    out = {}
    for block in re.findall(r"<Representation (.*?)</Representation>", mpd, re.S):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', block.split(">", 1)[0]))
        base = re.search(r"<BaseURL>(.*?)</BaseURL>", block).group(1)
        start = int(re.search(r'startNumber="(\d+)"', block).group(1))
        out[attrs["id"]] = (attrs, base, start, [(int(t), int(d)) for t, d in re.findall(r'<S t="(\d+)" d="(\d+)"/>',
                                                                                          block)])
    return out


def master_ready(html: str) -> bool:
    """The master lists the source and both renditions, each rendition's window 3+ segments deep. A
    page opens only then: under load the server may stall past the worker's read timeout, and the
    restarted worker's renditions come back one by one (a master read in between lacks some)."""
    try:
        with open(os.path.join(html, "live", "livestream_abr.mpd")) as f:
            reps = representations(f.read())
    except OSError:
        return False
    return set(reps) >= {"source", "hi", "lo"} and all(len(reps[n][3]) >= 3 for n in ("hi", "lo"))


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """(server, html dir) with the ladder live and both renditions' windows 3+ segments deep."""
    tmp = tmp_path_factory.mktemp("abrdash")
    media = make_flv(tmp / "src.flv", seconds=4, width=640, height=360, fps=25, gop=25, vbitrate=1_500_000)
    html = str(tmp / "html")
    with SrsProcess(tmp, vhost_body=LADDER.replace("{html}", html)) as srs:
        stop = publish_forever(srs, media.path, "live/livestream")
        assert wait_for(lambda: master_ready(html), timeout_s=60, step_s=0.5), srs.log_text()[-3000:]
        try:
            yield srs, html
        finally:
            stop.set()


def test_master_mpd_lists_every_rendition_in_one_adaptation_set(ladder):
    srs, html = ladder
    with urllib.request.urlopen(srs.http_url("live/livestream_abr.mpd"), timeout=10) as r:
        text = r.read().decode()
    assert text.count("<AdaptationSet") == 2 and text.count('mimeType="video/mp4"') == 1
    reps = representations(text)
    assert list(reps)[:3] == ["source", "hi", "lo"]  # the source on top, then the ladder's order
    src, hi, lo = reps["source"], reps["hi"], reps["lo"]
    assert (hi[0]["width"], hi[0]["height"], hi[0]["bandwidth"]) == ("512", "288", "1000000")
    assert (lo[0]["width"], lo[0]["height"], lo[0]["bandwidth"]) == ("256", "144", "150000")
    assert (src[0]["width"], src[0]["height"]) == ("640", "360")
    assert 300_000 < int(src[0]["bandwidth"]) < 10_000_000  # measured: a 1.5 Mbps encode, peak of a GOP
    assert all(r[0]["codecs"].startswith("avc1.") for r in (src, hi, lo))
    assert (src[1], hi[1], lo[1]) == ("livestream_source/", "livestream_hi/", "livestream_lo/")
    # one audio per distinct bitrate: the source's (measured), 64 and 32 kbps
    audio = {k: v for k, v in reps.items() if k not in ("source", "hi", "lo")}
    assert sorted(audio) == ["hi-audio", "lo-audio", "source-audio"]
    assert [audio[k][0]["bandwidth"] for k in ("hi-audio", "lo-audio")] == ["64000", "32000"]
    assert all(a[0]["codecs"] == "mp4a.40.2" for a in audio.values())
    # keyframes aligned: segment starts shared by every rendition (windows may be shifted by one)
    assert set(t for t, _ in src[3]) & set(t for t, _ in hi[3]) & set(t for t, _ in lo[3])
    # every segment listed exists under its rendition's directory
    for _, base, start, segs in (src, hi, lo):
        for n in range(start, start + len(segs)):
            assert os.path.exists(os.path.join(html, "live", base, "video-%d.m4s" % n))


@pytest.mark.skipif(FFMPEG is None, reason="Debian ffmpeg not installed")
@pytest.mark.parametrize("size", ["256x144", "512x288", "640x360"])
def test_ffmpeg_decodes_a_chosen_representation_at_its_size(ladder, size):
    srs, _ = ladder
    url = srs.http_url("live/livestream_abr.mpd")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=index,width,height,codec_type",
                            "-of", "json", url], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr[-2000:]
    videos = [s for s in json.loads(probe.stdout)["streams"] if s["codec_type"] == "video"]
    index = next(i for i, s in enumerate(videos) if "%dx%d" % (s["width"], s["height"]) == size)
    r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", url, "-map", "0:v:%d" % index,
                        "-t", "2.5", "-f", "framecrc", "-"], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "#dimensions 0: %s" % size in r.stdout, r.stdout[:500]
    frames = [line for line in r.stdout.splitlines() if line and not line.startswith("#")]
    # at least a GOP (1 s at 25 fps) decoded at that size. Not a fixed 2.5 s: ffmpeg's DASH demuxer ends
    # at the live edge, which a ladder encoding on a loaded machine reaches sooner (38 frames once)
    assert len(frames) >= 25, len(frames)


PAGE = """<!doctype html><html><body><video id="video" muted autoplay playsinline></video>
<script src="dash.mediaplayer.min.js"></script><script>
window.rendered = []; window.errors = []; window.reps = null;
var video = document.getElementById('video');
var player = dashjs.MediaPlayer().create();
// initialBitrate in kbps: start at the top
player.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: AUTO}, initialBitrate: {video: 5000}}}});
player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, function () {
  window.reps = player.getBitrateInfoListFor('video').map(function (b) { return [b.bitrate, b.width, b.height]; });
});
player.on(dashjs.MediaPlayer.events.QUALITY_CHANGE_RENDERED, function (e) {
  if (e.mediaType === 'video') window.rendered.push(e.newQuality);
});
player.on(dashjs.MediaPlayer.events.ERROR, function (e) { window.errors.push(JSON.stringify(e.error || e)); });
player.initialize(video, 'MASTER', true);
</script></body></html>"""
STATE = """JSON.stringify({reps: window.reps, rendered: window.rendered, errors: window.errors,
  t: video.currentTime, w: video.videoWidth, h: video.videoHeight,
  frames: video.getVideoPlaybackQuality().totalVideoFrames})"""


def test_hls_master_lists_the_source_first(ladder):
    srs, _ = ladder
    with urllib.request.urlopen(srs.http_url("live/livestream_abr.m3u8"), timeout=10) as r:
        lines = [line for line in r.read().decode().splitlines() if line]
    infs = [(line, lines[i + 1].split("?")[0]) for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]
    assert [uri for _, uri in infs] == ["livestream_source.m3u8", "livestream_hi.m3u8", "livestream_lo.m3u8"]
    assert "RESOLUTION=640x360" in infs[0][0] and 'CODECS="avc1.' in infs[0][0]
    assert int(re.search(r"BANDWIDTH=(\d+)", infs[0][0]).group(1)) > 300_000


def page_state(page):
    def state():
        try:
            s = json.loads(page.evaluate(STATE))
        except Exception:  # noqa: BLE001 - still navigating
            return None
        return s if "reps" in s else None
    return state


@contextlib.contextmanager
def open_master_page(ladder, tmp_path, auto: bool):
    """(page, state) of our dash.js page playing the master in headless Chromium, dash.js's own ABR on or
    off (``auto``), opened once the master is complete again (a page opened on a partial master sees
    renditions missing, see master_ready). Skips the test without chromium."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    srs, html = ladder
    name = "abrauto.html" if auto else "abrdash.html"
    shutil.copy(DASH_JS, html)
    with open(os.path.join(html, name), "w") as f:
        f.write(PAGE.replace("MASTER", srs.http_url("live/livestream_abr.mpd"))
                .replace("AUTO", "true" if auto else "false"))
    assert wait_for(lambda: master_ready(html), timeout_s=60, step_s=0.5), srs.log_text()[-3000:]
    with Chromium(tmp_path) as browser:
        page = browser.new_page(srs.http_url(name))
        yield page, page_state(page)


def test_dashjs_plays_the_master_and_switches_quality(ladder, tmp_path):
    srs, _ = ladder
    with open_master_page(ladder, tmp_path, auto=False) as (page, state):
        first = wait_for(lambda: (lambda s: s if s and s["reps"] and s["t"] > 1 and s["frames"] > 10
                                  else None)(state()), timeout_s=40, step_s=0.25)
        assert first, (state(), page.console()[-10:])
        assert sorted((w, h) for _, w, h in first["reps"]) == [(256, 144), (512, 288), (640, 360)], \
            (first, srs.log_text()[-4000:])
        # force the quality not playing now; dash.js renders it at that representation's size
        now = (first["w"], first["h"])
        target = next(i for i, (_, w, h) in enumerate(first["reps"]) if (w, h) != now)
        page.evaluate("player.setQualityFor('video', %d, true); 1" % target)
        switched = wait_for(lambda: (lambda s: s if s and target in s["rendered"]
                                     and (s["w"], s["h"]) == tuple(first["reps"][target][1:])
                                     and s["t"] > first["t"] + 1 else None)(state()), timeout_s=40, step_s=0.25)
        assert switched, (state(), page.console()[-10:])
        assert switched["frames"] > first["frames"]


def test_dashjs_abr_goes_down_when_the_bandwidth_drops(ladder, tmp_path):
    # the page starts at the top (initialBitrate): the drop must bring it down
    with open_master_page(ladder, tmp_path, auto=True) as (page, state):
        top = wait_for(lambda: (lambda s: s if s and s["reps"] and s["t"] > 1 and s["h"] == 360
                                else None)(state()), timeout_s=40, step_s=0.25)
        assert top, (state(), page.console()[-10:])
        page.send("Network.enable")
        page.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                       "downloadThroughput": 400_000 / 8,
                                                       "uploadThroughput": 400_000 / 8})
        # down: a lower quality shown, or dash.js reporting it rendered one (QUALITY_CHANGE_RENDERED; under
        # the throttle playback may stall on the last 360p frame, so videoHeight lags the switch)
        down = wait_for(lambda: (lambda s: s if s and (s["h"] < 360 or (
            s["rendered"] and s["rendered"][-1] < len(s["reps"]) - 1)) else None)(state()), timeout_s=60, step_s=0.5)
        assert down, (state(), page.console()[-10:])
