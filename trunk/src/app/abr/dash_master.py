"""The DASH master of an ABR ladder: one MPD listing every rendition's own DASH output.

    abr { dash_master [app]/[stream]_abr.mpd; }     # under the vhost's dash_path (its dash must be on)

Each rendition is a normal live stream with its own DASH writer (app/dash/muxer.py: ``<rendition>/
video-<n>.m4s``...). The master lists the window of each as a Representation of ONE video
AdaptationSet (so a player switches between them), with its own ``BaseURL`` (the rendition's segment
directory), its own ``SegmentTimeline`` and ``startNumber`` (numbers may differ between renditions,
times do not: the worker keeps the source's timestamps and forces the source's keyframes in every
rendition, so the renditions cut their segments at the same instants). Audio is one AdaptationSet
too: each rendition's audio a Representation (one per distinct bitrate: copied tracks are the
same), so a player on a thin link takes a thin audio with its thin video.

BANDWIDTH is the configured one (video max rate; the audio's bitrate, ``COPIED_AUDIO_KBPS`` when
copied), not a measure, so a low rendition is not announced above a high one (the source copy,
``abr { source on; }``, is listed first, id ``source``, with its measured peak: master.PeakRate);
width, height and codecs come from each rendition's own sequence headers (its fMP4 init). availabilityStartTime is
the latest of the renditions' (a segment is then announced no earlier than every rendition wrote
it); publishTime is the end of the newest listed segment, so the text only changes when a window
does and the ladder rewrites the file only then.

The name is ``<stream>_abr.mpd`` by default to match the HLS master ``<stream>_abr.m3u8``:
``<stream>.mpd`` is the source's own DASH output.
"""
from __future__ import annotations

import posixpath
from typing import List, Optional

from srs.app.dash.muxer import DashStream
from srs.app.server.file_root import confine
from srs.kernel import mpd
from srs.kernel.path_template import build_stream


def rendition_dash(sources, url: str) -> Optional[DashStream]:
    """The publishing DASH writer of the live stream ``url`` (vhost/app/stream), if any."""
    src = sources.get(url)
    if src is None:
        return None
    return next((o for o in src.hub if isinstance(o, DashStream) and o.publishing), None)


def dash_master(vc, sources, app: str, stream: str, entries, cwd: str) -> Optional[tuple]:
    """(path on disk, MPD bytes) of the ladder of ``stream``; None while the vhost's DASH is off or no
    rendition has a video segment yet. ``entries``: (id, stream name, video bps, audio bps) in the
    ladder's order (the source first when listed). Raises PathOutsideRoot for a master name that
    leaves dash_path."""
    if not vc.dash.enabled:
        return None
    master_rel = build_stream(vc.abr.dash_master, vc.name, app, stream)
    master_dir = posixpath.dirname(master_rel) or "."
    path = confine(vc.dash.dash_path, master_rel, cwd)  # checked first: a bad name is refused at once
    reps: List[mpd.Representation] = []
    audios: List[mpd.Representation] = []
    asts = []
    for name, rstream, video_bps, audio_bps in entries:
        dash = rendition_dash(sources, "%s/%s/%s" % (vc.name, app, rstream))
        if dash is None or dash.ast_ms is None:
            continue
        video, sound = dash.tracks["video"], dash.tracks["audio"]
        window = dash.cfg.dash_window_size
        if video.rep is None or not video.segments or not video.rep.codecs.startswith("avc1."):
            continue  # not ready, or a source copy that is not H.264 (the renditions are: one AdaptationSet)
        base = posixpath.relpath(dash.dir, master_dir) + "/"
        rep = mpd.Representation(name, True, video.rep.codecs, video_bps, video.rep.width,
                                 video.rep.height, base_url=base, files="video")
        rep.segments = [s[:3] for s in video.segments[-window:]]
        reps.append(rep)
        asts.append(dash.ast_ms)
        if sound.rep is not None and sound.segments and all(
                (a.codecs, a.bandwidth) != (sound.rep.codecs, audio_bps) for a in audios):
            audio = mpd.Representation(name + "-audio", False, sound.rep.codecs,
                                       audio_bps, sample_rate=sound.rep.sample_rate,
                                       base_url=base, files="audio")
            audio.segments = [s[:3] for s in sound.segments[-window:]]
            audios.append(audio)
    if not reps:
        return None
    reps.extend(audios)
    ast = max(asts)
    newest = max(r.segments[-1][1] + r.segments[-1][2] for r in reps)
    text = mpd.render(reps, "", ast, ast + newest, vc.dash.dash_update_period * 1000, vc.dash.dash_window_size,
                      group=True)
    return path, text
