"""srs.app.rtmp.librtmp (RtmpSession, packet printing); its raw H.264/AAC muxers are
srs.kernel.raw_muxer's (utest/kernel/test_raw_muxer.py).

The session publishes and plays against the real server (gevent sockets in this process: every
call blocks only this greenlet)."""
import gevent
import pytest

from fixtures.raw_frames import PPS, SC, SPS, adts, idr, non_idr
from fixtures.srs_server import SrsProcess, free_port

from srs.app.rtmp.librtmp import ClientClosed, RtmpSession, describe_packet, packet_pts
from srs.kernel.codec import AacConfig
from srs.kernel.errors import ERROR_SOCKET_CONNECT, ERROR_SOCKET_TIMEOUT, SrsError


# ------------------------------------------------------------------------------ printing
def test_describe_packet_like_srs():
    assert describe_packet(9, 40, b"\x17\x00\x00\x00\x00\x01") == \
        "Video packet type=Video, dts=40, pts=40, size=6, H.264(SH,I)"
    assert describe_packet(9, 40, b"\x27\x01\x00\x00\x50\x00") == \
        "Video packet type=Video, dts=40, pts=120, size=6, H.264(Nalu,P/B)"
    assert packet_pts(9, 100, b"\x27\x01\xff\xff\xf6") == 90  # negative composition time
    assert describe_packet(8, 7, b"\xaf\x01\x00") == \
        "Audio packet type=Audio, dts=7, pts=7, size=3, AAC(44KHz,16bit,Stereo,Raw)"
    assert describe_packet(8, 7, b"\x2e") == \
        "Audio packet type=Audio, dts=7, pts=7, size=1, MP3(44KHz,16bit,Mono,Unknown)"
    assert describe_packet(18, 0, b"\x02") == "Data packet type=Data, time=0, size=1"
    assert describe_packet(9, 0, b"") .startswith("Video packet type=Video, dts=0, pts=0, size=0, Unknown(")


# ------------------------------------------------------------------------------ session
@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    with SrsProcess(tmp_path_factory.mktemp("librtmp_api")) as s:
        yield s


def test_publish_raw_and_play_through_the_server(srs):
    url = srs.rtmp_url("live/api")
    player = RtmpSession(url, timeout_s=5)
    player.connect()
    player.play()
    pub = RtmpSession(url, complex_handshake=True)
    info = pub.connect()
    assert isinstance(info, dict)
    pub.publish()
    cfg = AacConfig(2, 44100, 2)
    assert pub.write_h264_raw(SC + SPS + SC + PPS + SC + idr(), 0, 0) == 2
    assert pub.write_aac_raw(adts(cfg, b"\x01" * 10), 0) == 2
    assert pub.write_h264_raw(SC + non_idr(), 40, 80) == 1
    pub.write_flv_tag(8, 23, b"\xaf\x01" + b"\x02" * 8)
    got = []
    while len(got) < 6:
        kind, ts, payload = player.read_flv_tag(5)
        if kind in (8, 9):
            got.append((kind, ts, payload[:2]))
    assert got == [(9, 0, b"\x17\x00"), (9, 0, b"\x17\x01"), (8, 0, b"\xaf\x00"), (8, 0, b"\xaf\x01"),
                   (9, 40, b"\x27\x01"), (8, 23, b"\xaf\x01")]
    assert player.t_first_media > 0 and player.recv_bytes > 0 and pub.sent_bytes > 0
    with pytest.raises(SrsError) as e:
        player.read_message(0.3)
    assert e.value.code == ERROR_SOCKET_TIMEOUT
    with pytest.raises(SrsError):
        pub.write_flv_tag(20, 0, b"")
    pub.close()
    player.close()


def test_second_publisher_is_refused(srs):
    url = srs.rtmp_url("live/busy")
    with RtmpSession(url) as a, RtmpSession(url, timeout_s=2) as b:
        a.connect()
        a.publish()
        b.connect()
        with pytest.raises(SrsError):
            b.publish()
        gevent.sleep(0)


def test_connect_failure_is_typed():
    s = RtmpSession(f"rtmp://127.0.0.1:{free_port()}/live/x", timeout_s=1)
    with pytest.raises(SrsError) as e:
        s.connect()
    assert e.value.code == ERROR_SOCKET_CONNECT
    assert not isinstance(e.value, ClientClosed)


def test_url_parts_and_overrides():
    s = RtmpSession("rtmp://127.0.0.1:19350/live?vhost=v.com/stream?token=1", tc_url="rtmp://other/app")
    assert (s.host, s.port, s.app, s.stream) == ("127.0.0.1", 19350, "live", "stream?token=1")
    assert s.tc_url == "rtmp://other/app"
