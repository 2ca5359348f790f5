"""Our SDP answer, ICE-lite STUN, DTLS server and SRTP against headless Chromium: a page offers to
receive video, the harness answers and sends the source FLV's H.264 in real time; getStats() must
show more than 100 frames decoded at 768x320 (with a keyframe)."""
from __future__ import annotations

import json

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import wait_for
from rtc_udp_harness import RtcHarness
from test_rtc_interop_aiortc import VIDEO_SSRC, packetize_source

FRAMES_WANTED = 100

OFFER_JS = """
window.pc = new RTCPeerConnection();
pc.addTransceiver('video', {direction: 'recvonly'});
pc.ontrack = (e) => { const v = document.createElement('video'); v.muted = true; v.autoplay = true;
                      v.srcObject = new MediaStream([e.track]); document.body.appendChild(v); };
pc.createOffer().then(o => pc.setLocalDescription(o)).then(() => { window.offer = pc.localDescription.sdp; },
                                                         e => { window.err = String(e); });
0"""

STATS_JS = """
pc.getStats().then(r => r.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video')
  window.stats = {frames: s.framesDecoded || 0, keys: s.keyFramesDecoded || 0,
                  width: s.frameWidth || 0, height: s.frameHeight || 0}; }));
JSON.stringify({stats: window.stats || null, err: window.err || null, ice: pc.iceConnectionState})"""


@pytest.mark.skipif(not chromium_path(), reason="chromium is not installed")
def test_chromium_decodes_our_h264_over_ice_dtls_srtp(tmp_path):
    harness = RtcHarness(realtime=True)
    state = {}
    try:
        with Chromium(tmp_path, extra_flags=["--allow-loopback-in-peer-connection"]) as browser:
            page = browser.new_page("about:blank")
            page.evaluate(OFFER_JS)
            offer = wait_for(lambda: page.evaluate("window.offer || window.err || ''"), 15)
            answer = harness.answer(offer, publish=False, ssrcs={"video": VIDEO_SSRC})
            harness.packets, _ = packetize_source(harness.negotiation.track("video").pt)
            harness.start()
            page.evaluate("pc.setRemoteDescription({type: 'answer', sdp: %s})"
                          ".catch(e => { window.err = String(e); }); 0" % json.dumps(answer))

            def decoded():
                state.update(json.loads(page.evaluate(STATS_JS)))
                stats = state.get("stats") or {}
                return state.get("err") or stats.get("frames", 0) > FRAMES_WANTED

            wait_for(decoded, 40, 0.2)
    finally:
        harness.close()
    assert state.get("err") is None, state
    stats = state["stats"]
    assert stats["frames"] > FRAMES_WANTED, (state, harness.errors)
    assert stats["keys"] >= 1 and (stats["width"], stats["height"]) == (768, 320)
    assert harness.binding_requests >= 1 and harness.dtls.done and harness.rtcp_in > 0
    assert harness.errors == []
