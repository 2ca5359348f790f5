"""kernel/mpd: the live MPD text (SRS 5's form) parses as DASH XML with the timeline given."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from srs.kernel import mpd

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def test_iso_time_and_durations():
    assert mpd.iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert mpd.iso_time(1_796_283_411_357) == "2026-12-03T07:36:51.357Z"
    assert mpd.duration(5000) == "PT5.000S" and mpd.duration(1500) == "PT1.500S"


def test_render_two_tracks():
    video = mpd.Representation("video", True, "avc1.64001f", 800000, 640, 360)
    video.segments = [(7, 14000, 2000), (8, 16000, 2040)]
    audio = mpd.Representation("audio", False, "mp4a.40.2", 48000, sample_rate=44100)
    audio.segments = [(7, 14010, 2003), (8, 16013, 2027)]
    empty = mpd.Representation("other", True, "hvc1.1.6.L93", 1)  # no segment yet: not listed
    text = mpd.render([video, audio, empty], "s&t/", 1_000_000, 1_018_000, 5000, 5)
    root = ET.fromstring(text)
    assert root.get("type") == "dynamic" and root.get("minimumUpdatePeriod") == "PT5.000S"
    assert root.get("timeShiftBufferDepth") == "PT10.200S" and root.get("minBufferTime") == "PT4.080S"
    assert root.get("availabilityStartTime") == "1970-01-01T00:16:40.000Z"
    assert root.find("d:BaseURL", NS).text == "s&t/"
    sets = root.findall("d:Period/d:AdaptationSet", NS)
    assert [s.get("mimeType") for s in sets] == ["video/mp4", "audio/mp4"]
    rep = sets[0].find("d:Representation", NS)
    assert (rep.get("id"), rep.get("codecs"), rep.get("width"), rep.get("height")) == ("video", "avc1.64001f",
                                                                                      "640", "360")
    tmpl = rep.find("d:SegmentTemplate", NS)
    assert tmpl.get("startNumber") == "7" and tmpl.get("media") == "$RepresentationID$-$Number$.m4s"
    assert [(s.get("t"), s.get("d")) for s in tmpl.findall("d:SegmentTimeline/d:S", NS)] == [
        ("14000", "2000"), ("16000", "2040")]
    assert sets[1].find("d:Representation", NS).get("audioSamplingRate") == "44100"


def test_render_grouped_renditions_with_their_own_base_urls():
    """An ABR master: the video renditions in one AdaptationSet, each with its directory and files."""
    hi = mpd.Representation("hi", True, "avc1.64001e", 1500000, 640, 360, base_url="s_hi/", files="video")
    hi.segments = [(3, 4000, 1000), (4, 5000, 1000)]
    lo = mpd.Representation("lo", True, "avc1.42c00c", 150000, 256, 144, base_url="s_lo/", files="video")
    lo.segments = [(5, 5000, 1000)]
    audio = mpd.Representation("hi-audio", False, "mp4a.40.2", 64000, sample_rate=44100, base_url="s_hi/",
                               files="audio")
    audio.segments = [(3, 4010, 1000)]
    root = ET.fromstring(mpd.render([hi, audio, lo], "", 1_000_000, 1_006_000, 1000, 6, group=True))
    assert root.find("d:BaseURL", NS) is None
    sets = root.findall("d:Period/d:AdaptationSet", NS)
    assert [s.get("mimeType") for s in sets] == ["video/mp4", "audio/mp4"]
    reps = sets[0].findall("d:Representation", NS)
    assert [(r.get("id"), r.get("bandwidth"), r.find("d:BaseURL", NS).text) for r in reps] == [
        ("hi", "1500000", "s_hi/"), ("lo", "150000", "s_lo/")]
    tmpl = reps[1].find("d:SegmentTemplate", NS)
    assert (tmpl.get("initialization"), tmpl.get("media"), tmpl.get("startNumber")) == (
        "video-init.mp4", "video-$Number$.m4s", "5")
    assert sets[1].find("d:Representation/d:SegmentTemplate", NS).get("media") == "audio-$Number$.m4s"
