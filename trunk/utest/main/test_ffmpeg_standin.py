"""The PyAV ffmpeg stand-in (objs/ffmpeg): the options SRS's engines produce, clear failures for the
rest, real file transcodes checked with PyAV, and SIGTERM on a stalled input."""
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import av
import pytest

from fixtures.srs_server import wait_for
from srs.main.ffmpeg_standin import UsageError, main, parse_args

IN = "rtmp://127.0.0.1:1935/live?vhost=__defaultVhost__/livestream"
OUT = "rtmp://127.0.0.1:1935/live?vhost=__defaultVhost__/livestream_ff"

# what srs.app.ffmpeg.process.transcode_argv builds for a libx264/aac engine
SRS_ARGV = ["-loglevel", "info", "-f", "flv", "-i", IN, "-vcodec", "libx264", "-b:v", "500000", "-r", "25.00",
            "-s", "768x320", "-aspect", "768:320", "-threads", "12", "-profile:v", "main", "-preset", "medium",
            "-acodec", "libfdk_aac", "-b:a", "70000", "-ar", "44100", "-ac", "2", "-f", "flv", "-y", OUT]


def test_parse_srs_transcode_argv():
    o = parse_args(SRS_ARGV)
    assert (o.loglevel, o.iformat, o.input, o.vcodec, o.vbitrate, o.fps, o.size, o.aspect, o.threads) == \
        ("info", "flv", IN, "libx264", 500000, 25, (768, 320), "768:320", 12)
    assert (o.profile, o.preset, o.acodec, o.abitrate, o.sample_rate, o.channels, o.oformat, o.overwrite, o.output) \
        == ("main", "medium", "libfdk_aac", 70000, 44100, 2, "flv", True, OUT)
    assert not o.realtime


@pytest.mark.parametrize("argv, check", [
    (["-loglevel", "info", "-re", "-i", "a.flv", "-vcodec", "copy", "-acodec", "copy", "-f", "flv", "-y", OUT],
     lambda o: o.realtime and o.vcodec == o.acodec == "copy" and o.iformat == ""),
    (["-f", "flv", "-i", IN, "-vn", "-acodec", "aac", "-b:a", "48k", "-y", OUT],
     lambda o: o.vcodec == "" and o.abitrate == 48000 and o.oformat == "flv"),  # flv guessed for rtmp://
    (["-i", IN, "-c", "copy", "-y", "x.flv"], lambda o: o.vcodec == o.acodec == "copy" and o.oformat == ""),
    (["-i", IN, "-vcodec", "copy", "-acodec", "copy", "-bsf:a", "aac_adtstoasc", "-y", OUT],
     lambda o: o.bsf_audio == "aac_adtstoasc"),
    (["-i", IN, "-vcodec", "libx264", "-an", "-r", "30000/1001", "-y", OUT],
     lambda o: o.acodec == "" and float(o.fps) == pytest.approx(29.97, abs=0.01)),
])
def test_parse_accepts(argv, check):
    assert check(parse_args(argv))


@pytest.mark.parametrize("argv, words", [
    (["-i", IN, "-vf", "scale=1:1", "-y", OUT], "-vf is not supported"),
    (["-i", IN, "-vcodec", "libx265", "-y", OUT], "libx265"),
    (["-i", IN, "-acodec", "libopus", "-y", OUT], "libopus"),
    (["-i", IN, "-vn", "-an", "-y", OUT], "nothing to output"),
    (["-i", IN, "-re", "-y", OUT], "-re must come before -i"),
    (["-vcodec", "copy", "-i", IN, "-y", OUT], "must follow -i"),
    (["-i", IN, "-y", OUT, "second.flv"], "only one output"),
    (["-i", IN, "-i", IN, "-y", OUT], "only one input"),
    (["-i", IN, "-s", "160by120", "-y", OUT], "invalid size"),
    (["-i", IN, "-b:v", "fast", "-y", OUT], "invalid value"),
    (["-y", OUT], "output"),
    (["-i", IN], "no output"),
    (["-i"], "needs a value"),
    (["-i", IN, "-filter_complex", "overlay", "-y", OUT], "-filter_complex"),
])
def test_parse_refuses(argv, words):
    with pytest.raises(UsageError) as e:
        parse_args(argv)
    assert words in str(e.value)


def test_main_exits_1_with_message(capsys):
    assert main(["-i", IN, "-vf", "x", "-y", OUT]) == 1
    err = capsys.readouterr().err
    assert "stand-in" in err and "-vf" in err


def standin(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "srs.main.ffmpeg_standin", *args], capture_output=True,
                          text=True, timeout=timeout)


def probe(path):
    with av.open(str(path)) as c:
        info = {}
        for pkt in c.demux():
            if pkt.size == 0:
                continue
            kind = pkt.stream.type
            for frame in pkt.decode():
                info[kind] = info.get(kind, 0) + 1
                if kind == "video":
                    info["size"] = (frame.width, frame.height)
                else:
                    info["rate"], info["channels"] = frame.sample_rate, len(frame.layout.channels)
            info[kind + "_codec"] = pkt.stream.codec_context.name
        return info


def test_transcode_file(tmp_path, media_flv):
    out = tmp_path / "out.flv"
    r = standin("-loglevel", "info", "-f", "flv", "-i", media_flv.path, "-vcodec", "libx264", "-b:v", "200000",
                "-r", "12.50", "-s", "160x120", "-aspect", "160:120", "-threads", "1", "-profile:v", "baseline",
                "-preset", "superfast", "-acodec", "libfdk_aac", "-b:a", "48000", "-ar", "22050", "-ac", "1",
                "-f", "flv", "-y", str(out))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["size"] == (160, 120) and info["video_codec"] == "h264"
    assert 48 <= info["video"] <= 52  # 100 frames at 25 fps -> 12.5 fps
    assert (info["rate"], info["channels"], info["audio_codec"]) == (22050, 1, "aac")
    assert "Output #0, flv" in r.stderr


def test_copy_and_audio_only_and_overwrite(tmp_path, media_flv):
    out = tmp_path / "copy.flv"
    r = standin("-i", media_flv.path, "-c", "copy", "-y", str(out))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["size"] == (320, 240) and info["video"] == media_flv.video_frames
    assert info["audio"] == media_flv.audio_frames
    r = standin("-loglevel", "quiet", "-i", media_flv.path, "-vn", "-acodec", "copy", str(out))
    assert r.returncode == 1 and "use -y" in r.stderr  # exists and no -y
    r = standin("-loglevel", "quiet", "-i", media_flv.path, "-vn", "-acodec", "copy", "-y", str(out))
    assert r.returncode == 0 and r.stderr == ""
    info = probe(out)
    assert "video" not in info and info["audio"] == media_flv.audio_frames


def test_missing_input_exits_1(tmp_path):
    r = standin("-i", str(tmp_path / "nope.flv"), "-c", "copy", "-y", str(tmp_path / "o.flv"))
    assert r.returncode == 1 and "stand-in" in r.stderr


def unread_bytes(pipe) -> int:
    """Bytes written to a pipe and not read yet (Linux answers FIONREAD on either end)."""
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def test_sigterm_on_stalled_input_exits(tmp_path, media_flv):
    """A stalled input keeps PyAV in C code; SIGTERM still ends the process within ~1 s."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    p = subprocess.Popen([sys.executable, "-m", "srs.main.ffmpeg_standin", "-f", "flv", "-i", str(fifo),
                          "-c", "copy", "-y", str(tmp_path / "o.flv")], stderr=subprocess.PIPE, text=True)
    writer = open(fifo, "wb")  # the stand-in opened it for reading: give it a little, then stall
    try:
        writer.write(media_flv.data[:20000])
        writer.flush()
        # the input is stalled once the stand-in has read all of it: nothing is left in the pipe
        assert wait_for(lambda: unread_bytes(writer) == 0, 10), unread_bytes(writer)
        assert p.poll() is None
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        code = p.wait(5)
        assert code == 255 and time.monotonic() - t0 < 3
        assert "SIGTERM" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        threading.Thread(target=writer.close, daemon=True).start()  # may raise EPIPE: not our concern
