"""Byte tables for the sans-IO HTTP/1.1 parser and builders (srs.protocol.http)."""
from __future__ import annotations

import pytest

from srs.kernel.errors import HttpError
from srs.protocol.http import (LAST_CHUNK, BodyDecoder, HttpRequestParser, chunk, parse_byte_range, reason_phrase,
                               request_head, response_head)
from srs.protocol.http_response import HttpResponseParser, ResponseEnd, ResponseHead


def parse_one(data: bytes, **kw):
    reqs = HttpRequestParser(**kw).receive_data(data)
    assert len(reqs) == 1, reqs
    return reqs[0]


def expect_status(data: bytes, status: int, **kw):
    p = HttpRequestParser(**kw)
    with pytest.raises(HttpError) as ei:
        p.receive_data(data)
    assert ei.value.status == status, ei.value
    # the parser stays failed: later bytes raise the same error, never parse garbage
    with pytest.raises(HttpError):
        p.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    return ei.value


# (raw bytes, expected attributes)
GOOD = [
    (b"GET / HTTP/1.1\r\nHost: a.com\r\n\r\n",
     dict(method="GET", target="/", path="/", raw_path="/", query={}, version="1.1",
          keep_alive=True, host="a.com", body=b"")),
    (b"GET /live/livestream.flv?vhost=v1&token=x&token=y HTTP/1.1\r\nHost: a.com:8080\r\n\r\n",
     dict(path="/live/livestream.flv", query={"vhost": "v1", "token": "x"},
          query_list=[("vhost", "v1"), ("token", "x"), ("token", "y")], host="a.com")),
    (b"GET /a%20b/%E4%B8%AD.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n",
     dict(path="/a b/\u4e2d.m3u8", raw_path="/a%20b/%E4%B8%AD.m3u8")),
    (b"GET / HTTP/1.0\r\n\r\n", dict(version="1.0", keep_alive=False, host="")),
    (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", dict(version="1.0", keep_alive=True)),
    (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", dict(keep_alive=False)),
    (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n", dict(keep_alive=False)),
    (b"GET http://Origin.COM:1935/live/s.flv?a=1 HTTP/1.1\r\nHost: other\r\n\r\n",
     dict(path="/live/s.flv", query={"a": "1"}, host="origin.com")),
    (b"GET http://h.com HTTP/1.1\r\nHost: h.com\r\n\r\n", dict(path="/", host="h.com")),
    (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", dict(method="OPTIONS", path="*")),
    (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", dict(host="::1")),
    (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", dict(version="1.1")),
    # bare LF line ends are accepted (RFC 9112 2.2)
    (b"GET /x HTTP/1.1\nHost: h\n\n", dict(path="/x")),
    # leading empty lines are ignored
    (b"\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n", dict(path="/y")),
    (b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
     dict(method="POST", body=b"hello")),
    (b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", dict(body=b"hello")),
    (b"POST /api HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
     dict(body=b"ok")),
    (b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
     dict(body=b"hello world")),
    (b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
     dict(body=b"0123456789")),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Obs: caf\xe9\r\n\r\n", dict()),
]


@pytest.mark.parametrize("raw,attrs", GOOD)
def test_good_requests(raw, attrs):
    req = parse_one(raw)
    for k, v in attrs.items():
        assert getattr(req, k) == v, (k, getattr(req, k))
    # the same bytes fed one at a time give the same request
    p = HttpRequestParser()
    got = []
    for i in range(len(raw)):
        got += p.receive_data(raw[i:i + 1])
    assert len(got) == 1
    for k, v in attrs.items():
        assert getattr(got[0], k) == v


def test_headers_case_insensitive():
    req = parse_one(b"GET / HTTP/1.1\r\nHost: h\r\nX-Foo:   bar baz \t\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n")
    assert req.header("x-foo") == "bar baz"
    assert req.header("X-FOO") == "bar baz"
    assert req.header("x-dup") == "1"
    assert req.header("missing") is None
    assert ("X-Foo", "bar baz") in req.headers
    assert req.header("x-empty") is None


BAD = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/x.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n\r\n", 400),                                    # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),             # two Hosts
    (b"GET relative HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400),                  # NUL
    (b"GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n", 400),                  # bad escape
    (b"GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400),                    # truncated escape
    (b"GET /%C3%28 HTTP/1.1\r\nHost: h\r\n\r\n", 400),                 # invalid UTF-8
    (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400),               # raw non-ASCII target
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),                      # space before colon
    (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n folded\r\n\r\n", 400),  # obs-fold
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400),         # bare CR
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    # bad chunked encodings
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"11111111111111111\r\n", 400),                                    # 17 hex digits
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000, 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFF\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400),
]


@pytest.mark.parametrize("raw,status", BAD)
def test_bad_requests(raw, status):
    expect_status(raw, status)


@pytest.mark.parametrize("raw,status", BAD)
def test_bad_requests_byte_at_a_time(raw, status):
    p = HttpRequestParser()
    with pytest.raises(HttpError) as ei:
        for i in range(len(raw)):
            p.receive_data(raw[i:i + 1])
    assert ei.value.status == status


def test_header_section_too_large_431():
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n"
    expect_status(raw, 431)
    # also without the end of head ever arriving (a client that keeps sending)
    expect_status(raw[:9000], 431)
    # a byte at a time: refused as soon as the limit is passed, long before the end
    p = HttpRequestParser()
    with pytest.raises(HttpError) as ei:
        for i in range(len(raw)):
            p.receive_data(raw[i:i + 1])
    assert ei.value.status == 431 and i < 8300


def test_request_line_too_long_414():
    expect_status(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414)
    expect_status(b"GET /" + b"a" * 9000, 414)


def test_too_many_headers_431():
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"
    expect_status(raw, 431)
    ok = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(99)) + b"\r\n"
    assert len(parse_one(ok).headers) == 100


def test_limits_are_configurable():
    expect_status(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", 413, max_body=10)
    expect_status(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", 431, max_headers=2)
    expect_status(b"GET / HTTP/1.1\r\nHost: h\r\nA: " + b"x" * 200 + b"\r\n\r\n", 431,
                  max_header_bytes=100)


def test_pipelined_requests():
    raw = (b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
           b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
           b"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
           b"GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
           b"GET /5 HT")
    p = HttpRequestParser()
    reqs = p.receive_data(raw)
    assert [r.path for r in reqs] == ["/1", "/2", "/3", "/4"]
    assert [r.body for r in reqs] == [b"", b"abc", b"xy", b""]
    assert [r.keep_alive for r in reqs] == [True, True, True, False]
    assert p.in_head and not p.idle
    assert [r.path for r in p.receive_data(b"TP/1.1\r\nHost: h\r\n\r\n")] == ["/5"]
    assert p.idle and not p.in_head
    # one byte at a time
    p2 = HttpRequestParser()
    got = []
    for i in range(len(raw)):
        got += p2.receive_data(raw[i:i + 1])
    assert [r.path for r in got] == ["/1", "/2", "/3", "/4"]
    assert [r.body for r in got] == [b"", b"abc", b"xy", b""]


def test_body_state_is_not_idle():
    p = HttpRequestParser()
    assert p.idle
    assert p.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab") == []
    assert not p.idle and not p.in_head and p.state == "body"
    assert p.receive_data(b"cd")[0].body == b"abcd"
    assert p.idle


def test_response_head_and_builders():
    head = response_head(200, [("Content-Type", "text/plain"), ("Content-Length", 5)])
    assert head == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
    assert response_head(404, []) == b"HTTP/1.1 404 Not Found\r\n\r\n"
    assert response_head(299, [], reason="Custom") == b"HTTP/1.1 299 Custom\r\n\r\n"
    assert reason_phrase(431) == "Request Header Fields Too Large"
    assert reason_phrase(799) == "Unknown"
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert chunk(b"") == b""
    assert LAST_CHUNK == b"0\r\n\r\n"
    assert request_head("GET", "/a?b=1", [("Host", "h")]) == b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    # header injection in our own output is refused
    for bad in ([("X", "a\r\nSet-Cookie: x")], [("Bad Name", "v")], [("X", "a\nb")]):
        with pytest.raises(HttpError):
            response_head(200, bad)
    with pytest.raises(HttpError):
        response_head(42, [])
    with pytest.raises(HttpError):
        request_head("GET", "/a b", [])


def test_builders_round_trip_through_parsers():
    # request builder -> request parser
    body = b"x=1"
    raw = request_head("POST", "/api/v1/clients?id=3", [("Host", "h:80"), ("Content-Length", len(body))])
    req = parse_one(raw + body)
    assert (req.method, req.path, req.query, req.body, req.host) == ("POST", "/api/v1/clients",
                                                                   {"id": "3"}, body, "h")
    # response builder + chunk -> response parser
    raw = response_head(200, [("Transfer-Encoding", "chunked")]) + chunk(b"ab") + chunk(b"cde") + LAST_CHUNK
    ev = HttpResponseParser().receive_data(raw)
    assert isinstance(ev[0], ResponseHead) and ev[0].status == 200
    assert b"".join(e for e in ev if isinstance(e, bytes)) == b"abcde"
    assert isinstance(ev[-1], ResponseEnd)


def collect(parser, data, step=None):
    events = []
    if step is None:
        events += parser.receive_data(data)
    else:
        for i in range(0, len(data), step):
            events += parser.receive_data(data[i:i + step])
    return events


def summarize(events):
    heads = [e for e in events if isinstance(e, ResponseHead)]
    body = b"".join(e for e in events if isinstance(e, bytes))
    ends = sum(1 for e in events if isinstance(e, ResponseEnd))
    return heads, body, ends


@pytest.mark.parametrize("step", [None, 1, 3])
def test_response_content_length(step):
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nServer: x\r\n\r\nhello world"
    heads, body, ends = summarize(collect(HttpResponseParser(), raw, step))
    assert heads[0].status == 200 and heads[0].reason == "OK" and heads[0].header("server") == "x"
    assert heads[0].keep_alive
    assert body == b"hello world" and ends == 1


@pytest.mark.parametrize("step", [None, 1, 5])
def test_response_chunked_then_keepalive_next(step):
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nExpires: never\r\n\r\n"
           b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
    events = collect(HttpResponseParser(), raw, step)
    heads, body, ends = summarize(events)
    assert [h.status for h in heads] == [404 - 204, 404]
    assert body == b"Wikipediano" and ends == 2


def test_response_until_close_and_eof():
    p = HttpResponseParser()
    ev = p.receive_data(b"HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\n\r\nFLV\x01")
    ev += p.receive_data(b"more")
    heads, body, ends = summarize(ev)
    assert heads[0].version == "1.0" and not heads[0].keep_alive
    assert body == b"FLV\x01more" and ends == 0
    assert isinstance(p.receive_eof()[0], ResponseEnd)


def test_response_no_body_cases():
    p = HttpResponseParser(head_request=True)
    heads, body, ends = summarize(p.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"))
    assert heads[0].status == 200 and body == b"" and ends == 1
    p = HttpResponseParser()
    ev = p.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    heads, body, ends = summarize(ev)
    assert [h.status for h in heads] == [204, 200] and ends == 2
    assert p.receive_eof() == []


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"HTTP/1.1 200 OK\r\nContent-",
])
def test_response_truncated_raises_on_eof(raw):
    p = HttpResponseParser()
    p.receive_data(raw)
    with pytest.raises(HttpError):
        p.receive_eof()


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000,
])
def test_response_malformed(raw):
    p = HttpResponseParser()
    with pytest.raises(HttpError):
        p.receive_data(raw)
        p.receive_eof()


RANGES = [
    ("bytes=0-99", 1000, (0, 99)),
    ("bytes=100-", 1000, (100, 999)),
    ("bytes=-100", 1000, (900, 999)),
    ("bytes=-5000", 1000, (0, 999)),
    ("bytes=900-5000", 1000, (900, 999)),
    ("Bytes = 1-2", 1000, None),        # malformed: ignored
    ("bytes=5-1", 1000, None),
    ("bytes=0-1,5-6", 1000, None),      # several ranges: ignored (whole file)
    ("items=0-1", 1000, None),
    ("bytes=a-b", 1000, None),
]


@pytest.mark.parametrize("spec,size,want", RANGES)
def test_parse_byte_range(spec, size, want):
    assert parse_byte_range(spec, size) == want


@pytest.mark.parametrize("spec,size", [("bytes=1000-", 1000), ("bytes=2000-3000", 1000),
                                       ("bytes=-0", 1000), ("bytes=0-", 0)])
def test_parse_byte_range_unsatisfiable(spec, size):
    with pytest.raises(HttpError) as ei:
        parse_byte_range(spec, size)
    assert ei.value.status == 416


def test_chunk_framing_round_trips_through_the_body_decoder():
    """``chunk`` (the one writer of chunk framing: responses and the live fan-out) and
    ``BodyDecoder`` (the one reader: the request parser's rules, for a body that never ends)."""
    pieces = [b"x" * n for n in (1, 15, 16, 255, 4096, 70000)]
    for view in (bytes, bytearray, memoryview):
        wire = b"".join(chunk(view(p)) for p in pieces)
        assert chunk(view(b"")) == b""
        d = BodyDecoder(True, None)
        got = b"".join(d.receive_data(wire[i:i + 7]) for i in range(0, len(wire), 7))
        assert got == b"".join(pieces) and not d.done   # no last chunk yet: the body goes on
        assert d.receive_data(LAST_CHUNK) == b"" and d.done


def test_body_decoder_framings_and_sticky_errors():
    d = BodyDecoder(False, 3)
    assert d.receive_data(b"ab") == b"ab" and not d.done
    assert d.receive_data(b"cd") == b"c" and d.done and d.receive_data(b"e") == b""
    d = BodyDecoder(False, None)
    assert d.until_close and d.receive_data(b"abc") == b"abc" and not d.done
    assert BodyDecoder(False, 0).done
    d = BodyDecoder(True, None)
    with pytest.raises(HttpError) as e:
        d.receive_data(b"3\r\nabcXY")
    assert e.value.status == 400
    with pytest.raises(HttpError):
        d.receive_data(b"\r\n")   # a decoder that failed stays failed
