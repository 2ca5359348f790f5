"""ATC (absolute time) end to end: a publisher sending timestamps from 1,000,000,000 ms.

With ``atc on`` (or ``atc_auto on`` and metadata bravo_atc="true") players get the publisher's
absolute timestamps (no jitter, no re-basing; the GOP-cache burst headers at the GOP's time) and
HLS segments carry the absolute PTS; without atc the player's timeline starts near 0.
"""
from __future__ import annotations

import os

import av
from fixtures.srs_server import SrsProcess

from srs.app.rtmp.client import open_client
from srs.kernel import flv
from srs.kernel.message import MSG_AMF0_DATA, Message
from srs.protocol import amf0

OFFSET = 1_000_000_000
PTS_MASK = (1 << 33) - 1

VHOSTS = """
vhost atc.test {{
    play {{ atc on; }}
    hls {{ enabled on; hls_fragment 1; hls_window 60; hls_path {html}; }}
}}
vhost auto.test {{
    play {{ atc_auto on; }}
}}
"""


def absolute(msgs, bravo: bool):
    out = []
    for m in msgs:
        payload = m.payload
        if m.kind == MSG_AMF0_DATA and bravo:
            name, meta = amf0.decode_all(payload)[:2]
            meta = dict(meta)
            meta["bravo_atc"] = "true"
            payload = amf0.encode(name, amf0.EcmaArray(meta))
        out.append(Message.make(m.kind, m.ts_ms + OFFSET, payload))
    return out


def read_av(client, want: int, timeout_s: float = 5.0):
    got = []
    while len(got) < want:
        got.extend(client.read_messages(timeout_s))
    return got


def play_while_publishing(srs, vhost: str, msgs):
    """Publish the first half, join a player (GOP-cache burst), publish the rest; the player's messages."""
    url = srs.rtmp_url(f"live?vhost={vhost}/livestream")
    pub, stream = open_client(url)
    ply = None
    try:
        pub.publish(stream)
        half = len(msgs) // 2
        pub.send_messages(msgs[:half])
        ply, pstream = open_client(url)
        ply.play(pstream)
        got = read_av(ply, 3)  # the burst: metadata, sequence headers, the GOP so far
        pub.send_messages(msgs[half:])
        want = len(msgs) - half
        live = 0
        while live < want // 2:  # the live part arrives in merged-write ticks
            batch = list(ply.read_messages(5.0))
            live += len(batch)
            got.extend(batch)
        return got
    finally:
        pub.close()
        if ply is not None:
            ply.close()


def test_atc_player_and_hls_keep_absolute_time(tmp_path, media_flv):
    msgs = list(flv.iter_flv_tags(media_flv.data))
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, extra_vhosts=VHOSTS.format(html=html), http_api=False, http_server=False) as srs:
        # atc on: everything the player sees is absolute, the burst headers at the GOP's time
        got = play_while_publishing(srs, "atc.test", absolute(msgs, bravo=False))
        av_msgs = [m for m in got if m.is_av]
        assert min(m.ts_ms for m in got) >= OFFSET, got[:5]
        first_key = next(m for m in av_msgs if m.keyframe and not m.seq_header)
        assert OFFSET <= first_key.ts_ms <= OFFSET + 2000
        assert got[0].ts_ms == first_key.ts_ms  # metadata/sequence headers: the GOP's absolute time
        sent = {(m.kind, m.ts_ms) for m in absolute(msgs, False)}
        assert all((m.kind, m.ts_ms) in sent for m in av_msgs if not m.seq_header)  # not re-based, no jitter

        # atc_auto + bravo_atc="true" in the metadata: the same
        got = play_while_publishing(srs, "auto.test", absolute(msgs, bravo=True))
        assert min(m.ts_ms for m in got if m.is_av) >= OFFSET

        # no atc: the player's timeline starts near 0 (full jitter)
        got = play_while_publishing(srs, "__defaultVhost__", absolute(msgs, bravo=False))
        assert min(m.ts_ms for m in got if m.is_av) < 10_000

        # HLS of the atc vhost: the first segment's video starts at the absolute time (33-bit PTS)
        m3u8 = os.path.join(html, "live", "livestream.m3u8")
        assert os.path.exists(m3u8), srs.output()[-3000:]
        first_ts = next(line for line in open(m3u8).read().splitlines() if line.endswith(".ts"))
        c = av.open(os.path.join(html, "live", first_ts))
        try:
            pkt = next(p for p in c.demux(video=0) if p.dts is not None)
            first_video = next(m for m in msgs if m.is_video and not m.seq_header)
            assert pkt.dts == ((first_video.ts_ms + OFFSET) * 90) & PTS_MASK
            assert float(pkt.dts * pkt.time_base) > 40_000  # 1e9 ms modulo 2^33/90k: far from 0
        finally:
            c.close()


def test_atc_hls_segment_names_in_absolute_time(tmp_path, media_flv):
    """atc + hls_ts_floor: segments are named by absolute time (floor(now / fragment)), as SRS names them so that
    several origins fed the same ATC stream produce the same file names."""
    import re
    import time as _time

    from fixtures.srs_server import SrsProcess, publish_flv

    body = (f"atc on;\nhls {{ enabled on; hls_fragment 2; hls_window 20; hls_path {tmp_path}/html; "
            f"hls_ts_floor on; hls_ts_file [app]/[stream]-[timestamp].ts; }}")
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        before = _time.time()
        publish_flv(media_flv.path, srs.rtmp_url("live/atc"), realtime=True, speed=2.0, loops=2)
        after = _time.time()
        assert srs.wait_unpublished("live/atc")  # the last segment and the playlist are written
        m3u8 = (tmp_path / "html" / "live" / "atc.m3u8").read_text()
    names = [int(n) for n in re.findall(r"atc-(\d+)\.ts", m3u8)]
    assert names, m3u8
    assert all(b > a for a, b in zip(names, names[1:]))
    assert int(before / 2) - 1 <= names[0] <= int(after / 2) + len(names) + 1
