"""Chromium publishes its fake camera to the harness: our answer (recvonly, H.264 42e01f), ICE-lite,
DTLS, SRTP unprotect, transport-cc feedback, jitter buffer with NACKs and the H.264 reassembler
(which skips Chromium's padding-only probe packets); PyAV decodes the result."""
from __future__ import annotations

import http.server
import json
import threading

import av
import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import wait_for
from rtc_udp_harness import RtcHarness
from srs.kernel.codec_avc import avcc_to_annexb

FRAMES_WANTED = 30

PUBLISH_JS = """
navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: true}).then(stream => {
  window.pc = new RTCPeerConnection();
  stream.getTracks().forEach(t => pc.addTransceiver(t, {direction: 'sendonly'}));
  return pc.createOffer().then(o => pc.setLocalDescription(o)).then(() => {
    window.offer = pc.localDescription.sdp; });
}).catch(e => { window.err = String(e); });
0"""


class _BlankPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>rtc publish</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def secure_origin():
    """getUserMedia needs a secure context: http://127.0.0.1 is one, about:blank is not."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlankPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.mark.skipif(not chromium_path(), reason="chromium is not installed")
def test_chromium_fake_camera_publishes_h264_we_decode(tmp_path, secure_origin):
    harness = RtcHarness()
    flags = ["--allow-loopback-in-peer-connection", "--use-fake-device-for-media-stream",
             "--use-fake-ui-for-media-stream"]
    err = None
    try:
        with Chromium(tmp_path, extra_flags=flags) as browser:
            page = browser.new_page(secure_origin)
            wait_for(lambda: page.evaluate("document.readyState") == "complete", 15)
            page.evaluate(PUBLISH_JS)
            offer = wait_for(lambda: page.evaluate("window.offer || window.err || ''"), 15)
            assert offer.startswith("v=0"), offer
            answer = harness.answer(offer, publish=True)
            harness.start()
            page.evaluate("pc.setRemoteDescription({type: 'answer', sdp: %s})"
                          ".catch(e => { window.err = String(e); }); 0" % json.dumps(answer))
            wait_for(lambda: page.evaluate("window.err || ''") or len(harness.units) > FRAMES_WANTED,
                     40, 0.1)
            err = page.evaluate("window.err || null")
    finally:
        harness.close()
    assert err is None
    units = list(harness.units)
    assert len(units) > FRAMES_WANTED, (harness.rtp_in, harness.rtp_all, harness.twcc_feedbacks, harness.rtcp_in, harness.binding_requests, harness.errors)
    assert units[0][2], "Chromium starts with a keyframe"
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for _ts, au, _key in units:
        frames += codec.decode(av.Packet(avcc_to_annexb(au)))
    frames += codec.decode(None)
    assert len(frames) > FRAMES_WANTED
    assert {(f.width, f.height) for f in frames} == {(640, 480)}
    assert harness.errors == []
    # our transport-cc feedback went back (Chromium's pacer needs it to keep sending)
    assert harness.twcc_feedbacks > 0
