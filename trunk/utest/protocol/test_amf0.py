"""AMF0 encode/decode: byte tables in both directions, SRS/Flash quirks, malformed input."""
from __future__ import annotations

import copy
import enum
import math
import pickle

import pytest

from srs.kernel.errors import Amf0DecodeError, Amf0EncodeError
from srs.protocol import amf0
from srs.protocol.amf0 import Amf0Date, Amf0Reference, Amf3Value, EcmaArray, TypedObject, UNDEFINED

# (python value, exact bytes) — encode(value) == bytes and decode(bytes) == value
TABLE = [
    (None, b"\x05"),
    (UNDEFINED, b"\x06"),
    (True, b"\x01\x01"),
    (False, b"\x01\x00"),
    (0.0, b"\x00" + b"\x00" * 8),
    (1.0, b"\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    (-2.5, b"\x00\xc0\x04\x00\x00\x00\x00\x00\x00"),
    ("", b"\x02\x00\x00"),
    ("live", b"\x02\x00\x04live"),
    ("h\u00e9", b"\x02\x00\x03h\xc3\xa9"),
    ({}, b"\x03\x00\x00\x09"),
    ({"a": 1.0, "b": "x"},
     b"\x03\x00\x01a\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x00\x01b\x02\x00\x01x\x00\x00\x09"),
    (EcmaArray(), b"\x08\x00\x00\x00\x00\x00\x00\x09"),
    (EcmaArray(w=None), b"\x08\x00\x00\x00\x01\x00\x01w\x05\x00\x00\x09"),
    ([], b"\x0a\x00\x00\x00\x00"),
    ([None, True], b"\x0a\x00\x00\x00\x02\x05\x01\x01"),
    (Amf0Date(0.0, 0), b"\x0b" + b"\x00" * 10),
    (Amf0Date(1.0, -60), b"\x0b\x3f\xf0\x00\x00\x00\x00\x00\x00\xff\xc4"),
    (Amf0Reference(3), b"\x07\x00\x03"),
    (TypedObject("Cls", {"k": None}), b"\x10\x00\x03Cls\x00\x01k\x05\x00\x00\x09"),
    ({"o": {"p": []}}, b"\x03\x00\x01o\x03\x00\x01p\x0a\x00\x00\x00\x00\x00\x00\x09\x00\x00\x09"),
    (Amf3Value(b"\x06\x07abc"), b"\x11\x06\x07abc"),
]


@pytest.mark.parametrize("value,raw", TABLE, ids=[repr(v)[:30] for v, _ in TABLE])
def test_table_both_directions(value, raw):
    assert amf0.encode_value(value) == raw
    decoded, end = amf0.decode(raw)
    assert end == len(raw)
    assert decoded == value
    assert type(decoded) is type(value)


def test_dict_order_is_kept():
    d = {"z": 1, "a": 2, "m": 3}
    out, _ = amf0.decode(amf0.encode(d))
    assert list(out) == ["z", "a", "m"]


def test_ints_encode_as_numbers_and_decode_as_float():
    out, _ = amf0.decode(amf0.encode(5))
    assert out == 5.0 and type(out) is float
    assert amf0.encode(5) == amf0.encode(5.0)


def test_bool_is_not_a_number():
    assert amf0.encode(True)[0] == amf0.BOOLEAN


def test_subclasses_encode_as_base():
    class Color(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        ONE = 1

    assert amf0.encode(Color.RED) == amf0.encode("red")
    assert amf0.encode(Level.ONE) == amf0.encode(1.0)
    assert amf0.encode((1, 2)) == amf0.encode([1, 2])


def test_long_string_boundary():
    s = "x" * 65535
    assert amf0.encode(s)[0] == amf0.STRING
    s2 = "x" * 65536
    raw = amf0.encode(s2)
    assert raw[:5] == b"\x0c\x00\x01\x00\x00"
    assert amf0.decode(raw) == (s2, len(raw))
    # multi-byte utf-8: 30000 chars * 3 bytes > 65535 -> long string
    s3 = "\u4e2d" * 30000
    assert amf0.encode(s3)[0] == amf0.LONG_STRING
    assert amf0.decode(amf0.encode(s3))[0] == s3


def test_nan_and_infinity():
    assert math.isnan(amf0.decode(amf0.encode(float("nan")))[0])
    assert amf0.decode(amf0.encode(float("inf")))[0] == float("inf")


def test_invalid_utf8_round_trips():
    raw = b"\x02\x00\x02\xff\xfe"
    value, _ = amf0.decode(raw)
    assert amf0.encode(value) == raw


def test_connect_command_round_trip():
    cmd = ["connect", 1.0,
           {"app": "live", "flashVer": "FMLE/3.0", "swfUrl": "", "tcUrl": "rtmp://127.0.0.1/live",
            "fpad": False, "capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0,
            "videoFunction": 1.0, "pageUrl": None, "objectEncoding": 0.0},
           {"srs_version": "2.0.0"}]
    raw = amf0.encode(*cmd)
    assert amf0.decode_all(raw) == cmd
    # decode one at a time with offsets
    value, pos = amf0.decode(raw)
    assert value == "connect"
    value, pos = amf0.decode(raw, pos)
    assert value == 1.0


def test_accepts_bytearray_and_memoryview():
    raw = amf0.encode("a", {"b": [1.0]})
    assert amf0.decode_all(bytearray(raw)) == ["a", {"b": [1.0]}]
    assert amf0.decode_all(memoryview(raw)) == ["a", {"b": [1.0]}]
    mv = memoryview(b"xx" + raw)
    assert amf0.decode(mv, 2)[0] == "a"


# ------------------------------------------------------------------ quirks SRS tolerates

def test_ecma_array_wrong_count_ignored():
    raw = b"\x08\x00\x00\x00\x09\x00\x01a\x05\x00\x00\x09"  # says 9 entries, has 1
    assert amf0.decode(raw) == (EcmaArray(a=None), len(raw))


def test_ecma_array_missing_end_marker_at_buffer_end():
    raw = b"\x08\x00\x00\x00\x01\x00\x01a\x05"
    assert amf0.decode(raw) == (EcmaArray(a=None), len(raw))
    raw2 = raw + b"\x00\x00"  # end marker cut after its 00 00
    assert amf0.decode(raw2) == (EcmaArray(a=None), len(raw2))


def test_onmetadata_from_fmle():
    # @setDataFrame, onMetaData, ecma array with count 0 as some encoders send
    meta = EcmaArray(duration=0.0, width=1280.0, height=720.0, encoder="Lavf58")
    raw = amf0.encode("@setDataFrame", "onMetaData", meta)
    raw = raw[:raw.index(b"\x08") + 1] + b"\x00\x00\x00\x00" + raw[raw.index(b"\x08") + 5:]
    assert amf0.decode_all(raw) == ["@setDataFrame", "onMetaData", meta]


def test_empty_key_property_that_is_not_end_marker():
    raw = b"\x03\x00\x00\x05\x00\x00\x09"
    assert amf0.decode(raw) == ({"": None}, len(raw))


def test_xml_document_decodes_as_str():
    assert amf0.decode(b"\x0f\x00\x00\x00\x03<a>") == ("<a>", 8)


# ------------------------------------------------------------------ AMF3 switch

AMF3_VALUES = [
    b"\x00", b"\x01", b"\x02", b"\x03",
    b"\x04\x7f", b"\x04\x81\x00", b"\x04\xff\xff\xff\xff",
    b"\x05" + b"\x00" * 8,
    b"\x06\x07abc", b"\x06\x00",  # inline string, string reference
    b"\x07\x05ab", b"\x08\x01" + b"\x00" * 8, b"\x08\x02",
    b"\x09\x05\x03k\x04\x01\x01\x04\x02\x06\x03z",  # dense 2, assoc k=1
    b"\x0a\x0b\x01\x03a\x04\x05\x01",  # dynamic anonymous object {a: 5}
    b"\x0a\x13\x03C\x03x\x04\x01",  # sealed class C with member x
    b"\x09\x05\x01\x0a\x13\x03C\x03x\x04\x01\x0a\x01\x04\x02",  # 2nd object reuses traits 0
    b"\x0c\x05\xaa\xbb", b"\x0d\x05\x00" + b"\x00" * 8, b"\x0f\x03\x01" + b"\x00" * 8,
    b"\x10\x03\x00\x01\x04\x01", b"\x11\x03\x00\x06\x03k\x04\x01",
]


@pytest.mark.parametrize("raw3", AMF3_VALUES)
def test_amf3_switch_delimited(raw3):
    raw = b"\x11" + raw3 + b"\x05"
    assert amf0.decode_all(raw) == [Amf3Value(raw3), None]
    assert amf0.encode(Amf3Value(raw3), None) == raw


@pytest.mark.parametrize("raw3", [
    b"", b"\x06\x07ab", b"\x0a\x07\x03C",  # truncated
    b"\x0a\x05",  # traits reference to nothing
    b"\x0a\x07\x03C\x00",  # externalizable
    b"\x12",  # unknown marker
    b"\x09\xff\xff\xff\x7f\x01",  # huge dense count, no data
])
def test_amf3_undelimitable(raw3):
    with pytest.raises(Amf0DecodeError):
        amf0.decode(b"\x11" + raw3)


# ------------------------------------------------------------------ malformed input

MALFORMED = [
    (b"", "no value"),
    (b"\x00\x00\x00", "truncated number"),
    (b"\x01", "truncated boolean"),
    (b"\x02\x00", "truncated string"),
    (b"\x02\x00\x05abc", "truncated string"),
    (b"\x0c\xff\xff\xff\xff", "truncated long string"),
    (b"\x03\x00\x05ab", "truncated object"),
    (b"\x03\x00\x01a", "truncated object"),
    (b"\x03\x00\x01a\x02\x00\x09", "truncated string"),
    (b"\x08\x00\x00", "truncated ecma array"),
    (b"\x0a\x00\x00\x00\x05\x05", "truncated strict array"),
    (b"\x0a\xff\xff\xff\xff", "truncated strict array"),
    (b"\x0b\x00\x00", "truncated date"),
    (b"\x07\x00", "truncated reference"),
    (b"\x10\x00\x05ab", "truncated typed object"),
    (b"\x0f\x00\x00\x00\x09", "truncated xml document"),
    (b"\x04", "unsupported marker 0x04"),
    (b"\x0d", "unsupported marker 0x0d"),
    (b"\x0e", "unsupported marker 0x0e"),
    (b"\x09", "unexpected object end"),
    (b"\x42", "unsupported marker 0x42"),
]


@pytest.mark.parametrize("raw,msg", MALFORMED)
def test_malformed_raises_typed_error(raw, msg):
    with pytest.raises(Amf0DecodeError) as info:
        amf0.decode(raw)
    assert msg in str(info.value)
    assert info.value.code == 2003


def test_error_names_offset():
    raw = amf0.encode("connect", 1.0) + b"\x02\x00\x09abc"  # 10 + 9 bytes before it
    with pytest.raises(Amf0DecodeError, match="truncated string at offset 19"):
        amf0.decode_all(raw)


def test_nesting_limit():
    deep = b"\x0a\x00\x00\x00\x01" * 200 + b"\x05"
    with pytest.raises(Amf0DecodeError, match="nesting"):
        amf0.decode(deep)
    ok = b"\x0a\x00\x00\x00\x01" * 50 + b"\x05"
    value, end = amf0.decode(ok)
    assert end == len(ok)


def test_garbage_never_raises_untyped():
    # a deterministic pseudo-random sweep (LCG) over short buffers
    state = 12345
    for _ in range(3000):
        n = state % 24
        buf = bytearray()
        for _ in range(n):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            buf.append((state >> 16) % 0x13 if len(buf) % 3 == 0 else (state >> 16) & 0xFF)
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        try:
            amf0.decode_all(bytes(buf))
        except Amf0DecodeError:
            pass


def test_every_truncation_of_a_command_raises():
    raw = amf0.encode("publish", 5.0, None, "livestream", {"a": [1, "b", EcmaArray(c=True)]})
    values = amf0.decode_all(raw)
    boundaries = set()
    pos = 0
    for _ in values:
        _, pos = amf0.decode(raw, pos)
        boundaries.add(pos)
    tolerated = set()
    for cut in range(1, len(raw)):
        if cut in boundaries:
            continue
        try:
            amf0.decode_all(raw[:cut])
        except Amf0DecodeError:
            continue
        tolerated.add(cut)
    # as SRS: an object/ecma array may end (unclosed) at the end of the buffer between its
    # properties: after the object marker (34), after the ecma count (60), after "c" (65),
    # after "00 00" of an end marker (67, 70), after the ecma's end marker (68)
    assert tolerated == {34, 60, 65, 67, 68, 70}


def test_object_missing_end_marker_at_buffer_end_tolerated():
    # SrsAmf0Object::read stops at the end of the stream without the 00 00 09 marker
    assert amf0.decode(b"\x03\x00\x01a\x05") == ({"a": None}, 5)
    assert amf0.decode(b"\x03") == ({}, 1)


# ------------------------------------------------------------------ encode errors

@pytest.mark.parametrize("value", [b"bytes", object(), {1: "x"}, 10 ** 400, {"a": {1, 2}},
                                   Amf0Reference(70000)])
def test_unencodable(value):
    with pytest.raises(Amf0EncodeError):
        amf0.encode(value)


def test_recursive_structure_raises_encode_error():
    d: dict = {}
    d["self"] = d
    with pytest.raises(Amf0EncodeError, match="nesting"):
        amf0.encode(d)


def test_undefined_is_singleton_and_falsy():
    assert not UNDEFINED
    assert copy.deepcopy(UNDEFINED) is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED
    assert type(UNDEFINED)() is UNDEFINED
