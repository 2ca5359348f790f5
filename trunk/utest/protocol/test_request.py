"""tcUrl / stream parsing as SRS does it, Request construction, and URL builders."""
from __future__ import annotations

import pytest

from srs.kernel.errors import ERROR_RTMP_REQ_CONNECT, ERROR_RTMP_REQ_TCURL, RequestError
from srs.protocol import amf0
from srs.protocol.request import (DEFAULT_VHOST, Request, discover_tc_url, guess_stream_by_app,
                                  make_rtmp_url, make_tc_url, parse_host_port, parse_rtmp_url,
                                  split_stream_url)

# tcUrl, stream -> schema, host, vhost, app, stream, port, param
DISCOVER = [
    ("rtmp://127.0.0.1/live", "livestream",
     ("rtmp", "127.0.0.1", "127.0.0.1", "live", "livestream", 1935, "")),
    ("rtmp://ossrs.net/live", "livestream",
     ("rtmp", "ossrs.net", "ossrs.net", "live", "livestream", 1935, "")),
    # SRS docs: vhost in the app for clients that cannot set a domain
    ("rtmp://192.168.1.10/live?vhost=v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "?vhost=v.com")),
    ("rtmp://192.168.1.10/live...vhost...v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "")),
    ("rtmp://192.168.1.10/live&vhost=v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "")),
    ("rtmp://192.168.1.10/live,vhost,v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "")),
    ("rtmp://192.168.1.10/live&&vhost=v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "")),
    ("rtmp://192.168.1.10:19350/live?vhost=v.com&token=abc", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 19350, "?vhost=v.com&token=abc")),
    ("rtmp://192.168.1.10/live?token=abc&vhost=v.com", "livestream",
     ("rtmp", "192.168.1.10", "v.com", "live", "livestream", 1935, "?token=abc&vhost=v.com")),
    # Wowza/FMS default instance
    ("rtmp://v.com:19350/live/_definst_", "livestream",
     ("rtmp", "v.com", "v.com", "live", "livestream", 19350, "")),
    # params on the stream (ffmpeg/OBS: rtmp://ip/live/livestream?vhost=x&token=1)
    ("rtmp://127.0.0.1/live", "livestream?vhost=x.com&token=1",
     ("rtmp", "127.0.0.1", "x.com", "live", "livestream", 1935, "?vhost=x.com&token=1")),
    ("rtmp://127.0.0.1/live", "livestream?token=1",
     ("rtmp", "127.0.0.1", "127.0.0.1", "live", "livestream", 1935, "?token=1")),
    ("rtmp://127.0.0.1/live?vhost=a.com", "livestream?vhost=b.com",
     ("rtmp", "127.0.0.1", "b.com", "live", "livestream", 1935, "?vhost=b.com")),
    ("rtmp://127.0.0.1/live", "livestream...vhost...s.com",
     ("rtmp", "127.0.0.1", "s.com", "live", "livestream", 1935, "")),
    # only the default vhost as param: dropped
    ("rtmp://127.0.0.1/live?vhost=__defaultVhost__", "livestream",
     ("rtmp", "127.0.0.1", "__defaultVhost__", "live", "livestream", 1935, "")),
    # stripping: spaces, CR/LF/TAB, leading/trailing slashes
    ("rtmp://127.0.0.1/ live/ ", " /livestream\r\n",
     ("rtmp", "127.0.0.1", "127.0.0.1", "live", "livestream", 1935, "")),
    ("rtmp://127.0.0.1//live//", "livestream/",
     ("rtmp", "127.0.0.1", "127.0.0.1", "live", "livestream", 1935, "")),
    # multi-level app
    ("rtmp://127.0.0.1/live/sub", "s", ("rtmp", "127.0.0.1", "127.0.0.1", "live/sub", "s", 1935, "")),
    # IPv6
    ("rtmp://[::1]:1935/live", "s", ("rtmp", "::1", "::1", "live", "s", 1935, "")),
    ("rtmp://[2001:db8::1]:19350/live", "s",
     ("rtmp", "2001:db8::1", "2001:db8::1", "live", "s", 19350, "")),
    ("rtmp://[::1]/live", "s", ("rtmp", "::1", "::1", "live", "s", 1935, "")),
    # no app: SRS 3.0's default app
    ("rtmp://127.0.0.1", "s", ("rtmp", "127.0.0.1", "127.0.0.1", "__defaultApp__", "s", 1935, "")),
    # no stream yet (connect time)
    ("rtmp://127.0.0.1:1936/live", "", ("rtmp", "127.0.0.1", "127.0.0.1", "live", "", 1936, "")),
]


@pytest.mark.parametrize("tc_url,stream,expect", DISCOVER, ids=[f"{t}|{s}" for t, s, _ in DISCOVER])
def test_discover(tc_url, stream, expect):
    assert discover_tc_url(tc_url, stream) == expect


@pytest.mark.parametrize("hostport,expect", [
    ("h", ("h", 1935)), ("h:1", ("h", 1)), ("[::1]:80", ("::1", 80)), ("[::1]", ("::1", 1935)),
    ("::1", ("::1", 1935)), ("h:65535", ("h", 65535)),
])
def test_parse_host_port(hostport, expect):
    assert parse_host_port(hostport) == expect


@pytest.mark.parametrize("hostport", ["h:abc", "h:0", "h:65536", "[::1]:x", "h:-1"])
def test_bad_port_raises(hostport):
    with pytest.raises(RequestError) as info:
        parse_host_port(hostport)
    assert info.value.code == ERROR_RTMP_REQ_TCURL


def test_guess_stream_by_app():
    assert guess_stream_by_app("live/livestream", "") == ("live", "", "livestream")
    assert guess_stream_by_app("live/livestream?secret=x", "") == ("live", "?secret=x", "livestream")
    assert guess_stream_by_app("live", "?secret=x/livestream") == ("live", "?secret=x", "livestream")
    assert guess_stream_by_app("live", "?a=b") == ("live", "?a=b", "")


# ------------------------------------------------------------------ Request

def connect_object(tc_url="rtmp://127.0.0.1/live", **extra):
    obj = {"app": "live", "flashVer": "FMLE/3.0", "swfUrl": "rtmp://127.0.0.1/live", "tcUrl": tc_url,
           "fpad": False, "capabilities": 239.0, "pageUrl": "http://p/x.html", "objectEncoding": 3.0}
    obj.update(extra)
    return obj


def test_from_connect():
    args = {"srs_version": "3.0.0", "srs_server_ip": "10.0.0.1"}
    req = Request.from_connect(connect_object("rtmp://10.0.0.2:19350/live?vhost=v.com&k=1"), args,
                               ip="10.0.0.9")
    assert (req.schema, req.host, req.vhost, req.app, req.port, req.param) == \
        ("rtmp", "10.0.0.2", "v.com", "live", 19350, "?vhost=v.com&k=1")
    assert req.page_url == "http://p/x.html"
    assert req.swf_url == "rtmp://127.0.0.1/live"
    assert req.object_encoding == 3.0
    assert req.args == args
    assert req.ip == "10.0.0.9"
    assert req.duration == -1
    assert req.stream == ""


def test_from_connect_decoded_from_amf0():
    raw = amf0.encode("connect", 1.0, connect_object(pageUrl=None, objectEncoding=amf0.UNDEFINED))
    _, _, obj = amf0.decode_all(raw)
    req = Request.from_connect(obj, None)
    assert req.page_url == "" and req.object_encoding == 0.0 and req.args is None


@pytest.mark.parametrize("obj,code", [
    ({"app": "live"}, ERROR_RTMP_REQ_CONNECT),
    ({"tcUrl": None}, ERROR_RTMP_REQ_CONNECT),
    ({"tcUrl": 1.0}, ERROR_RTMP_REQ_CONNECT),
    ({"tcUrl": ""}, ERROR_RTMP_REQ_CONNECT),
    (None, ERROR_RTMP_REQ_CONNECT),
    ({"tcUrl": "127.0.0.1/live"}, ERROR_RTMP_REQ_TCURL),  # no schema
    ({"tcUrl": "rtmp:///live"}, ERROR_RTMP_REQ_TCURL),  # no host
    ({"tcUrl": "rtmp://h:abc/live"}, ERROR_RTMP_REQ_TCURL),
])
def test_from_connect_rejects(obj, code):
    with pytest.raises(RequestError) as info:
        Request.from_connect(obj, None)
    assert info.value.code == code
    assert info.value.peer


def test_set_stream_and_urls():
    req = Request.from_connect(connect_object("rtmp://127.0.0.1/live"), None)
    req.set_stream("livestream?vhost=x.com&token=1")
    assert (req.vhost, req.stream, req.param) == ("x.com", "livestream", "?vhost=x.com&token=1")
    assert req.stream_url == "x.com/live/livestream"
    assert req.url_without_vhost == "/live/livestream"
    assert req.rtmp_url == "rtmp://127.0.0.1/live/livestream"
    # republish on the same connection with another name: re-derived, not accumulated
    req.set_stream("other")
    assert (req.vhost, req.stream, req.param) == ("127.0.0.1", "other", "")
    req.update_vhost(DEFAULT_VHOST)
    assert req.stream_url == "__defaultVhost__/live/other"


def test_set_stream_empty_guesses_from_app():
    req = Request("rtmp://127.0.0.1/live/livestream")
    req.set_stream("")
    assert (req.app, req.stream) == ("live", "livestream")
    req = Request("rtmp://127.0.0.1/live")
    req.set_stream("")
    assert req.stream == ""  # nothing to guess: the session rejects it


def test_copy_is_deep_for_args_and_equal():
    req = Request.from_connect(connect_object(), {"a": {"b": 1.0}})
    req.set_stream("s")
    dup = req.copy()
    assert dup == req and dup is not req
    dup.args["a"]["b"] = 2.0
    dup.stream = "t"
    assert req.args["a"]["b"] == 1.0 and req.stream == "s"
    assert dup != req


def test_update_auth():
    a = Request.from_connect(connect_object("rtmp://h/live?token=1"), {"x": 1.0})
    b = Request.from_connect(connect_object("rtmp://h/live?token=2", pageUrl="p2"), {"x": 2.0})
    a.update_auth(b)
    assert (a.tc_url, a.param, a.page_url, a.args) == (b.tc_url, "?token=2", "p2", {"x": 2.0})


def test_strip():
    req = Request()
    req.host, req.vhost, req.app, req.stream = " h/\n", "v/ ", "/a b/\t", "//s\r/"
    req.strip()
    assert (req.host, req.vhost, req.app, req.stream) == ("h", "v", "ab", "s")


# ------------------------------------------------------------------ builders, both directions

BUILD = [
    # host, port, app, stream, vhost, param -> url
    ("127.0.0.1", 1935, "live", "livestream", None, "", "rtmp://127.0.0.1:1935/live/livestream"),
    ("127.0.0.1", 19350, "live", "s", "v.com", "",
     "rtmp://127.0.0.1:19350/live/s?vhost=v.com"),
    ("127.0.0.1", 1935, "live", "s", "v.com", "?token=1",
     "rtmp://127.0.0.1:1935/live/s?token=1&vhost=v.com"),
    ("v.com", 1935, "live", "s", "v.com", "token=1", "rtmp://v.com:1935/live/s?token=1"),
    ("127.0.0.1", 1935, "live", "s", DEFAULT_VHOST, "", "rtmp://127.0.0.1:1935/live/s"),
    ("127.0.0.1", 1935, "live", "s", "a.com", "?vhost=b.com",
     "rtmp://127.0.0.1:1935/live/s?vhost=b.com"),
    ("::1", 1935, "live", "s", None, "", "rtmp://[::1]:1935/live/s"),
]


@pytest.mark.parametrize("host,port,app,stream,vhost,param,url", BUILD)
def test_make_rtmp_url_round_trip(host, port, app, stream, vhost, param, url):
    assert make_rtmp_url(host, port, app, stream, vhost, param) == url
    req = Request.from_url(url)
    assert (req.host, req.port, req.app, req.stream) == (host, port, app, stream)
    expect_vhost = vhost if vhost and vhost != DEFAULT_VHOST else host
    if "vhost=b.com" in param:
        expect_vhost = "b.com"
    assert req.vhost == expect_vhost


def test_make_tc_url():
    assert make_tc_url("127.0.0.1", 1935, "live") == "rtmp://127.0.0.1/live"
    assert make_tc_url("127.0.0.1", 19350, "live") == "rtmp://127.0.0.1:19350/live"
    assert make_tc_url("127.0.0.1", 1935, "live", "v.com") == "rtmp://127.0.0.1/live?vhost=v.com"
    assert make_tc_url("::1", 1936, "live") == "rtmp://[::1]:1936/live"
    tc = make_tc_url("10.0.0.1", 1935, "live", "v.com", "?token=9")
    assert discover_tc_url(tc) == ("rtmp", "10.0.0.1", "v.com", "live", "", 1935,
                                   "?token=9&vhost=v.com")


def test_parse_rtmp_url():
    assert parse_rtmp_url("rtmp://h/live/s?k=v") == ("rtmp://h/live", "s?k=v")
    assert parse_rtmp_url("rtmp://h/live?vhost=v/s") == ("rtmp://h/live?vhost=v", "s")
    assert parse_rtmp_url("rtmp://h") == ("rtmp://h", "")
    req = Request.from_url("rtmp://192.168.1.10/live?vhost=v.com/livestream")
    assert (req.vhost, req.app, req.stream) == ("v.com", "live", "livestream")


# ---------------------------------------------------------------- client-chosen names (protocol/names.py)
def test_split_stream_url_inverts_stream_url():
    assert split_stream_url("v/live/s") == ("v", "live", "s")
    assert split_stream_url("v/a/b/s") == ("v", "a/b", "s")  # a nested app keeps its "/"
    r = Request.from_url("rtmp://127.0.0.1/live/sub/s?vhost=v.com")
    assert split_stream_url(r.stream_url) == (r.vhost, r.app, r.stream)


from srs.kernel.errors import ERROR_RTMP_STREAM_NAME_EMPTY, ERROR_RTMP_STREAM_NAME_INVALID  # noqa: E402
from srs.protocol import names  # noqa: E402

BAD_PATH_NAMES = [
    # (name, what the refusal says)
    ("..", "segment '..'"),
    ("../../../../tmp/PWNED", "segment '..'"),
    ("live/..", "segment '..'"),
    ("a/../b", "segment '..'"),
    (".", "segment '.'"),
    ("a//b", "segment ''"),
    ("..%2F..%2FX", "once %-decoded: path segment '..'"),
    ("%2e%2e", "once %-decoded: path segment '..'"),
    ("%2E%2E%2fX", "once %-decoded: path segment '..'"),
    ("a%00b", "once %-decoded: control character"),
    ("a%5cb", "once %-decoded: backslash"),
    ("a%ffb", "once %-decoded: not valid UTF-8"),
    ("..\\..\\X", "backslash"),
    ("a\\b", "backslash"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("a\x1bb", "control character"),
    ("a\x7fb", "control character"),
    ("a\x85b", "control character"),
    ("\udcbe\udcffname", "not valid UTF-8"),       # bytes be ff as AMF0 decodes them
    ("a\ud800", "not valid UTF-8"),
    ("x" * 256, "longer than 255 bytes"),
    ("é" * 128, "longer than 255 bytes"),          # 256 bytes in UTF-8
    ("x" * 10240, "longer than 255 bytes"),
    ("a?b", "'?' or '#'"),
    ("a#b", "'?' or '#'"),
]

GOOD_PATH_NAMES = ["livestream", "live/livestream", "a.b", "a..b", "...x", "直播", "поток", "a b",
                   "a%20b", "%252e%252e", "x" * 255, "é" * 127, "a-b_c~d", "live/sub/stream"]


@pytest.mark.parametrize("name, why", BAD_PATH_NAMES, ids=range(len(BAD_PATH_NAMES)))
@pytest.mark.parametrize("part", ["app", "stream"])
def test_bad_path_names_are_refused(part, name, why):
    with pytest.raises(RequestError) as ei:
        names.check_path_name(part, name)
    e = ei.value
    assert e.code == ERROR_RTMP_STREAM_NAME_INVALID and e.peer
    assert why in str(e) and f"bad {part} name" in str(e)
    # the message can go to a log line or a client status as is: printable, one line, bounded
    text = str(e)
    assert text.isprintable() and len(text) < 200
    text.encode("utf-8")


@pytest.mark.parametrize("name", GOOD_PATH_NAMES)
def test_good_path_names_pass(name):
    assert names.check_path_name("stream", name) == name
    assert names.check_path_name("app", name) == name


def test_empty_names_have_srs_empty_code():
    for part in ("app", "stream"):
        with pytest.raises(RequestError) as ei:
            names.check_path_name(part, "")
        assert ei.value.code == ERROR_RTMP_STREAM_NAME_EMPTY
    with pytest.raises(RequestError) as ei:
        names.check_vhost("")
    assert ei.value.code == ERROR_RTMP_STREAM_NAME_EMPTY


@pytest.mark.parametrize("vhost", ["__defaultVhost__", "127.0.0.1", "::1", "2001:db8::1", "ossrs.net",
                                   "a-b.example.com", "v.com"])
def test_good_vhosts(vhost):
    assert names.check_vhost(vhost) == vhost


@pytest.mark.parametrize("vhost", ["..", ".", "a/b", "a\\b", "a\x00", "a b", "\udcbe", "v.com?x", "x" * 256,
                                   "直播.com"])
def test_bad_vhosts(vhost):
    with pytest.raises(RequestError) as ei:
        names.check_vhost(vhost)
    assert ei.value.code == ERROR_RTMP_STREAM_NAME_INVALID


@pytest.mark.parametrize("param", ["", "?key=v", "?vhost=v.com&token=abc", "?a=../../x", "?u=/x/y", "?t=直播",
                                   "?" + "k" * 4095])
def test_good_params(param):
    assert names.check_param(param) == param


@pytest.mark.parametrize("param", ["?a=\x00", "?a=\r\nX: y", "?a=\udcff", "?a=\\x", "?" + "k" * 4096])
def test_bad_params(param):
    with pytest.raises(RequestError) as ei:
        names.check_param(param)
    assert ei.value.code == ERROR_RTMP_STREAM_NAME_INVALID


# What the RTMP entry point checks: the Request after set_stream, as clients send it
REQUESTS = [
    # (tcUrl, stream, ok)
    ("rtmp://127.0.0.1/live", "livestream", True),
    ("rtmp://127.0.0.1/live", "livestream?key=v", True),
    ("rtmp://127.0.0.1/live", "a.b", True),
    ("rtmp://127.0.0.1/live", "直播", True),
    ("rtmp://127.0.0.1/live/livestream", "", True),           # OBS: the stream guessed from the app
    ("rtmp://127.0.0.1/live?vhost=v.com", "s", True),
    # ffmpeg's split of rtmp://127.0.0.1/live/../../../../tmp/PWNED
    ("rtmp://127.0.0.1/live/..", "../../../tmp/PWNED", False),
    ("rtmp://127.0.0.1/live", "../../../../tmp/PWNED", False),
    ("rtmp://127.0.0.1/../../../../X", "s", False),
    ("rtmp://127.0.0.1/live", "..%2F..%2FPWNED", False),
    ("rtmp://127.0.0.1/live", "a\x00b", False),
    ("rtmp://127.0.0.1/live", "\udcbe\udcff", False),
    ("rtmp://127.0.0.1/live", "x" * 10240, False),
    ("rtmp://127.0.0.1/live", "", False),
    ("rtmp://127.0.0.1/live", "s?vhost=../../x", False),      # the vhost comes from the param
    ("rtmp://127.0.0.1/live", "s?token=\x00", False),
]


@pytest.mark.parametrize("tc_url, stream, ok", REQUESTS)
def test_check_request(tc_url, stream, ok):
    req = Request(tc_url)
    req.set_stream(stream)
    if ok:
        names.check_request(req)
    else:
        with pytest.raises(RequestError):
            names.check_request(req)


def test_check_request_at_connect_ignores_the_missing_stream():
    names.check_request(Request("rtmp://127.0.0.1/live"), with_stream=False)
    with pytest.raises(RequestError):
        names.check_request(Request("rtmp://127.0.0.1/live/../x"), with_stream=False)
