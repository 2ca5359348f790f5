"""Issue 18 §1, the file layer: every path built from a template with client names stays inside its
configured root (src/app/file_root.py), whatever the name.

The real components (HLS, HLS keys, DVR, HDS, exec/transcode logs) are driven directly with hostile
names, bypassing the protocol boundary that refuses them first: this depth must hold on its own.
Each test checks the exact target path an escape would have written, scans tmp_path and the
directories above it (and /tmp) for the test's unique token, and looks for the one refusal line.
"""
from __future__ import annotations

import logging
import os
import uuid

import av
import pytest

from fixtures.hub_host import VHOST, Host
from srs.app.config.conf import Config
from srs.app.dvr.plan import Dvr
from srs.app.ffmpeg.exec import Exec
from srs.app.ffmpeg.transcode import Encoder
from srs.app.ffmpeg.process import ff_log_file
from srs.app.server.file_root import PathOutsideRoot, confine, confined_argument, template_root, unlink_confined
from srs.app.hls.muxer import HlsStream
from srs.kernel.m3u8 import Segment
from srs.app.live.source import LiveSource, SourceOptions
from srs.kernel.errors import ERROR_SYSTEM_PATH_OUTSIDE_ROOT
from srs.kernel.flv import iter_flv_tags
from srs.kernel.message import MSG_VIDEO
from srs.protocol.request import Request

CID = 4242
DEEP = "../" * 24  # deeper than any tmp_path: lands at "/"


def stepping_host(vhost_body: str, cwd, top: str = "") -> Host:
    """The shared host with a clock that moves one second per reading."""
    return Host(vhost_body, cwd, top=top, step_ms=1000)


@pytest.fixture(scope="module")
def av_msgs(media_flv):
    return list(iter_flv_tags(media_flv.data))


@pytest.fixture
def token():
    return "PWNED_" + uuid.uuid4().hex


def traces(token: str, tmp_path, root) -> list:
    """Every file or directory named with ``token``: anywhere under tmp_path but ``root``, in each
    directory above tmp_path, and in /tmp."""
    found = []
    root = os.path.realpath(str(root))
    for d, dirs, names in os.walk(str(tmp_path)):
        for n in dirs + names:
            p = os.path.realpath(os.path.join(d, n))
            if token in n and not (p + "/").startswith(root + "/"):
                found.append(p)
    above = os.path.dirname(os.path.realpath(str(tmp_path)))
    dirs = {"/tmp", "/"}
    while True:
        dirs.add(above)
        if above == os.path.dirname(above):
            break
        above = os.path.dirname(above)
    for d in sorted(dirs):
        try:
            found += [os.path.join(d, n) for n in os.listdir(d) if token in n]
        except OSError:
            pass
    return found


# (id, (vhost, app, stream)) an unchecked client could send; each would escape its root.
HOSTILE = [
    ("deep-dotdot-to-tmp", lambda t: (VHOST, "live/" + DEEP + "tmp", t)),
    ("app-dotdot", lambda t: (VHOST, "../../" + t, "s")),
    ("nul", lambda t: (VHOST, "live", "a\x00b" + t)),
    ("10KB", lambda t: (VHOST, "live", t + "A" * 10_000)),
    ("app-nested-dotdot", lambda t: (VHOST, "live/../../../" + t, "s")),
    ("vhost-and-app-dotdot", lambda t: ("..", "..", t)),
]
NAME_IDS = [name for name, _ in HOSTILE]


def hostile(index: int, token: str):
    return HOSTILE[index][1](token)


def refusals(caplog) -> list:
    return [r for r in caplog.records if "refused path" in r.getMessage()]


# ------------------------------------------------------------------ the helper itself

def test_confine_table(tmp_path):
    root = str(tmp_path / "root")
    assert confine(root, "live/s.m3u8") == root + "/live/s.m3u8"
    assert confine(root + "/", "live/s.m3u8") == root + "/live/s.m3u8"
    assert confine("", "s.flv", str(tmp_path)) == "s.flv"          # a bare template: relative to cwd
    assert confine("html", "live/s.ts", str(tmp_path)) == "html/live/s.ts"
    assert confine(root, "a/./b..c/..d/s.ts")                      # dots inside names are names
    for bad in ("../x", "live/../../x", "live/..", "a\x00b", "x" * 256, "a/" * 2100 + "x",
                "\udcff\ud800"):
        with pytest.raises(PathOutsideRoot) as e:
            confine(root, bad)
        assert e.value.code == ERROR_SYSTEM_PATH_OUTSIDE_ROOT and e.value.peer
    with pytest.raises(PathOutsideRoot):
        confine("", "/etc/x.flv", str(tmp_path))                   # bare template, absolute name
    with pytest.raises(PathOutsideRoot) as e:
        confine(root, "a\x00b")
    assert "\\x00" in str(e.value)                                  # the name shows escaped
    assert confined_argument("./[app].flv", "./live.flv") == "./live.flv"
    assert confined_argument("../[app].flv", "../live.flv") == "../live.flv"
    for template, value in (("./[app].flv", "./../x.flv"), ("[app].flv", "/etc/x.flv"), ("[app]", "a\x00")):
        with pytest.raises(PathOutsideRoot):
            confined_argument(template, value)


def test_template_root():
    assert template_root("./objs/nginx/html/[app]/[stream].[timestamp].flv") == (
        "./objs/nginx/html", "[app]/[stream].[timestamp].flv")
    assert template_root("/data/dvr-[app]/[stream].flv") == ("/data", "dvr-[app]/[stream].flv")
    assert template_root("/data/fixed.flv") == ("/data", "fixed.flv")
    assert template_root("[stream].flv") == ("", "[stream].flv")
    assert template_root("/[stream].flv") == ("/", "[stream].flv")


def test_symlinks_root_followed_inside_refused(tmp_path):
    """The root may itself be a symlink (an admin's mount); a link below it that leaves it is refused
    (a root shared with other users could have one planted)."""
    real = tmp_path / "disk"
    real.mkdir()
    (tmp_path / "html").symlink_to(real)
    assert confine(str(tmp_path / "html"), "live/s.ts") == str(tmp_path / "html") + "/live/s.ts"
    outside = tmp_path / "outside"
    outside.mkdir()
    (real / "live").symlink_to(outside)
    with pytest.raises(PathOutsideRoot):
        confine(str(tmp_path / "html"), "live/s.ts")
    with pytest.raises(PathOutsideRoot):
        confine(str(tmp_path / "html"), "live/new/dir/s.ts")
    (real / "ok").mkdir()
    (real / "inner").symlink_to(real / "ok")                        # a link that stays inside: fine
    assert confine(str(tmp_path / "html"), "inner/s.ts")
    victim = outside / "victim.ts"
    victim.write_bytes(b"v")
    with pytest.raises(PathOutsideRoot):
        unlink_confined(str(tmp_path / "html"), str(tmp_path / "html") + "/live/victim.ts")
    assert victim.exists()


# ------------------------------------------------------------------ HLS

def hls_block(root, extra=""):
    window = "" if "hls_window" in extra else "hls_window 60; "
    return f"hls {{ enabled on; hls_path {root}; hls_fragment 1; {window}{extra} }}"


def drive(out, src, msgs, unpublish=True):
    out.on_publish(src)
    for m in msgs:
        out.on_message(m)
    if unpublish:
        out.on_unpublish(src)


def source_of(vhost, app, stream) -> LiveSource:
    src = LiveSource(f"{vhost}/{app}/{stream}", SourceOptions())
    src.publisher_cid = CID
    return src


@pytest.mark.parametrize("index", range(6), ids=NAME_IDS)
def test_hls_hostile_names_write_nothing_outside(tmp_path, av_msgs, token, index, caplog):
    vhost, app, stream = hostile(index, token)
    root = tmp_path / "html"
    host = stepping_host(hls_block(root, "hls_m3u8_file [vhost]/[app]/[stream].m3u8; "
                                "hls_ts_file [vhost]/[app]/[stream]-[seq].ts;"), tmp_path)
    src = source_of(vhost, app, stream)
    out = host.hls_output(src, VHOST)
    assert isinstance(out, HlsStream)
    with caplog.at_level(logging.INFO):
        drive(out, src, av_msgs)                                    # raises nothing (no ValueError)
    assert not out.active and out.segments == []
    assert traces(token, tmp_path, root) == []
    if "\x00" not in stream and len(stream) < 255:
        target = os.path.normpath(f"{root}/{vhost}/{app}/{stream}.m3u8")
        assert not os.path.exists(target) and not os.path.exists(target[:-5] + "-0.ts")
    assert not any(token in n for _, _, names in os.walk(str(root)) for n in names)
    lines = [r.getMessage() for r in refusals(caplog)]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert len(lines[0]) < 1500 and "\x00" not in lines[0]          # escaped and cut, never raw
    assert "\\x00" in lines[0] if "\x00" in stream else True


def test_hls_ts_template_refused_after_m3u8_ok(tmp_path, av_msgs, token, caplog):
    """A ts template with a client part the m3u8 template lacks: refused at the first segment, HLS
    stops for the publish, nothing written outside, one line."""
    root = tmp_path / "html"
    host = stepping_host(hls_block(root, "hls_m3u8_file [vhost].m3u8; hls_ts_file [app]/[stream]-[seq].ts; "
                                "hls_on_error disconnect;"), tmp_path)
    src = source_of(VHOST, "../../" + token, "s")
    out = host.hls_output(src, VHOST)
    with caplog.at_level(logging.INFO):
        drive(out, src, av_msgs)
    assert not out.active and traces(token, tmp_path, root) == []
    assert not (tmp_path / token).exists()
    assert len(refusals(caplog)) == 1


def test_hls_key_file_refused(tmp_path, av_msgs, token, caplog):
    root, keys = tmp_path / "html", tmp_path / "keys"
    host = stepping_host(hls_block(root, f"hls_m3u8_file [vhost].m3u8; hls_ts_file [vhost]-[seq].ts; hls_keys on; "
                                f"hls_key_file_path {keys}; hls_key_file [app]/[stream]-[seq].key;"), tmp_path)
    src = source_of(VHOST, "../../" + token, "s")
    out = host.hls_output(src, VHOST)
    with caplog.at_level(logging.INFO):
        drive(out, src, av_msgs)
    assert not out.active and traces(token, tmp_path, keys) == []
    assert not (tmp_path / token / "s-0.key").exists()
    assert len(refusals(caplog)) == 1


def honest_hls(tmp_path, av_msgs, extra=""):
    root = tmp_path / "html"
    host = stepping_host(hls_block(root, extra), tmp_path)
    src = source_of(VHOST, "live", "honest")
    out = host.hls_output(src, VHOST)
    drive(out, src, av_msgs, unpublish=False)
    return root, host, src, out


def test_hls_cleanup_never_unlinks_outside(tmp_path, av_msgs, caplog):
    """Window expiry (hls_cleanup) of a segment recorded with an escaped path: the victim survives."""
    root, host, src, out = honest_hls(tmp_path, av_msgs, "hls_window 1; hls_cleanup on;")
    victim = tmp_path / "victim.ts"
    victim.write_bytes(b"keep me")
    out.segments.insert(0, Segment(0, 0, str(root) + "/live/../../victim.ts", "x.ts"))
    out.segments[0].duration_ms = 1000
    with caplog.at_level(logging.INFO):
        for m in av_msgs:                                        # more media: the window shrinks
            if not m.seq_header and m.kind in (8, MSG_VIDEO):
                out.on_message(m.with_ts(m.ts_ms + 10_000))
        out.on_unpublish(src)
    assert victim.read_bytes() == b"keep me"
    assert all(s.path.startswith(str(root) + "/live/") for s in out.segments)
    assert refusals(caplog) and "not deleted" in refusals(caplog)[0].getMessage()


def test_hls_dispose_never_unlinks_outside(tmp_path, av_msgs, caplog):
    root, host, src, out = honest_hls(tmp_path, av_msgs, "hls_dispose 1;")
    timer, host.hls.timer = host.hls.timer, None  # dispose is called here, not by the timer
    timer.kill()
    out.on_unpublish(src)
    honest = [s.path for s in out.segments]
    assert honest and all(os.path.exists(p) for p in honest)
    victims = [tmp_path / "victim.ts", tmp_path / "victim.m3u8"]
    for v in victims:
        v.write_bytes(b"keep me")
    out.segments.append(Segment(99, 0, str(root) + "/../victim.ts", "v.ts"))
    out.m3u8_path = str(root) + "/live/../../victim.m3u8"
    with caplog.at_level(logging.INFO):
        out.dispose()
    assert all(v.read_bytes() == b"keep me" for v in victims)
    assert not any(os.path.exists(p) for p in honest)              # the honest files are disposed
    assert len(refusals(caplog)) == 2


def test_hls_refusal_leaves_other_outputs_and_streams(tmp_path, av_msgs, media_flv, token):
    """The hostile stream's DVR (a fixed path) still records every frame; an honest stream's HLS on
    the same manager writes its playlist."""
    root = tmp_path / "html"
    body = hls_block(root) + f" dvr {{ enabled on; dvr_plan session; dvr_path {tmp_path}/rec/fixed.flv; }}"
    host = stepping_host(body, tmp_path)
    src = LiveSource(f"{VHOST}/../../{token}/s", SourceOptions())
    for factory in (host.hls_output, host.dvr_output):
        src.add_hub_output(factory(src, VHOST))
    src.on_publish(CID)
    for m in av_msgs:
        src.on_message(m)
    src.on_unpublish()
    with av.open(str(tmp_path / "rec" / "fixed.flv")) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == media_flv.video_frames
    assert traces(token, tmp_path, root) == []
    _, _, src2, out2 = honest_hls(tmp_path, av_msgs)
    out2.on_unpublish(src2)
    assert (root / "live" / "honest.m3u8").exists() and out2.segments


# ------------------------------------------------------------------ DVR and HDS

@pytest.mark.parametrize("index", range(6), ids=NAME_IDS)
def test_dvr_hostile_names_write_nothing_outside(tmp_path, av_msgs, token, index, caplog):
    vhost, app, stream = hostile(index, token)
    host = stepping_host("dvr { enabled on; dvr_plan segment; dvr_duration 1; "
                "dvr_path ./rec/[vhost]/[app]/[stream].[timestamp].flv; }", tmp_path)
    src = LiveSource(f"{vhost}/{app}/{stream}", SourceOptions())
    src.on_publish(CID)
    out = host.dvr_output(src, VHOST)
    assert isinstance(out, Dvr)
    with caplog.at_level(logging.INFO):
        drive(out, src, av_msgs)
    assert out.files == [] and traces(token, tmp_path, tmp_path / "rec") == []
    assert not any(token in n for _, _, names in os.walk(str(tmp_path)) for n in names)
    assert len(refusals(caplog)) == 1


@pytest.mark.parametrize("index", range(6), ids=NAME_IDS)
def test_hds_hostile_names_write_nothing_outside(tmp_path, av_msgs, token, index, caplog):
    vhost, app, stream = hostile(index, token)
    root = tmp_path / "hds"
    host = stepping_host(f"hds {{ enabled on; hds_fragment 1; hds_window 3; hds_path {root}; }}", tmp_path)
    src = LiveSource(f"{vhost}/{app}/{stream}", SourceOptions())
    out = host.hds_output(src, VHOST)
    with caplog.at_level(logging.INFO):
        drive(out, src, av_msgs)
    assert not out.publishing and traces(token, tmp_path, root) == []
    assert not any(token in n for _, _, names in os.walk(str(tmp_path)) for n in names)
    assert len(refusals(caplog)) == 1


# ------------------------------------------------------------------ exec / transcode logs

def test_ff_log_file_stays_in_ff_log_dir(tmp_path, token):
    conf = Config.parse_text(f"listen 1935; ff_log_dir {tmp_path}/logs;")
    assert ff_log_file(conf, str(tmp_path), "exec-v-live-s") == f"{tmp_path}/logs/exec-v-live-s.log"
    for name in ("exec-v-../../" + token + "-s", "exec-v-live-a\x00b", "exec-v-live-" + "x" * 300):
        with pytest.raises(PathOutsideRoot):
            ff_log_file(conf, str(tmp_path), name)
    assert traces(token, tmp_path, tmp_path / "logs") == []


class Publisher:
    """A publishing connection as the connection table holds it (app.ports.PublisherConnection)."""

    ip = "127.0.0.1"

    def __init__(self, param):
        self.req = Request()
        self.req.host, self.req.port, self.req.param = "127.0.0.1", 1935, param

    def kick(self) -> None:
        pass


def starts_nothing(out, url: str, caplog) -> LiveSource:
    """Publish ``url`` to an exec/transcode output whose names are refused: no program starts
    (refusals logged at INFO and up); returns the published source."""
    src = LiveSource(url, SourceOptions())
    src.on_publish(CID)
    with caplog.at_level(logging.INFO):
        try:
            out.on_publish(src)
            assert out.procs == []
        finally:
            out.stop()
    return src


@pytest.mark.parametrize("case", ["app", "param-redirect"])
def test_exec_refused_starts_nothing(tmp_path, token, case, caplog):
    """exec's default log (ff_log_dir) and its ``2>`` redirections with [param]: a name that leaves
    them starts no program and writes no file."""
    host = stepping_host("", tmp_path, top=f"ff_log_dir {tmp_path}/logs;")
    app, param = ("../../" + token, "") if case == "app" else ("live", "?x=" + "../" * 8 + token)
    host.connections[CID] = Publisher(param)
    commands = [["/bin/true", "[stream]", f"2>{tmp_path}/logs/[param].err"]]
    out = Exec(host.ffmpeg, host.connections, VHOST, app, "s", commands)
    starts_nothing(out, f"{VHOST}/{app}/s", caplog)
    assert traces(token, tmp_path, tmp_path / "logs") == []
    assert len(refusals(caplog)) == 1


def test_exec_redirect_inside_and_variables_not_redirections(tmp_path):
    """An honest stream keeps its redirection (inside its directory); a stream named ``>x`` is an
    argument, never a redirection."""
    host = stepping_host("", tmp_path, top=f"ff_log_dir {tmp_path}/logs;")
    out = Exec(host.ffmpeg, host.connections, VHOST, "live", ">evil",
               [["/bin/true", "[stream]", f"2>{tmp_path}/logs/[app].err"]])
    variables = {"vhost": VHOST, "app": "live", "stream": ">evil", "param": ""}
    assert out.redirect_file(f"{tmp_path}/logs/[app].err", variables) == f"{tmp_path}/logs/live.err"
    src = LiveSource(f"{VHOST}/live/>evil", SourceOptions())
    src.on_publish(CID)
    try:
        out.on_publish(src)
        assert [p.argv[1:] for p in out.procs] == [[">evil"]]
        assert out.procs[0].stderr_file == f"{tmp_path}/logs/live.err"
    finally:
        out.stop()


@pytest.mark.parametrize("case", ["dotdot", "nul", "absolute"])
def test_exec_arguments_gain_no_escape(tmp_path, token, case, caplog):
    """With the log off (ff_log_dir /dev/null), a file argument such as ``./[app]-[stream].flv`` is
    still held to its template: no new ``..``, no NUL (Popen's ValueError), not absolute."""
    host = stepping_host("", tmp_path, top="ff_log_dir /dev/null;")
    template, app, stream = {"dotdot": ("./[app]-[stream].flv", "../../" + token, "s"),
                             "nul": ("./[app]-[stream].flv", "live", "a\x00b" + token),
                             "absolute": ("[app]-[stream].flv", str(tmp_path.parent) + "/" + token, "s")}[case]
    out = Exec(host.ffmpeg, host.connections, VHOST, app, stream, [["/bin/true", "-y", template]])
    src = starts_nothing(out, f"{VHOST}/{app}/{stream}", caplog)
    assert len(refusals(caplog)) == 1
    honest = Exec(host.ffmpeg, host.connections, VHOST, "live", "s",
                  [["/bin/true", "-y", "./[app]-[stream].flv", "../x/[stream]"]])
    try:
        honest.on_publish(src)
        assert [p.argv[1:] for p in honest.procs] == [["-y", "./live-s.flv", "../x/s"]]
    finally:
        honest.stop()


@pytest.mark.parametrize("stream", ["../x", "a\x00b"], ids=["dotdot-app", "nul"])
def test_transcode_refused_starts_no_ffmpeg(tmp_path, token, stream, caplog):
    """Transcode: the ffmpeg log (ff_log_dir), a file output template and the input URL are held the
    same way; a refused engine starts no ffmpeg, an honest stream starts it."""
    body = ("transcode { enabled on; ffmpeg /bin/true; engine e { enabled on; vcodec copy; acodec copy; "
            "output ./out/[app]/[stream].flv; } }")
    host = stepping_host(body, tmp_path, top=f"ff_log_dir {tmp_path}/logs;")
    vc = host.config.vhost(VHOST)
    app = ("../../" + token) if stream == "../x" else "live"
    stream = token if stream == "../x" else stream + token
    out = Encoder(host.ffmpeg, host.connections, VHOST, app, stream, vc.transcodes)
    src = starts_nothing(out, f"{VHOST}/{app}/{stream}", caplog)
    assert refusals(caplog) and traces(token, tmp_path, tmp_path / "logs") == []
    honest = Encoder(host.ffmpeg, host.connections, VHOST, "live", "s", vc.transcodes)
    try:
        honest.on_publish(src)
        assert len(honest.procs) == 1 and honest.procs[0].argv[-1] == "./out/live/s.flv"
        assert honest.procs[0].log_file == f"{tmp_path}/logs/ffmpeg-encoder-{VHOST}-live-s-e.log"
    finally:
        honest.stop()


# ------------------------------------------------------------------ end to end: honest names still work

def decode_video(paths, fmt=None):
    """(video frames, first is a keyframe, pts strictly increasing across the files) of files in order."""
    count, first_key, last, monotonic = 0, None, None, True
    for p in paths:
        with av.open(p, format=fmt) as c:
            for frame in c.decode(video=0):
                ms = float(frame.pts * frame.time_base)
                if first_key is None:
                    first_key = frame.key_frame
                monotonic = monotonic and (last is None or ms > last)
                last, count = ms, count + 1
    return count, first_key, monotonic


def test_e2e_honest_stream_hls_and_dvr(tmp_path, media_flv):
    """A real server with HLS and DVR on, a PyAV publisher with an honest name: every frame published
    is in the HLS segments of the m3u8 and in the DVR file, and nothing is written outside."""
    from fixtures.srs_server import SrsProcess, publish_flv, wait_for

    html = tmp_path / "html"
    body = (f"hls {{ enabled on; hls_fragment 1; hls_window 60; hls_path {html}; }}\n"
            "dvr { enabled on; dvr_plan session; dvr_path ./rec/[app]/[stream].[timestamp].flv; }")
    m3u8 = html / "live" / "livestream.m3u8"

    def hls_frames():
        if not m3u8.exists():
            return (0, None, False)
        uris = [line for line in m3u8.read_text().split("\n") if line and not line.startswith("#")]
        return decode_video([str(m3u8.parent / u) for u in uris])

    def dvr_files():
        d = tmp_path / "rec" / "live"
        return sorted(str(d / n) for n in os.listdir(d) if n.endswith(".flv")) if d.is_dir() else []

    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"))
        # the unpublish closes the last segment and renames the DVR file: poll for both
        assert wait_for(lambda: len(dvr_files()) == 1 and hls_frames()[0] == media_flv.video_frames,
                        timeout_s=20), (dvr_files(), hls_frames(), srs.output()[-3000:])
        log = srs.log_text()
    assert hls_frames() == (media_flv.video_frames, True, True)
    assert decode_video(dvr_files(), "flv") == (media_flv.video_frames, True, True)
    assert "refused path" not in log
    written = {os.path.relpath(os.path.join(d, n), tmp_path).split("/")[0]
               for d, _, names in os.walk(str(tmp_path)) for n in names}
    # srs.id: the generated server_id kept beside the pid file (SRS 5)
    assert written <= {"html", "rec", "srs.conf", "srs.log", "srs.pid", "srs.id", "stderr.txt"}, written
