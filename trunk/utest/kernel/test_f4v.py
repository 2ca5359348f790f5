"""F4V boxes, the abst bootstrap, F4F fragments and the F4M manifest: bytes both ways + malformed input."""
from __future__ import annotations

import struct

import pytest

from srs.kernel import f4v
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

# SRS's bootstrap for fragments 1..2 of a live stream (hand-assembled from srs_app_hds.cpp's writes).
SRS_ABST = (
    b"\x00\x00\x00\x7a" b"abst" b"\x00\x00\x00\x00"       # size 122, version/flags
    b"\x00\x00\x00\x02"                                   # BootstrapinfoVersion = last fragment
    b"\x20"                                               # profile 0, live, no update
    b"\x00\x00\x03\xe8"                                   # TimeScale 1000
    b"\x00\x00\x00\x00\x00\x00\x27\x10"                   # CurrentMediaTime 10000
    b"\x00\x00\x00\x00\x00\x00\x00\x00"                   # SmpteTimeCodeOffset
    b"\x00" b"\x00" b"\x00" b"\x00" b"\x00"               # movie id, servers, qualities, drm, meta
    b"\x01"                                               # SegmentRunTableCount
    b"\x00\x00\x00\x19" b"asrt" b"\x00\x00\x00\x00" b"\x00"
    b"\x00\x00\x00\x01" b"\x00\x00\x00\x01" b"\x00\x00\x00\x02"
    b"\x01"                                               # FragmentRunTableCount
    b"\x00\x00\x00\x35" b"afrt" b"\x00\x00\x00\x00" b"\x00\x00\x03\xe8" b"\x00"
    b"\x00\x00\x00\x02"
    b"\x00\x00\x00\x01" b"\x00\x00\x00\x00\x00\x00\x00\x00" b"\x00\x00\x27\x10"
    b"\x00\x00\x00\x02" b"\x00\x00\x00\x00\x00\x00\x27\x10" b"\x00\x00\x27\x10"
)

SRS_BOOT = f4v.Bootstrap(version=2, live=True, current_media_time=10000, segment_runs=[(1, 2)],
                         fragment_runs=[f4v.FragmentRun(1, 0, 10000), f4v.FragmentRun(2, 10000, 10000)])


def test_abst_table_both_ways():
    assert SRS_BOOT.encode() == SRS_ABST
    assert f4v.Bootstrap.parse(SRS_ABST) == SRS_BOOT


def test_abst_full_fields_round_trip():
    b = f4v.Bootstrap(version=7, live=False, update=True, profile=1, current_media_time=2 ** 40,
                      smpte_offset=5, movie_identifier="movie", servers=("http://a/", "http://b/"),
                      qualities=("hd",), drm_data="drm", metadata="meta", segment_runs=[(1, 3), (2, 5)],
                      fragment_runs=[f4v.FragmentRun(1, 0, 4000), f4v.FragmentRun(4, 12000, 0, 1)],
                      fragment_time_scale=90000)
    data = b.encode()
    back = f4v.Bootstrap.parse(data)
    assert back == b
    assert back.fragment_runs[1].discontinuity == 1
    assert back.encode() == data


def test_boxes_iterate_and_large_size():
    data = f4v.box(b"afra", b"\x00" * 5) + b"\x00\x00\x00\x01mdat" + struct.pack(">Q", 20) + b"abcd"
    assert [(k, e - s) for k, s, e in f4v.iter_boxes(data)] == [(b"afra", 5), (b"mdat", 4)]
    # size 0: to the end of the data
    assert [k for k, _, _ in f4v.iter_boxes(b"\x00\x00\x00\x00mdatxyz")] == [b"mdat"]


def _msgs():
    avc_sh = Message.make(MSG_VIDEO, 1000, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f")
    key = Message.make(MSG_VIDEO, 1000, b"\x17\x01\x00\x00\x00" + b"k" * 50)
    aac = Message.make(MSG_AUDIO, 1023, b"\xaf\x01" + b"a" * 20)
    inter = Message.make(MSG_VIDEO, 2 ** 31 + 5, b"\x27\x01\x00\x00\x00" + b"p" * 30)  # extended ts byte
    return [avc_sh, key, aac, inter]


def test_fragment_round_trip():
    msgs = _msgs()
    data = f4v.encode_fragment(msgs)
    assert data[4:8] == b"mdat" and struct.unpack(">I", data[:4])[0] == len(data)
    back = f4v.parse_fragment(data)
    assert [(m.kind, m.ts_ms, m.payload) for m in back] == [(m.kind, m.ts_ms, m.payload) for m in msgs]
    assert back[0].seq_header and back[1].keyframe
    # other boxes before mdat (afra/abst/moof as other packagers write) are skipped
    assert len(f4v.parse_fragment(f4v.box(b"afra", b"\x00" * 9) + SRS_ABST + data)) == 4
    assert f4v.fragment_name("livestream", 12) == "livestreamSeg1-Frag12"


def test_manifest_both_ways():
    text = f4v.manifest("livestream")
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<manifest xmlns="http://ns.adobe.com/f4m/1.0">')
    m = f4v.parse_manifest(text)
    assert m["id"] == "livestream.f4m" and m["streamType"] == "live" and m["deliveryType"] == "streaming"
    assert m["bootstrap"] == {"profile": "named", "url": "livestream.abst", "id": "bootstrap0"}
    assert m["media"] == [{"bitrate": "0", "url": "livestream", "bootstrapInfoId": "bootstrap0"}]
    assert f4v.parse_manifest(f4v.manifest('a&b"<c>').encode())["id"] == 'a&b"<c>.f4m'


@pytest.mark.parametrize("data", [
    SRS_ABST[:7],                                     # header truncated
    SRS_ABST[:50],                                    # box size beyond the data
    b"\x00\x00\x00\x04abst",                          # size smaller than its header
    b"\x00\x00\x00\x01abst\x00\x00",                  # large size truncated
    b"\xff\xff\xff\xffabst" + b"\x00" * 16,           # huge size
    f4v.box(b"abst", SRS_ABST[8:40]),                 # body truncated inside the fields
    f4v.box(b"abst", SRS_ABST[8:37] + b"xxxx"),       # unterminated movie identifier
    f4v.box(b"abst", SRS_ABST[8:42] + b"\xff"),       # 255 segment tables in no bytes
    f4v.box(b"moov", b""),                            # no abst at all
    f4v.box(b"abst", SRS_ABST[8:43] + f4v.box(b"afrt", b"")),  # afrt where asrt is due
    f4v.box(b"abst", SRS_ABST[8:43] + b"\x00\x00\x00\x19asrt\x00\x00\x00\x00\x00\xff\xff\xff\xff"
            + b"\x00" * 8),                           # huge segment run count
])
def test_malformed_bootstrap_raises(data):
    with pytest.raises(CodecError):
        f4v.Bootstrap.parse(data)


@pytest.mark.parametrize("data", [
    b"",                                               # no mdat
    f4v.box(b"afra", b""),                             # no mdat
    f4v.box(b"mdat", f4v.encode_fragment(_msgs())[8:-3]),   # truncated last tag
    f4v.box(b"mdat", b"\x63" + b"\x00" * 14),         # bad tag type
    f4v.encode_fragment(_msgs())[:-10],               # mdat size beyond the data
])
def test_malformed_fragment_raises(data):
    with pytest.raises(CodecError):
        f4v.parse_fragment(data)


@pytest.mark.parametrize("text", ["", "<manifest", "<html/>", "<!DOCTYPE x [<!ENTITY a 'b'>]><manifest/>",
                                  b"\xff\xfe<manifest/>"])
def test_malformed_manifest_raises(text):
    with pytest.raises(CodecError):
        f4v.parse_manifest(text)
