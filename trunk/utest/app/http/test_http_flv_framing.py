"""HTTP-FLV through the real server: an HTTP/1.1 player gets the same FLV bytes as an HTTP/1.0 player,
framed as chunks by the HTTP side (protocol.http.chunk), read back with protocol.http.BodyDecoder."""
import socket
import threading

from fixtures.srs_server import SrsProcess, publish_flv
from srs.kernel.flv import FlvDecoder
from srs.protocol.http import BodyDecoder

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def is_frame(m) -> bool:
    return m.is_video and not m.seq_header and m.payload[1] == 1  # an AVC NALU (not end of sequence)


def video_frames(flv: bytes) -> int:
    return sum(1 for m in FlvDecoder().receive_data(flv) if is_frame(m))


def up_to_last_frame(flv: bytes) -> list:
    """The messages up to the file's last video frame (a reader may stop a recv() sooner or later)."""
    msgs = FlvDecoder().receive_data(flv)
    last = max(i for i, m in enumerate(msgs) if is_frame(m))
    return [(m.kind, m.ts_ms, m.payload) for m in msgs[:last + 1]]


class FlvReader(threading.Thread):
    """GET the stream with one HTTP version; stops once the whole file's video frames are in."""

    def __init__(self, port: int, version: str, frames: int):
        super().__init__(daemon=True)
        self.port, self.version, self.frames = port, version, frames
        self.head = b""
        self.body = b""
        self.error = None

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            s.sendall(f"GET /live/framing.flv HTTP/{self.version}\r\nHost: 127.0.0.1\r\n\r\n".encode())
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += s.recv(65536)
            self.head, _, rest = raw.partition(b"\r\n\r\n")
            chunked = self.version == "1.1"
            decoder = BodyDecoder(True, None)
            body = decoder.receive_data(rest) if chunked else rest
            while video_frames(body) < self.frames:
                data = s.recv(65536)
                if not data:
                    break
                body += decoder.receive_data(data) if chunked else data
            self.body = body
            s.close()
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.error = repr(e)


def test_http11_player_gets_the_http10_bytes_in_chunks(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        readers = [FlvReader(srs.http_port, v, media_flv.video_frames) for v in ("1.1", "1.0")]
        for r in readers:
            r.start()
        assert srs.wait_players("live/framing", 2, 30)
        publish_flv(media_flv.path, srs.rtmp_url("live/framing"), realtime=True, speed=2.0)
        for r in readers:
            r.join(30)
        chunked, plain = readers
        assert chunked.error is None and plain.error is None, (chunked.error, plain.error)
        assert b"Transfer-Encoding: chunked" in chunked.head and b"chunked" not in plain.head
        # Both joined before the publish: one timestamp base, the same FLV bytes, two framings.
        assert video_frames(plain.body) == media_flv.video_frames
        assert up_to_last_frame(chunked.body) == up_to_last_frame(plain.body)
