"""Transcode, ingest and exec: SRS's ffmpeg command lines, the loop guard, and end to end with a real
server process driving Debian's ffmpeg and the PyAV stand-in (objs/ffmpeg)."""
import os
import signal
import shutil
import stat
import subprocess
import sys
import time

import psutil
import pytest

from fixtures.srs_server import Player, SrsProcess, free_port, publish_bg, wait_for, wait_port
from srs.app.ffmpeg import transcode as encoder
from srs.app.ffmpeg import process as ffmpeg
from srs.app.config.conf import Config
from srs.app.ffmpeg.exec import split_redirects
from srs.kernel.errors import ERROR_ENCODER_VCODEC, ConfigError

SYSTEM_FFMPEG = shutil.which("ffmpeg")


def vhost_of(body: str, global_body: str = ""):
    conf = Config.parse_text("listen 1935;\n%s\nvhost __defaultVhost__ {\n%s\n}\n" % (global_body, body))
    return conf, conf.vhost("__defaultVhost__")


FULL_ENGINE = """
transcode live {
    enabled on; ffmpeg ./objs/ffmpeg/bin/ffmpeg;
    engine ff {
        enabled on; vfilter { i ./doc/ffmpeg-logo.png; filter_complex overlay=10:10; }
        vcodec libx264; vbitrate 500; vfps 25; vwidth 769; vheight 320; vthreads 12; vprofile main; vpreset medium;
        vparams { t 100; coder 1; }
        acodec libfdk_aac; abitrate 70; asample_rate 44100; achannels 2; aparams { profile:a aac_low; }
        output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine];
    }
    engine cp { enabled on; vcodec copy; acodec copy; aparams { bsf:a aac_adtstoasc; y 1; }
                output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]; }
    engine off { enabled off; vcodec copy; acodec an; output rtmp://127.0.0.1:[port]/[app]/[stream]_[engine]; }
}
"""

INPUT = "rtmp://127.0.0.1:1935/live?vhost=__defaultVhost__/livestream"


def test_transcode_argv_exactly_as_srs():
    _, vc = vhost_of(FULL_ENGINE)
    ff, cp, off = vc.transcodes[0].engines
    out = ffmpeg.substitute(ff.output, vhost="__defaultVhost__", port=1935, app="live", stream="livestream",
                            engine="ff")
    assert out == "rtmp://127.0.0.1:1935/live?vhost=__defaultVhost__/livestream_ff"
    argv = ffmpeg.transcode_argv(["ffmpeg"], ff, INPUT, out, ["-loglevel", "info"])
    assert argv == [
        "ffmpeg", "-loglevel", "info", "-f", "flv", "-i", INPUT,
        "-i", "./doc/ffmpeg-logo.png", "-filter_complex", "overlay=10:10",
        "-vcodec", "libx264", "-b:v", "500000", "-r", "25.00", "-s", "768x320", "-aspect", "768:320",
        "-threads", "12", "-profile:v", "main", "-preset", "medium", "-t", "100", "-coder", "1",
        "-acodec", "libfdk_aac", "-b:a", "70000", "-ar", "44100", "-ac", "2", "-profile:a", "aac_low",
        "-f", "flv", "-y", out]
    # copy skips the codec options; a copied audio track keeps only the ADTS->ASC filter
    assert ffmpeg.transcode_argv(["ffmpeg"], cp, INPUT, "o") == [
        "ffmpeg", "-f", "flv", "-i", INPUT, "-vcodec", "copy", "-acodec", "copy", "-bsf:a", "aac_adtstoasc",
        "-f", "flv", "-y", "o"]
    assert ffmpeg.transcode_argv(["ffmpeg"], off, "udp://x", "o") == [
        "ffmpeg", "-i", "udp://x", "-vcodec", "copy", "-an", "-f", "flv", "-y", "o"]  # no -f for non-rtmp input


def test_engine_checks():
    _, vc = vhost_of("""transcode { enabled on; ffmpeg f;
        engine a { enabled on; vcodec libx264; acodec aac; output o; }
        engine b { enabled on; vcodec vn; acodec aac; vprofile main; output o; }
        engine c { enabled on; vcodec copy; acodec aac; achannels 6; output o; }
        engine d { enabled on; vcodec copy; acodec copy; } }""")
    a, b, c, d = vc.transcodes[0].engines
    with pytest.raises(ConfigError) as e:
        ffmpeg.transcode_argv(["f"], a, INPUT, "o")  # libx264 needs vprofile/vpreset
    assert e.value.code == ERROR_ENCODER_VCODEC
    assert ffmpeg.transcode_argv(["f"], b, INPUT, "o")[5:8] == ["-vn", "-acodec", "aac"]
    with pytest.raises(ConfigError):
        ffmpeg.transcode_argv(["f"], c, INPUT, "o")
    with pytest.raises(ConfigError):
        ffmpeg.transcode_argv(["f"], d, INPUT, "")  # no output


def test_ingest_copy_argv_and_engine_is_copy():
    assert ffmpeg.copy_argv(["ff"], "./a.flv", "rtmp://h/live/s", ["-loglevel", "info", "-re"]) == [
        "ff", "-loglevel", "info", "-re", "-i", "./a.flv", "-vcodec", "copy", "-acodec", "copy",
        "-f", "flv", "-y", "rtmp://h/live/s"]
    _, vc = vhost_of("ingest x { enabled on; input { type file; url a.flv; } ffmpeg f;"
                     " engine { enabled off; output o; } engine { enabled on; vcodec copy; output o; } }")
    e1, e2 = vc.ingests[0].engines
    assert ffmpeg.engine_is_copy(e1) and ffmpeg.engine_is_copy(e2) and ffmpeg.engine_is_copy(None)


def test_scopes_and_loop_guard():
    conf, vc = vhost_of("""
        transcode { enabled on; ffmpeg f; engine hd { enabled on; vcodec copy; acodec copy;
            output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]; } }
        transcode live { enabled off; ffmpeg f; engine x { enabled on; output o; } }
        transcode live/one { enabled on; ffmpeg f; engine sd { enabled on; vcodec copy; acodec copy;
            output rtmp://127.0.0.1:[port]/other/[stream]-[engine]?vhost=[vhost]; } }
        transcode live/off { enabled on; ffmpeg f; engine z { enabled off; output o; } }""")
    assert [t.scope for t in encoder.scoped_transcodes(vc, "live", "one")] == ["", "live/one"]
    assert [t.scope for t in encoder.scoped_transcodes(vc, "live", "off")] == [""]
    loop = encoder.is_transcode_output
    assert loop(conf, vc.name, "live", "livestream_hd")
    assert loop(conf, vc.name, "other", "one-sd")
    assert not loop(conf, vc.name, "live", "livestream")
    assert not loop(conf, vc.name, "live", "livestream_sd")
    assert not loop(conf, vc.name, "other", "one_x")
    # an output to a remote server or to another vhost is no loop here
    conf2 = Config.parse_text("""listen 1935; vhost __defaultVhost__ { transcode { enabled on; ffmpeg f;
            engine a { enabled on; vcodec copy; acodec copy; output rtmp://10.0.0.1:1935/[app]/[stream]_[engine]; }
            engine b { enabled on; vcodec copy; acodec copy; output rtmp://127.0.0.1/[app]/[stream]_[engine]?vhost=b.com; } } }
            vhost b.com { }""")
    assert not loop(conf2, "__defaultVhost__", "live", "s_a")
    assert not loop(conf2, "__defaultVhost__", "live", "s_b")


def test_resolve_ffmpeg_fallbacks(tmp_path):
    exe = tmp_path / "myff"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    trunk = tmp_path / "trunk"
    (trunk / "objs").mkdir(parents=True)
    assert ffmpeg.resolve_ffmpeg("myff", str(tmp_path), str(trunk)) == (["myff"], "conf")
    (trunk / "Makefile.vars").write_text("PREFIX = /x\nFFMPEG = %s\n" % exe)
    assert ffmpeg.resolve_ffmpeg("./nope/ffmpeg", str(tmp_path), str(trunk)) == ([str(exe)], "configure FFMPEG")
    (trunk / "Makefile.vars").write_text("FFMPEG = \n")
    argv, why = ffmpeg.resolve_ffmpeg("./nope/ffmpeg", str(tmp_path), str(trunk))
    if SYSTEM_FFMPEG:
        assert (argv, why) == ([SYSTEM_FFMPEG], "PATH")
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = str(tmp_path / "empty")
    try:
        assert ffmpeg.resolve_ffmpeg("x", str(tmp_path), str(trunk)) == (
            [sys.executable, "-m", "srs.main.ffmpeg_standin"], "stand-in module")
        standin = trunk / "objs" / "ffmpeg"
        standin.write_text("#!/bin/sh\n")
        standin.chmod(0o755)
        assert ffmpeg.resolve_ffmpeg("x", str(tmp_path), str(trunk)) == ([str(standin)], "stand-in objs/ffmpeg")
    finally:
        os.environ["PATH"] = old


def test_ff_log_file_and_redirects(tmp_path):
    conf, _ = vhost_of("", "ff_log_dir ./logs;")
    assert ffmpeg.ff_log_file(conf, "/w", "ffmpeg-encoder-v-a-s") == "/w/logs/ffmpeg-encoder-v-a-s.log"
    conf, _ = vhost_of("", "ff_log_dir /dev/null;")
    assert ffmpeg.ff_log_file(conf, "/w", "x") == ""
    assert split_redirects(["a", ">o.txt", "b", "2>", "e.txt", "1>x"]) == (["a", "b"], "x", "e.txt")


# ---------------------------------------------------------------------- end to end
def standin_launcher(tmp_path) -> str:
    """A conf-visible ffmpeg path that runs the stand-in (the conf route of resolve_ffmpeg)."""
    path = tmp_path / "standin-ffmpeg"
    path.write_text('#!/bin/sh\nexec "%s" -m srs.main.ffmpeg_standin "$@"\n' % sys.executable)
    path.chmod(0o755)
    return str(path)


def ffmpeg_for(kind, tmp_path) -> str:
    if kind == "system":
        if not SYSTEM_FFMPEG:
            pytest.skip("no ffmpeg on PATH")
        return SYSTEM_FFMPEG
    return standin_launcher(tmp_path)


def child_cmdlines(srs, at_least: int) -> list:
    """Command lines of the server's live children; [] while fewer than ``at_least`` of them run an ffmpeg
    (``-i``: a fork not yet exec'ed still shows the server's command line)."""
    lines = []
    for p in children(srs):
        try:
            lines.append(p.cmdline())
        except psutil.Error:
            pass
    return lines if len([c for c in lines if "-i" in c]) >= at_least else []


def children(srs) -> list:
    """The server's live children. A child that exits while we look is skipped on its own: letting its
    NoSuchProcess end the whole listing made a busy server look childless."""
    try:
        procs = psutil.Process(srs.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    alive = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


OUT = "output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine];"


@pytest.mark.parametrize("kind", ["system", "standin"])
def test_transcode_e2e(tmp_path, media_flv, kind):
    ff = ffmpeg_for(kind, tmp_path)
    body = f"""transcode live {{ enabled on; ffmpeg {ff};
        engine ff {{ enabled on; vcodec libx264; vbitrate 200; vfps 25; vwidth 160; vheight 120; vthreads 1;
                    vprofile baseline; vpreset superfast; acodec aac; abitrate 48; asample_rate 44100; achannels 2;
                    {OUT} }}
        engine cp {{ enabled on; vcodec copy; acodec copy; {OUT} }} }}"""
    with SrsProcess(tmp_path, vhost_body=body, global_body=f"ff_log_dir {tmp_path};") as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=2, speed=1.5)
        hd = Player(srs.rtmp_url("live/livestream_ff"), max_seconds=12, stop_after_video=10)
        cp = Player(srs.rtmp_url("live/livestream_cp"), max_seconds=12, stop_after_video=10)
        hd.start()
        cp.start()
        assert wait_for(lambda: len(children(srs)) >= 2, 5), srs.output()
        # both outputs are published and skipped by the loop guard: no third ffmpeg can come after this
        assert srs.wait_log("(loop guard)", 2, 10), srs.output()[-3000:]
        names = wait_for(lambda: child_cmdlines(srs, 2), 5) or child_cmdlines(srs, 0)
        hd.join(15)
        cp.join(15)
        assert (hd.width, hd.height) == (160, 120), (hd.error, srs.output())
        assert hd.video_frames >= 10 and hd.acodec == "aac" and hd.vcodec == "h264"
        assert (cp.width, cp.height) == (320, 240) and cp.video_frames >= 10, cp.error
        # one ffmpeg per engine; the outputs themselves are not transcoded again (loop guard)
        ffmpegs = [c for c in names if "-i" in c]
        assert len(ffmpegs) == 2, names
        assert "loop guard" in srs.log_text()
        pub.join(15)
        assert wait_for(lambda: not children(srs), 10), [p.cmdline() for p in children(srs)]
        log_file = tmp_path / "ffmpeg-encoder-__defaultVhost__-live-livestream-ff.log"
        assert log_file.exists() and log_file.stat().st_size > 0
        assert (tmp_path / "ffmpeg-encoder-__defaultVhost__-live-livestream-cp.log").exists()


@pytest.mark.parametrize("kind", ["system", "standin"])
def test_ingest_file_e2e(tmp_path, media_flv, kind):
    ff = ffmpeg_for(kind, tmp_path)
    body = f"""ingest livestream {{ enabled on; input {{ type file; url {media_flv.path}; }} ffmpeg {ff};
        engine {{ enabled off; output rtmp://127.0.0.1:[port]/live?vhost=[vhost]/livestream; }} }}"""
    with SrsProcess(tmp_path, vhost_body=body, global_body=f"ff_log_dir {tmp_path};") as srs:
        player = Player(srs.rtmp_url("live/livestream"), max_seconds=10, stop_after_video=20)
        player.start()
        player.join(12)
        assert (player.width, player.height) == (320, 240), (player.error, srs.output())
        assert player.video_frames >= 20 and player.acodec == "aac"
        pids = [p.pid for p in children(srs)]
        assert pids
        assert (tmp_path / "ffmpeg-ingest-__defaultVhost__-livestream.log").exists()
        cmd = psutil.Process(pids[-1]).cmdline()
        assert cmd[cmd.index("-i") - 1] == "-re"
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_exec_and_restart_of_failing_ffmpeg(tmp_path, media_flv):
    marker = tmp_path / "marker.txt"
    bad = tmp_path / "bad-ffmpeg"
    bad.write_text('#!/bin/sh\necho "bad ffmpeg called with $*"\nexit 3\n')
    bad.chmod(0o755)
    body = f"""exec {{ enabled on; publish /bin/sh -c "echo [vhost] [app] [stream] [tcUrl] [url] > {marker}; exec sleep 30";
                       publish /bin/sh -c "trap '' TERM; sleep 30; echo never"; }}
        transcode {{ enabled on; ffmpeg {bad}; engine x {{ enabled on; vcodec copy; acodec copy; {OUT} }} }}"""
    with SrsProcess(tmp_path, vhost_body=body, global_body=f"ff_log_dir {tmp_path};") as srs:
        t0 = time.monotonic()
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/show"), speed=0.9)
        assert wait_for(lambda: marker.exists() and marker.read_text().strip(), 5), srs.output()
        words = marker.read_text().split()
        assert words[:3] == ["__defaultVhost__", "live", "show"]
        assert words[3] == f"rtmp://127.0.0.1:{srs.rtmp_port}/live"
        assert words[4] == f"rtmp://127.0.0.1:{srs.rtmp_port}/live/show"
        assert any("sleep" in p.cmdline() for p in children(srs))
        pub.join(10)
        published_s = time.monotonic() - t0
        # unpublish: the exec programs (one ignores SIGTERM: SIGKILL 3 s later) and the failing
        # ffmpeg's restart loop are gone
        assert wait_for(lambda: not children(srs), 10), [p.cmdline() for p in children(srs)]
        text = srs.log_text()
        starts = text.count("encoder(__defaultVhost__/live/show x): started pid=")
        # at once, then every 3 s while published (~4.4 s; longer on a loaded machine)
        assert 2 <= starts <= 2 + int(published_s / 3), (published_s, text)
        assert "exited with code 3, restart in 3s" in text
        assert "ignored SIGTERM for 3s, SIGKILL" in text  # the program trapping TERM
        ff_log = (tmp_path / "ffmpeg-encoder-__defaultVhost__-live-show-x.log").read_text()
        # a restart at the moment of the unpublish may be killed before the script prints
        assert starts - 1 <= ff_log.count("bad ffmpeg called with") <= starts, (starts, ff_log)
        assert "-vcodec copy -acodec copy" in ff_log


def test_ingest_and_transcode_follow_reload(tmp_path, media_flv):
    """SIGHUP: an ingest turned on starts, a transcode added to the live stream starts its ffmpeg,
    an ingest removed stops (with the transcode of the stream it published)."""
    ff = standin_launcher(tmp_path)
    ingest = (f"ingest file {{ enabled off; input {{ type file; url {media_flv.path}; }} ffmpeg {ff};"
              " engine { enabled off; output rtmp://127.0.0.1:[port]/live?vhost=[vhost]/reloaded; } }")
    transcode = f"transcode live {{ enabled on; ffmpeg {ff}; engine cp {{ enabled on; vcodec copy; acodec copy; {OUT} }} }}"
    with SrsProcess(tmp_path, vhost_body=ingest, global_body=f"ff_log_dir {tmp_path};") as srs:
        conf = open(srs.conf_path).read()
        time.sleep(0.5)  # "nothing happens" check: a disabled ingest starts no ffmpeg
        assert not children(srs)
        with open(srs.conf_path, "w") as f:
            f.write(conf.replace("enabled off; input", "enabled on; input"))
        srs.signal(signal.SIGHUP)
        player = Player(srs.rtmp_url("live/reloaded"), max_seconds=8, stop_after_video=5)
        player.start()
        player.join(10)
        assert player.width == 320, (player.error, srs.output())
        assert len(children(srs)) == 1
        with open(srs.conf_path, "w") as f:
            f.write(conf.replace(ingest, ingest.replace("enabled off; input", "enabled on; input") + transcode))
        srs.signal(signal.SIGHUP)
        assert wait_for(lambda: len(children(srs)) == 2, 5), srs.output()  # + ffmpeg of live/reloaded_cp
        with open(srs.conf_path, "w") as f:
            f.write(conf.replace(ingest, transcode))
        srs.signal(signal.SIGHUP)
        assert wait_for(lambda: not children(srs), 8), [p.cmdline() for p in children(srs)]
        text = srs.log_text()
        assert "ingest file of vhost __defaultVhost__ stopped" in text
        assert "reload transcode of vhosts __defaultVhost__" in text



def test_shipped_ingest_conf_plays_the_sample_make_writes(tmp_path):
    """conf/ingest.conf as a user runs it from trunk/ (only the port, pid and ffmpeg log moved to the test's
    own): the sample `make` generates is ingested and plays, 768x320 H.264 + AAC, every frame in order."""
    trunk = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    sample = os.path.join(trunk, "doc", "source.200kbps.768x320.flv")
    assert os.path.isfile(sample), "make writes %s (python -m srs.main.tools --sample)" % sample
    with open(os.path.join(trunk, "conf", "ingest.conf")) as f:
        shipped = f.read()
    assert "url     ./doc/source.200kbps.768x320.flv;" in shipped and "listen              1935;" in shipped
    port = free_port()
    conf = str(tmp_path / "ingest.conf")
    with open(conf, "w") as f:
        f.write(shipped.replace("listen              1935;",
                                "listen %d;\npid %s/srs.pid;\nff_log_dir %s;" % (port, tmp_path, tmp_path)))
    with open(str(tmp_path / "stderr.txt"), "wb") as out:
        # run in trunk/, so ./doc/... and ./objs/ffmpeg/bin/ffmpeg resolve as they do for the user
        proc = subprocess.Popen([sys.executable, "-m", "srs.main.server", "-c", conf], cwd=trunk, stdout=out,
                                stderr=subprocess.STDOUT)
    log = lambda: (tmp_path / "stderr.txt").read_text(errors="replace")[-3000:]  # noqa: E731
    ffmpegs = []
    try:
        assert wait_port(port), log()
        player = Player("rtmp://127.0.0.1:%d/live/livestream" % port, max_seconds=15, stop_after_video=75)
        player.start()
        player.join(20)
        assert (player.width, player.height) == (768, 320), (player.error, log())
        assert player.vcodec == "h264" and player.acodec == "aac" and player.first_video_key
        # 3 s of the 25 fps stream, each frame 40 ms after the one before (none lost, none repeated)
        steps = {round(b - a, 3) for a, b in zip(player.video_pts, player.video_pts[1:])}
        assert player.video_frames == 75 and steps == {0.04}, (player.video_frames, steps)
        ffmpegs = psutil.Process(proc.pid).children(recursive=True)
        assert ffmpegs and (tmp_path / "ffmpeg-ingest-__defaultVhost__-livestream.log").exists()
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0 and "Traceback" not in log(), log()
    assert not [p for p in ffmpegs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_server_stop_ends_its_children_even_one_that_ignores_sigterm(tmp_path, media_flv):
    """SIGTERM to the server while an exec program that ignores SIGTERM runs: the server's child
    registry SIGKILLs it (the parent-death SIGTERM would not end it), and the server exits 0."""
    body = """exec { enabled on; publish /bin/sh -c "trap '' TERM; exec sleep 60"; }"""
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_bg(media_flv.path, srs.rtmp_url("live/stubborn"), loops=5)
        # the forked child shows the server's command line until it has exec'ed sh, then sleep
        assert wait_for(lambda: child_cmdlines(srs, 0) == [["sleep", "60"]], 10), child_cmdlines(srs, 0)
        kids = children(srs)
        t0 = time.monotonic()
        assert srs.stop(15) == 0
        assert time.monotonic() - t0 < 10
    for p in kids:
        assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE, p
    text = srs.log_text()
    assert "still alive at shutdown, SIGKILL" in text or "ignored SIGTERM for 3s, SIGKILL" in text, text
