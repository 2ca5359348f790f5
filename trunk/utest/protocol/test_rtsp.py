"""RTSP requests/responses, interleaved frames, Transport and SDP: tables both ways + malformed."""
from __future__ import annotations

import pytest

from srs.kernel.errors import ERROR_RTSP_AUDIO_CONFIG, RtspError
from srs.protocol.rtsp import (InterleavedFrame, RtspParser, RtspRequest, Sdp, Transport, app_stream,
                               response, split_url)

# what ffmpeg 5 sends for `-f rtsp` of an H.264 + AAC input
FFMPEG_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "a=tool:libavformat 59.27.100\r\n"
    "m=video 0 RTP/AVP 96\r\nb=AS:293\r\na=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtkAUAW7ARAAAAMAEAAAAwMg8WLkgA==,aMuDyyA=; "
    "profile-level-id=42C01E\r\na=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 97\r\nb=AS:128\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n"
    "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; "
    "config=121056E500\r\na=control:streamid=1\r\n").encode()

REQUESTS = [
    (b"OPTIONS rtsp://127.0.0.1:554/live/x RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59\r\n\r\n",
     RtspRequest("OPTIONS", "rtsp://127.0.0.1:554/live/x", [("CSeq", "1"), ("User-Agent", "Lavf59")])),
    (b"ANNOUNCE rtsp://h/live/x RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
     b"Content-Length: 4\r\n\r\nv=0\n",
     RtspRequest("ANNOUNCE", "rtsp://h/live/x", [("CSeq", "2"), ("Content-Type", "application/sdp")], b"v=0\n")),
]


@pytest.mark.parametrize("data,req", REQUESTS)
def test_request_table_both_ways(data, req):
    assert req.build() == data
    for step in (len(data), 1, 7):   # whole, byte by byte, odd pieces
        p = RtspParser()
        out = []
        for i in range(0, len(data), step):
            out += p.receive_data(data[i:i + step])
        assert len(out) == 1
        got = out[0]
        assert (got.method, got.uri, got.body) == (req.method, req.uri, req.body)
        assert got.cseq == req.cseq and got.build() == data


def test_interleaved_frames_between_requests():
    f1, f2 = InterleavedFrame(0, b"\x80" + bytes(40)), InterleavedFrame(3, b"rtcp")
    assert f1.build()[:4] == b"$\x00\x00\x29"
    data = f1.build() + REQUESTS[0][0] + f2.build() + b"\r\n" + REQUESTS[1][0]
    p = RtspParser()
    out = []
    for i in range(0, len(data), 5):
        out += p.receive_data(data[i:i + 5])
    assert [type(e).__name__ for e in out] == ["InterleavedFrame", "RtspRequest", "InterleavedFrame",
                                               "RtspRequest"]
    assert (out[0].channel, out[0].data) == (0, f1.data) and (out[2].channel, out[2].data) == (3, b"rtcp")


def test_response_bytes():
    assert response(200, 3, [("Session", "abc")]) == b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: abc\r\n\r\n"
    assert response(400, 0, body=b"x", server="SRS") == (
        b"RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\nServer: SRS\r\nContent-Length: 1\r\n\r\nx")


@pytest.mark.parametrize("data,status", [
    (b"OPTIONS rtsp://h/a RTSP/2.0\r\n\r\n", 505),
    (b"OPTIONS rtsp://h/a\r\n\r\n", 400),
    (b"options rtsp://h/a RTSP/1.0\r\n\r\n", 400),
    (b"OPTIONS rtsp://h/a RTSP/1.0\r\nno colon\r\n\r\n", 400),
    (b"OPTIONS rtsp://h/a RTSP/1.0\r\nCSeq : 1\r\n\r\n", 400),
    (b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: x\r\n\r\n", 400),
    (b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: 999999999\r\n\r\n", 413),
    (b"\xff\xfe garbage \r\n\r\n", 400),
    (b"A" * 20000, 400),                  # a head that never ends
])
def test_parser_malformed(data, status):
    p = RtspParser()
    with pytest.raises(RtspError) as e:
        p.receive_data(data)
    assert e.value.status == status
    with pytest.raises(RtspError):        # the error sticks
        p.receive_data(b"OPTIONS rtsp://h/a RTSP/1.0\r\n\r\n")


def test_parser_waits_for_partial_input():
    p = RtspParser()
    assert p.receive_data(b"$\x00\x00") == []
    assert p.receive_data(b"\x02a") == []
    assert [e.data for e in p.receive_data(b"b")] == [b"ab"]
    assert p.receive_data(b"ANNOUNCE rtsp://h/a/b RTSP/1.0\r\nContent-Length: 3\r\n\r\nv=") == []
    assert p.receive_data(b"0")[0].body == b"v=0"


TRANSPORTS = [
    ("RTP/AVP/UDP;unicast;client_port=5000-5001;mode=record",
     dict(lower="UDP", client_port=(5000, 5001), mode="record")),
    ("RTP/AVP/TCP;unicast;interleaved=2-3;mode=record", dict(lower="TCP", interleaved=(2, 3))),
    ("RTP/AVP/UDP;unicast;client_port=6000-6001;server_port=57200-57201",
     dict(lower="UDP", server_port=(57200, 57201))),
]


@pytest.mark.parametrize("text,fields", TRANSPORTS)
def test_transport_table_both_ways(text, fields):
    t = Transport.parse(text)
    for k, v in fields.items():
        assert getattr(t, k) == v
    assert t.build() == text
    assert Transport.parse(t.build()).build() == text


def test_transport_defaults_and_errors():
    t = Transport.parse('RTP/AVP;unicast;client_port=7000;mode="RECORD", RTP/AVP/TCP')
    assert (t.lower, t.client_port, t.mode, t.tcp) == ("UDP", (7000, 7001), "record", False)
    for bad in ("", "RAW/RAW/UDP", "RTP/AVP/SCTP", "RTP/AVP;client_port=a-b", "RTP/AVP;interleaved=1-99999"):
        with pytest.raises(RtspError) as e:
            Transport.parse(bad)
        assert e.value.status == 461


def test_sdp_of_ffmpeg():
    sdp = Sdp.parse(FFMPEG_SDP)
    assert sdp.attributes["tool"].startswith("libavformat")
    v, a = sdp.find("video"), sdp.find("audio")
    assert (v.encoding, v.clock_rate, v.payload_type, v.control) == ("H264", 90000, 96, "streamid=0")
    sps, pps = v.h264_parameter_sets()
    assert sps[0] & 0x1F == 7 and pps == bytes.fromhex("68cb83cb20")
    assert (a.encoding, a.clock_rate, a.channels, a.control) == ("MPEG4-GENERIC", 44100, 2, "streamid=1")
    assert a.aac_config() == bytes.fromhex("121056e500") and a.aac_lengths() == (13, 3, 3)


@pytest.mark.parametrize("text", [
    b"", b"\xff\xfe", b"v=0\r\n", b"garbage line\r\n", b"v=0\r\nm=video\r\n", b"v=0\r\nm=video x RTP/AVP 96\r\n",
    b"m=video 0 RTP/AVP 96\r\n",
    b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/abc\r\n",
])
def test_sdp_malformed(text):
    with pytest.raises(RtspError) as e:
        Sdp.parse(text)
    assert e.value.status == 400


def test_sdp_codec_parameters_malformed():
    sdp = Sdp.parse(b"v=0\r\nm=video 0 RTP/AVP 96\r\na=fmtp:96 sprop-parameter-sets=!!!\r\n"
                    b"m=audio 0 RTP/AVP 97\r\na=fmtp:97 config=zz;sizelength=x\r\n")
    with pytest.raises(RtspError):
        sdp.find("video").h264_parameter_sets()
    with pytest.raises(RtspError) as e:
        sdp.find("audio").aac_config()
    assert e.value.code == ERROR_RTSP_AUDIO_CONFIG
    with pytest.raises(RtspError):
        sdp.find("audio").aac_lengths()


def test_urls():
    assert split_url("rtsp://u:p@127.0.0.1:8554/live/x?a=1") == ("127.0.0.1", 8554, "/live/x")
    assert split_url("rtsp://[::1]/a/b") == ("::1", 554, "/a/b")
    assert app_stream("rtsp://h:1/live/x") == ("live", "x")
    assert app_stream("rtsp://h/a/b/c/") == ("a/b", "c")
    for bad in ("http://h/a/b", "rtsp://h/onlyone", "rtsp://h:xx/a/b"):
        with pytest.raises(RtspError):
            app_stream(bad)
