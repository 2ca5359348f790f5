"""srs.app.rtmp.librtmp (RtmpSession, packet printing) and srs.app.rtmp.raw_muxer (raw H.264/AAC muxers).

The muxers are checked byte for byte; the session publishes and plays against the real server
(gevent sockets in this process: every call blocks only this greenlet)."""
import gevent
import pytest

from fixtures.srs_server import SrsProcess, free_port

from srs.app.rtmp.librtmp import ClientClosed, RtmpSession, describe_packet, packet_pts
from srs.app.rtmp.raw_muxer import AacRawMuxer, AvcRawMuxer, split_access_units
from srs.kernel.codec import AacConfig, AvcConfig, adts_header, avcc_split
from srs.kernel.errors import ERROR_SOCKET_CONNECT, ERROR_SOCKET_TIMEOUT, CodecError, SrsError

# The 320x240 SPS/PPS pair x264 wrote for the test media, so AvcConfig can parse the SPS.
SPS = bytes.fromhex("6742c00dda0507e840000003004000000ca3c50aa8")
PPS = bytes.fromhex("68ce3c80")
SC = b"\x00\x00\x00\x01"


def idr(n=1):
    return bytes((0x65, 0x88, 0x84, n)) + b"\x11" * 20


def non_idr(n=1):
    return bytes((0x41, 0x9A, 0x02, n)) + b"\x22" * 10


# ------------------------------------------------------------------------------ raw H.264
def test_avc_sequence_header_then_keyframe():
    m = AvcRawMuxer()
    msgs = m.on_frames(SC + SPS + SC + PPS + SC + idr(), 40, 80)
    assert [(x.kind, x.ts_ms, x.seq_header, x.keyframe) for x in msgs] == [(9, 40, True, True), (9, 40, False, True)]
    sh, key = msgs
    assert sh.payload[:5] == b"\x17\x00\x00\x00\x00"
    cfg = AvcConfig.parse(sh.payload[5:])
    assert cfg.sps == [SPS] and cfg.pps == [PPS] and (cfg.width, cfg.height) == (320, 240)
    assert key.payload[:5] == b"\x17\x01\x00\x00\x28"  # cts = pts - dts = 40
    assert [bytes(n) for n in avcc_split(key.payload[5:])] == [idr()]


def test_avc_repeated_parameter_sets_send_no_header_and_changes_do():
    m = AvcRawMuxer()
    m.on_frames(SC + SPS + SC + PPS + SC + idr(), 0, 0)
    again = m.on_frames(SC + SPS + SC + PPS + SC + idr(2), 1000, 1000)
    assert [x.seq_header for x in again] == [False]
    pps2 = PPS[:-1] + b"\x21"
    changed = m.on_frames(SC + pps2 + SC + idr(3), 2000, 2000)
    assert [x.seq_header for x in changed] == [True, False]
    assert AvcConfig.parse(changed[0].payload[5:]).pps == [pps2]


def test_avc_aud_dropped_sei_waits_for_its_picture_and_slices_merge():
    m = AvcRawMuxer()
    m.on_frames(SC + SPS + SC + PPS, 0, 0)  # parameter sets alone: nothing yet
    sei = b"\x06\x05\x01\x00\x80"
    assert m.on_frames(SC + b"\x09\xf0" + SC + sei, 0, 0) == []
    msgs = m.on_frames(b"\x00\x00\x01" + idr(1) + SC + idr(2), 0, 0)
    assert [x.seq_header for x in msgs] == [True, False]
    assert [bytes(n) for n in avcc_split(msgs[1].payload[5:])] == [sei, idr(1), idr(2)]
    p = m.on_frames(SC + non_idr(), 40, 40)
    assert len(p) == 1 and not p[0].keyframe and p[0].payload[:2] == b"\x27\x01"


def test_avc_pictures_before_sps_pps_are_dropped():
    m = AvcRawMuxer()
    assert m.on_frames(SC + idr(), 0, 0) == [] and m.dropped == 1
    assert len(m.on_frames(SC + SPS + SC + PPS + SC + idr(), 40, 40)) == 2


@pytest.mark.parametrize("bad", [b"", b"\x12\x34\x56", b"\x00\x00\x00"])
def test_avc_garbage_raises_codec_error(bad):
    with pytest.raises(CodecError):
        AvcRawMuxer().on_frames(bad, 0, 0)


def test_avc_bad_sps_raises_codec_error():
    with pytest.raises(CodecError):
        AvcRawMuxer().on_frames(SC + b"\x67\x42" + SC + PPS + SC + idr(), 0, 0)


def test_split_access_units():
    stream = (SC + b"\x06\x05\x01\x00\x80" + SC + SPS + SC + PPS + SC + idr(1) + SC + non_idr(1)
              + SC + b"\x09\xf0" + SC + non_idr(2) + SC + b"\x41\x1a\x00")  # last: first_mb != 0
    units = split_access_units(stream)
    assert len(units) == 3
    assert units[0].startswith(SC + b"\x06") and units[0].endswith(idr(1))
    assert units[1] == SC + non_idr(1)
    assert units[2] == SC + b"\x09\xf0" + SC + non_idr(2) + SC + b"\x41\x1a\x00"


# ------------------------------------------------------------------------------ raw AAC
def adts(cfg, raw):
    return adts_header(cfg, len(raw)) + raw


def test_aac_sequence_header_and_frame_spacing():
    cfg = AacConfig(2, 44100, 2)
    m = AacRawMuxer()
    msgs = m.on_frames(adts(cfg, b"\x01" * 10) + adts(cfg, b"\x02" * 12) + adts(cfg, b"\x03" * 5), 1000)
    assert [(x.ts_ms, x.seq_header) for x in msgs] == [(1000, True), (1000, False), (1023, False), (1046, False)]
    assert msgs[0].payload == b"\xaf\x00" + cfg.build() == b"\xaf\x00\x12\x10"
    assert msgs[2].payload == b"\xaf\x01" + b"\x02" * 12
    # same config: no new header; a mono 48 kHz stream: a new one, mono flag in the FLV byte
    assert [x.seq_header for x in m.on_frames(adts(cfg, b"\x04"), 2000)] == [False]
    mono = AacConfig(2, 48000, 1)
    msgs = m.on_frames(adts(mono, b"\x05"), 3000)
    assert msgs[0].seq_header and msgs[0].payload == b"\xae\x00" + mono.build()


@pytest.mark.parametrize("bad", [b"\xff\xf1\x50", b"\x00" * 20, adts(AacConfig(), b"\x01" * 10)[:-3]])
def test_aac_garbage_raises_codec_error(bad):
    with pytest.raises(CodecError):
        AacRawMuxer().on_frames(bad, 0)


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
