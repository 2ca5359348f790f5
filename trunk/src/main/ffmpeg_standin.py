"""``objs/ffmpeg``: a PyAV stand-in for ffmpeg, enough for the command lines SRS builds.

    objs/ffmpeg -loglevel info -f flv -i rtmp://127.0.0.1:1935/live?vhost=v/s -vcodec libx264 -b:v 200000
        -r 25.00 -s 160x120 -aspect 160:120 -threads 1 -profile:v baseline -preset superfast
        -acodec aac -b:a 64000 -ar 44100 -ac 2 -f flv -y rtmp://127.0.0.1:1935/live?vhost=v/s_ff

Accepted: global ``-y -n -loglevel/-v L -hide_banner -nostdin -nostats``; input ``-f fmt -re -i url``
(one input); output ``-vcodec/-c:v libx264|copy``, ``-vn``, ``-b:v``, ``-r``, ``-s WxH``, ``-aspect``,
``-threads``, ``-profile:v``, ``-preset``, ``-acodec/-c:a aac|libfdk_aac|libaacplus|copy``, ``-an``,
``-b:a``, ``-ar``, ``-ac``, ``-c/-codec copy``, ``-bsf:a aac_adtstoasc``, ``-f fmt`` and one output
(a file or rtmp:// URL; FLV for rtmp). Anything else exits 1 naming the option, so an engine that
needs the real ffmpeg (filters, vparams...) fails loudly. libfdk_aac/libaacplus use FFmpeg's aac.

Like ffmpeg, output timestamps start at 0 (the input's first timestamp is subtracted), ``-re``
reads at native speed, and SIGTERM/SIGINT end the run cleanly (trailer written), exit code 255.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from fractions import Fraction
from typing import List, Optional

import av

PROG = "ffmpeg (srs PyAV stand-in)"
VIDEO_ENCODERS = ("libx264",)
AUDIO_ENCODERS = {"aac": "aac", "libfdk_aac": "aac", "libaacplus": "aac"}
LOG_LEVELS = ("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace")


class UsageError(Exception):
    """A command line the stand-in does not support (exit 1)."""


class Options:
    __slots__ = ("overwrite", "loglevel", "iformat", "realtime", "input", "vcodec", "vbitrate", "fps", "size",
                 "aspect", "threads", "profile", "preset", "acodec", "abitrate", "sample_rate", "channels",
                 "oformat", "output", "bsf_audio")

    def __init__(self):
        self.overwrite = False
        self.loglevel = "info"
        self.iformat = ""
        self.realtime = False
        self.input = ""
        self.vcodec = "libx264"   # ffmpeg would re-encode when not told; so do we
        self.vbitrate = 0
        self.fps: Optional[Fraction] = None
        self.size: Optional[tuple] = None
        self.aspect = ""
        self.threads = 0
        self.profile = ""
        self.preset = ""
        self.acodec = "aac"
        self.abitrate = 0
        self.sample_rate = 0
        self.channels = 0
        self.oformat = ""
        self.output = ""
        self.bsf_audio = ""

    def __repr__(self) -> str:
        return "Options(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


def _int(opt: str, text: str) -> int:
    mult = 1
    t = text.strip()
    if t[-1:] in ("k", "K"):
        mult, t = 1000, t[:-1]
    elif t[-1:] == "M":
        mult, t = 1000000, t[:-1]
    try:
        value = int(float(t) * mult)
    except ValueError:
        raise UsageError("invalid value %r for %s" % (text, opt)) from None
    if value < 0:
        raise UsageError("negative value %r for %s" % (text, opt))
    return value


def _size(text: str) -> tuple:
    w, sep, h = text.partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) <= 0 or int(h) <= 0:
        raise UsageError("invalid size %r for -s, want WxH" % text)
    return int(w), int(h)


def _fps(text: str) -> Fraction:
    try:
        value = Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise UsageError("invalid frame rate %r for -r" % text) from None
    if value <= 0:
        raise UsageError("invalid frame rate %r for -r" % text)
    return value


def _vcodec(value: str) -> str:
    if value not in VIDEO_ENCODERS + ("copy",):
        raise UsageError("video codec %r is not supported (libx264, copy or -vn)" % value)
    return value


def _acodec(value: str) -> str:
    if value not in tuple(AUDIO_ENCODERS) + ("copy",):
        raise UsageError("audio codec %r is not supported (aac, libfdk_aac, libaacplus, copy or -an)" % value)
    return value


# option -> (takes a value, setter(options, value))
def _set(name, conv=lambda v: v):
    def setter(o, v):
        setattr(o, name, conv(v))
    return setter


def _set_both(o, v):
    if v != "copy":
        raise UsageError("-c %s is not supported, only -c copy (or -vcodec/-acodec)" % v)
    o.vcodec = o.acodec = "copy"


def _set_bsf(o, v):
    if v != "aac_adtstoasc":
        raise UsageError("bitstream filter %r is not supported (only aac_adtstoasc)" % v)
    o.bsf_audio = v  # FLV audio is already ASC: nothing to do


def _set_loglevel(o, v):
    level = v.split("+")[-1]
    if level not in LOG_LEVELS and not level.lstrip("-").isdigit():
        raise UsageError("invalid log level %r" % v)
    o.loglevel = level


_OUTPUT = {
    "-vcodec": _set("vcodec", _vcodec), "-c:v": _set("vcodec", _vcodec), "-codec:v": _set("vcodec", _vcodec),
    "-b:v": _set("vbitrate", lambda v: _int("-b:v", v)), "-r": _set("fps", _fps), "-s": _set("size", _size),
    "-aspect": _set("aspect"), "-threads": _set("threads", lambda v: _int("-threads", v)),
    "-profile:v": _set("profile"), "-preset": _set("preset"),
    "-acodec": _set("acodec", _acodec), "-c:a": _set("acodec", _acodec), "-codec:a": _set("acodec", _acodec),
    "-b:a": _set("abitrate", lambda v: _int("-b:a", v)), "-ar": _set("sample_rate", lambda v: _int("-ar", v)),
    "-ac": _set("channels", lambda v: _int("-ac", v)), "-c": _set_both, "-codec": _set_both,
    "-bsf:a": _set_bsf,
}
_FLAGS = {"-y": ("overwrite", True), "-n": ("overwrite", False), "-vn": ("vcodec", ""), "-an": ("acodec", ""),
          "-re": ("realtime", True), "-hide_banner": None, "-nostdin": None, "-nostats": None}


def parse_args(argv: List[str]) -> Options:
    """ffmpeg's argv (without the program name) -> Options; raises UsageError."""
    o = Options()
    i = 0
    pending_format = ""
    while i < len(argv):
        a = argv[i]
        if a in _FLAGS:
            if a == "-re" and o.input:
                raise UsageError("-re must come before -i")
            flag = _FLAGS[a]
            if flag is not None:
                setattr(o, flag[0], flag[1])
            i += 1
            continue
        if not a.startswith("-") or a == "-":
            if not o.input:
                raise UsageError("output %r given before the input (-i)" % a)
            if o.output:
                raise UsageError("only one output is supported, got %r and %r" % (o.output, a))
            o.output, o.oformat = a, pending_format
            pending_format = ""
            i += 1
            continue
        if i + 1 >= len(argv):
            raise UsageError("option %s needs a value" % a)
        value = argv[i + 1]
        if a in ("-loglevel", "-v"):
            _set_loglevel(o, value)
        elif a == "-f":
            pending_format = value
        elif a == "-i":
            if o.input:
                raise UsageError("only one input is supported")
            o.input, o.iformat = value, pending_format
            pending_format = ""
        elif a in _OUTPUT:
            if not o.input:
                raise UsageError("option %s is an output option, it must follow -i" % a)
            _OUTPUT[a](o, value)
        else:
            raise UsageError("option %s is not supported by the stand-in; configure the real ffmpeg "
                             "(./configure --with-ffmpeg=PATH)" % a)
        i += 2
    if not o.input:
        raise UsageError("no input, use -i url")
    if not o.output:
        raise UsageError("no output file or url")
    if not o.vcodec and not o.acodec:
        raise UsageError("-vn and -an together leave nothing to output")
    if not o.oformat and o.output.startswith("rtmp://"):
        o.oformat = "flv"
    return o


# ---------------------------------------------------------------------- the run
class Stop(Exception):
    """SIGTERM/SIGINT: finish the output and exit 255, as ffmpeg does."""


STOP_GRACE_S = 1.0  # a run stuck in a blocking read (a stalled input) is ended this long after the signal
_stop_signal: List[str] = []


def install_stop_signals() -> None:
    """SIGTERM/SIGINT are taken by a thread (sigwait): the run checks the flag between packets and
    ends cleanly; if it is stuck in PyAV's C code (no packet comes), the process exits 255 anyway.
    (A Python signal handler would only run once the blocking read returns.)"""
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    def waiter() -> None:
        sig = signal.sigwait(sigs)
        _stop_signal.append(signal.Signals(sig).name)
        time.sleep(STOP_GRACE_S)
        sys.stderr.write("%s: exiting on %s (input stalled)\n" % (PROG, _stop_signal[0]))
        sys.stderr.flush()
        os._exit(255)

    threading.Thread(target=waiter, name="signals", daemon=True).start()


class Transcoder:
    def __init__(self, o: Options, err=sys.stderr):
        self.av = av
        self.o = o
        self.err = err
        self.inp = None
        self.out = None
        self.iv = self.ia = self.ov = self.oa = None
        self.resampler = None
        self.offset: Optional[float] = None      # seconds subtracted from every timestamp
        self.last_vpts = -1
        self.next_slot_ms = 0.0
        self.next_apts: Optional[int] = None
        self.frames = 0
        self.packets = 0
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        if self.o.loglevel not in ("quiet", "panic", "fatal", "error"):
            self.err.write(text + "\n")
            self.err.flush()

    def open(self) -> None:
        av, o = self.av, self.o
        self.inp = av.open(o.input, format=o.iformat or None)
        self.iv = next((s for s in self.inp.streams if s.type == "video"), None) if o.vcodec else None
        self.ia = next((s for s in self.inp.streams if s.type == "audio"), None) if o.acodec else None
        if self.iv is None and self.ia is None:
            raise UsageError("input %s has no stream to output" % o.input)
        if not o.overwrite and not o.output.startswith(("rtmp://", "udp://", "tcp://", "http://")):
            if os.path.exists(o.output):
                raise UsageError("output %s exists, use -y to overwrite" % o.output)
        self.out = av.open(o.output, "w", format=o.oformat or None)
        if self.iv is not None:
            self.ov = self._video_stream()
        if self.ia is not None:
            self.oa = self._audio_stream()
        self.say("%s: Input #0, %s, from '%s'" % (PROG, self.inp.format.name, o.input))
        for s, codec in ((self.ov, o.vcodec), (self.oa, o.acodec)):
            if s is not None:
                self.say("  Output stream %s: %s" % (s.type, "copy" if codec == "copy" else s.codec_context.name))
        self.say("Output #0, %s, to '%s'" % (self.out.format.name, o.output))

    def _video_stream(self):
        o, iv = self.o, self.iv
        if o.vcodec == "copy":
            return self.out.add_stream_from_template(iv)
        rate = o.fps or iv.average_rate or Fraction(25)
        width, height = o.size or (iv.codec_context.width, iv.codec_context.height)
        if not width or not height:
            raise UsageError("cannot tell the input video size, give -s WxH")
        options = {}
        if o.profile:
            options["profile"] = o.profile
        if o.preset:
            options["preset"] = o.preset
        ov = self.out.add_stream(o.vcodec, rate=rate, options=options)
        ov.width, ov.height, ov.pix_fmt = width, height, "yuv420p"
        if o.vbitrate:
            ov.bit_rate = o.vbitrate
        if o.threads:
            ov.codec_context.thread_count = o.threads
        ov.codec_context.time_base = Fraction(1, 1000)  # frame pts in ms: variable frame rate input is kept
        return ov

    def _audio_stream(self):
        o, ia = self.o, self.ia
        if o.acodec == "copy":
            return self.out.add_stream_from_template(ia)
        rate = o.sample_rate or ia.codec_context.sample_rate or 44100
        channels = o.channels or ia.codec_context.channels or 2
        oa = self.out.add_stream(AUDIO_ENCODERS[o.acodec], rate=rate, layout="mono" if channels == 1 else "stereo")
        if o.abitrate:
            oa.bit_rate = o.abitrate
        self.resampler = self.av.AudioResampler(format=oa.codec_context.format or "fltp",
                                                layout=oa.codec_context.layout, rate=rate,
                                                frame_size=oa.codec_context.frame_size or 1024)
        return oa

    def run(self) -> int:
        self.open()
        streams = [s for s in (self.iv, self.ia) if s is not None]
        last_report = time.monotonic()
        try:
            for pkt in self.inp.demux(streams):
                if _stop_signal:
                    raise Stop(_stop_signal[0])
                if pkt.dts is None:
                    continue
                t = float(pkt.dts * pkt.time_base)
                if self.offset is None:
                    self.offset = t
                if self.o.realtime:
                    delay = (t - self.offset) - (time.monotonic() - self.start)
                    if delay > 0:
                        time.sleep(delay)
                self.packets += 1
                if pkt.stream is self.iv:
                    self._video(pkt)
                else:
                    self._audio(pkt)
                if time.monotonic() - last_report >= 1.0:
                    last_report = time.monotonic()
                    self.say("frame=%d packets=%d time=%.2f" % (self.frames, self.packets, t - self.offset))
        finally:
            self.close()
        return 0

    def _shift(self, pkt, stream) -> None:
        shift = int(round(self.offset / pkt.time_base))
        pkt.dts -= shift
        if pkt.pts is not None:
            pkt.pts -= shift
        pkt.stream = stream

    def _video(self, pkt) -> None:
        if self.o.vcodec == "copy":
            self._shift(pkt, self.ov)
            self.out.mux(pkt)
            self.frames += 1
            return
        for frame in pkt.decode():
            if frame.pts is None:
                continue
            ms = (float(frame.pts * frame.time_base) - self.offset) * 1000.0
            if self.o.fps:  # -r: drop frames that come before the next output slot
                if ms + 0.5 < self.next_slot_ms:
                    continue
                self.next_slot_ms = max(self.next_slot_ms + 1000.0 / float(self.o.fps), ms)
            pts = int(round(ms))
            if pts <= self.last_vpts:
                continue
            self.last_vpts = pts
            out = frame.reformat(width=self.ov.width, height=self.ov.height, format="yuv420p")
            out.pts, out.time_base = pts, Fraction(1, 1000)
            self.out.mux(self.ov.encode(out))
            self.frames += 1

    def _audio(self, pkt) -> None:
        if self.o.acodec == "copy":
            self._shift(pkt, self.oa)
            self.out.mux(pkt)
            return
        for frame in pkt.decode():
            if frame.pts is not None and self.next_apts is None:
                start = float(frame.pts * frame.time_base) - self.offset
                self.next_apts = max(0, int(round(start * self.oa.codec_context.sample_rate)))
            frame.pts = None  # the resampler's output is timed by sample count below
            for out in self.resampler.resample(frame):
                self._encode_audio(out)

    def _encode_audio(self, frame) -> None:
        rate = self.oa.codec_context.sample_rate
        frame.pts, frame.time_base = self.next_apts or 0, Fraction(1, rate)
        self.next_apts = (self.next_apts or 0) + frame.samples
        self.out.mux(self.oa.encode(frame))

    def close(self) -> None:
        if self.out is not None:
            try:
                if self.ov is not None and self.o.vcodec != "copy":
                    self.out.mux(self.ov.encode(None))
                if self.oa is not None and self.o.acodec != "copy":
                    for frame in self.resampler.resample(None):
                        self._encode_audio(frame)
                    self.out.mux(self.oa.encode(None))
            finally:
                self.out.close()
                self.out = None
        if self.inp is not None:
            self.inp.close()
            self.inp = None


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-version"], ["--version"]):
        sys.stdout.write("ffmpeg version srs-standin (PyAV %s)\n" % av.__version__)
        return 0
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 1
    install_stop_signals()
    transcoder = Transcoder(opts)
    try:
        return transcoder.run()
    except Stop as e:
        transcoder.say("%s: exiting on %s" % (PROG, e))
        return 255
    except UsageError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 1
    except Exception as e:  # noqa: BLE001 - any PyAV/IO failure is one clear line and exit 1
        sys.stderr.write("%s: %s: %s\n" % (PROG, type(e).__name__, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
