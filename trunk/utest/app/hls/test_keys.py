"""HLS AES-128 (SRS 3 hls_keys): the key ring (a new key file every hls_fragments_per_key segments,
IV = the group's first sequence number), encrypted segment files, and the real server end to end —
a player that fetches the keys over HTTP decodes every published frame.

Also the segment/playlist side driven in-process (EXT-X-KEY lines, openssl decrypting each segment,
ffmpeg's HLS demuxer fetching the keys): test_aes128_keys.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request

import av
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from fixtures.hls_output import conf, decode_ts, parse_m3u8, publish
from fixtures.hub_host import coded, hls_host, looped
from fixtures.srs_server import SrsProcess, media_playlist, publish_flv, wait_for
from srs.app.config.conf import Config
from srs.app.hls.keys import KeyRing, SegmentFile, iv_for
from srs.app.server.file_root import PathOutsideRoot
from srs.kernel.aes import Aes128CbcEncryptor
from srs.kernel.message import MSG_VIDEO


def hls_view(root, extra=""):
    config = Config.parse_text(f"listen 1935; vhost v {{ hls {{ enabled on; hls_path {root}; hls_keys on; {extra} }} }}")
    return config.vhost("v").hls


def counting_random():
    """Distinct, predictable 16-byte keys: 00..00, 00..01, ... (the ring must not care what they are)."""
    drawn = []

    def random_bytes(n):
        drawn.append(len(drawn).to_bytes(n, "big"))
        return drawn[-1]
    return random_bytes, drawn


def test_key_groups_rotate_every_fragments_per_key(tmp_path):
    random_bytes, drawn = counting_random()
    ring = KeyRing(hls_view(tmp_path, "hls_fragments_per_key 3;"), "v", "live", "s", str(tmp_path / "live"),
                   random_bytes=random_bytes)
    got = [ring.for_segment(seq) for seq in range(7)]
    assert [g[2] for g in got] == [0, 0, 0, 3, 3, 3, 6]  # key_seq: the group's first segment
    assert [g[1] for g in got] == [iv_for(k) for k in (0, 0, 0, 3, 3, 3, 6)]
    assert iv_for(3) == bytes(15) + b"\x03"
    assert [g[0] for g in got] == [drawn[0]] * 3 + [drawn[1]] * 3 + [drawn[2]]
    assert [g[3] for g in got[::3]] == ["s-0.key", "s-3.key", "s-6.key"]  # relative to the m3u8's dir
    for key, _, key_seq, _, path in got[::3]:
        assert path == str(tmp_path / "live" / f"s-{key_seq}.key")
        assert open(path, "rb").read() == key
    assert sorted(p.name for p in (tmp_path / "live").iterdir()) == ["s-0.key", "s-3.key", "s-6.key"]  # no .tmp left


def test_a_group_starting_mid_way_and_a_republish_draw_new_keys(tmp_path):
    random_bytes, drawn = counting_random()
    ring = KeyRing(hls_view(tmp_path, "hls_fragments_per_key 5;"), "v", "live", "s", str(tmp_path / "live"),
                   random_bytes=random_bytes)
    assert ring.for_segment(7)[1:3] == (iv_for(7), 7)  # the first segment always has a key
    assert ring.for_segment(8)[2] == 7
    assert ring.for_segment(2)[2] == 2 and len(drawn) == 2  # sequence went back: never reuse the key


def test_key_url_and_key_file_path(tmp_path):
    keys = tmp_path / "keys"
    ring = KeyRing(hls_view(tmp_path / "html", f"hls_key_file_path {keys}; hls_key_url https://k.example.com;"),
                   "v", "live", "s", str(tmp_path / "html" / "live"))
    key, _, _, uri, path = ring.for_segment(0)
    assert uri == "https://k.example.com/live/s-0.key" and path == str(keys / "live" / "s-0.key")
    assert (keys / "live" / "s-0.key").read_bytes() == key and len(key) == 16


def test_key_file_name_outside_the_key_root_is_refused(tmp_path):
    ring = KeyRing(hls_view(tmp_path, "hls_key_file ../[stream]-[seq].key;"), "v", "live", "s", str(tmp_path))
    with pytest.raises(PathOutsideRoot):
        ring.for_segment(0)
    assert list(tmp_path.parent.glob("s-0.key")) == []


def decrypt(key, iv, data):
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    u = PKCS7(128).unpadder()
    return u.update(d.update(data) + d.finalize()) + u.finalize()


def test_encrypted_segment_file_commits_whole_blocks(tmp_path):
    key, iv = bytes(range(16)), iv_for(4)
    clear = bytes(range(256)) * 10 + b"tail"  # 2564 bytes: not block aligned
    f = SegmentFile(str(tmp_path / "s-4.ts"), Aes128CbcEncryptor(key, iv))
    for i in range(0, len(clear), 188):
        f.write(clear[i:i + 188])
    assert (tmp_path / "s-4.ts.tmp").exists() and not (tmp_path / "s-4.ts").exists()
    f.commit()
    data = (tmp_path / "s-4.ts").read_bytes()
    assert len(data) == f.bytes == 2576 and not (tmp_path / "s-4.ts.tmp").exists()  # padded to 161 blocks
    assert decrypt(key, iv, data) == clear


def test_encrypted_segment_file_abort_leaves_nothing(tmp_path):
    f = SegmentFile(str(tmp_path / "s-0.ts"), Aes128CbcEncryptor(bytes(16), iv_for(0)))
    f.write(b"x" * 100)
    f.abort()
    assert list(tmp_path.iterdir()) == []


def segment_keys(m3u8):
    """[(key URI, IV hex, segment name)] of a playlist: an EXT-X-KEY applies until the next one."""
    out, key = [], None
    for line in m3u8.splitlines():
        m = re.match(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)",IV=0x([0-9a-f]{32})$', line)
        if m:
            key = m.groups()
        elif line and not line.startswith("#"):
            out.append((*key, line))
    return out


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_real_server_encrypted_hls_decodes_every_frame(tmp_path, media_flv):
    """Publish over RTMP, let the server write encrypted HLS, then play it over the server's HTTP: the
    player fetches each key by the EXT-X-KEY URI and must decode every published video frame."""
    body = ("hls { enabled on; hls_fragment 1; hls_window 60; hls_path {html}; hls_keys on; "
            "hls_fragments_per_key 2; hls_dispose 0; }")
    with SrsProcess(tmp_path, vhost_body=body.replace("{html}", str(tmp_path / "html"))) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"), loops=2)
        assert wait_for(lambda: "unpublished" in srs.log_text(), 15), srs.output()
        m3u8, _ = media_playlist(srs.http_url("live/livestream.m3u8"))
        played = segment_keys(m3u8)
        assert len(played) >= 6, m3u8
        # A key every 2 segments, named and IV'd after the group's first sequence number.
        assert [(uri, int(iv, 16)) for uri, iv, _ in played] == [
            ("livestream-%d.key" % (seq - seq % 2), seq - seq % 2) for seq in range(len(played))]
        keys = {uri: fetch(srs.http_url("live/" + uri)) for uri, _, _ in played}
        assert all(len(k) == 16 for k in keys.values()) and len(set(keys.values())) == len(keys)
        for key_uri, iv, name in segment_keys(m3u8):
            data = fetch(srs.http_url("live/" + name))
            clear = decrypt(keys[key_uri], bytes.fromhex(iv), data)
            assert len(data) % 16 == 0 and len(clear) % 188 == 0 and clear[::188] == b"\x47" * (len(clear) // 188)
            assert data[:len(clear)] != clear  # what goes on the wire is the cipher text
        # ffmpeg's HLS demuxer would start a live playlist at its end: a closed copy plays from the start.
        (tmp_path / "html" / "live" / "vod.m3u8").write_text(m3u8 + "#EXT-X-ENDLIST\n")
        video = audio = 0
        first_key, pts = None, []
        with av.open(srs.http_url("live/vod.m3u8"), timeout=10) as c:
            for pkt in c.demux():
                if pkt.stream.type == "video" and pkt.size:
                    first_key = pkt.is_keyframe if first_key is None else first_key
                    for fr in pkt.decode():
                        video += 1
                        pts.append(fr.pts)
                elif pkt.stream.type == "audio" and pkt.size:
                    audio += len(pkt.decode())
    assert first_key is True
    assert video == 2 * media_flv.video_frames
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert audio == 2 * media_flv.audio_frames


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="no ffprobe")
def test_ffprobe_reads_an_encrypted_segment_only_with_its_key(tmp_path):
    """Debian's ffmpeg, not PyAV's, decrypts our cipher text too (crypto:// + key + IV)."""
    key, iv = bytes(range(16)), iv_for(9)
    with av.open(str(tmp_path / "clear.ts"), "w", format="mpegts") as out:
        s = out.add_stream("mpeg2video", rate=25)
        s.width, s.height = 64, 48
        for i in range(25):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    f = SegmentFile(str(tmp_path / "enc.ts"), Aes128CbcEncryptor(key, iv))
    f.write((tmp_path / "clear.ts").read_bytes())
    f.commit()
    def frames_read(key_hex):
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                "-show_entries", "stream=nb_read_frames", "-of", "json",
                                "-decryption_key", key_hex, "-decryption_iv", iv.hex(),
                                "crypto:" + str(tmp_path / "enc.ts")], capture_output=True, text=True, timeout=30)
        streams = json.loads(probe.stdout or "{}").get("streams") or [{}]
        return probe.returncode, int(streams[0].get("nb_read_frames", 0))

    assert frames_read(key.hex()) == (0, 25)
    assert frames_read(bytes(16).hex())[1] == 0  # the wrong key: garbage, not a stream


def test_aes128_keys(tmp_path, av_msgs):
    host = hls_host(conf(tmp_path, "hls_keys on; hls_fragments_per_key 2; hls_key_file_path %s;" % tmp_path),
                str(tmp_path))
    msgs = looped(av_msgs, 2)
    out = publish(host, msgs)
    m3u8 = tmp_path / "live" / "livestream.m3u8"
    head, entries = parse_m3u8(m3u8)
    assert [e["key"] for e in entries] == [
        '#EXT-X-KEY:METHOD=AES-128,URI="livestream-0.key",IV=0x%032x' % 0, None,
        '#EXT-X-KEY:METHOD=AES-128,URI="livestream-2.key",IV=0x%032x' % 2, None]
    keys = {seq: (tmp_path / "live" / ("livestream-%d.key" % seq)).read_bytes() for seq in (0, 2)}
    assert all(len(k) == 16 for k in keys.values()) and keys[0] != keys[2]
    for seg in out.segments:
        data = open(seg.path, "rb").read()
        assert len(data) % 16 == 0 and not (data[0] == 0x47 and data[188] == 0x47)  # not clear TS
    if shutil.which("openssl"):
        total = 0
        for seg in out.segments:
            clear = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", keys[seg.key_seq].hex(),
                                    "-iv", seg.iv.hex(), "-in", seg.path], capture_output=True, timeout=10)
            assert clear.returncode == 0, clear.stderr
            plain = tmp_path / ("clear-%d.ts" % seg.seq)
            plain.write_bytes(clear.stdout)
            info = decode_ts(str(plain))
            assert info["first_key"] is True
            total += info["video"]
        assert total == coded(msgs, MSG_VIDEO)
    # ffmpeg's HLS demuxer fetches the key and decrypts: the playlist lines are right too.
    # (A copy closed with ENDLIST: on the live playlist ffmpeg would wait for more segments.)
    vod = tmp_path / "live" / "vod.m3u8"
    vod.write_bytes(m3u8.read_bytes() + b"#EXT-X-ENDLIST\n")
    with av.open(str(vod), options={"allowed_extensions": "ALL"}) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == coded(msgs, MSG_VIDEO)
