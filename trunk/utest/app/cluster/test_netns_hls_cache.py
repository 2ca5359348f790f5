"""HLS behind an HTTP cache across hosts (network namespaces, fixtures/netns.py): SRS's CDN model for HLS.

The origin packages HLS; nginx on another host caches it (``proxy_cache``: segments for minutes, the
playlist for a second, one upstream request per object at a time with ``proxy_cache_lock``); PyAV
players on a third host play through nginx. The origin's log (one ``HTTP GET <target>`` trace line
per request) shows it was asked for each segment once, while nginx answered every player.
The nginx conf here is the README's "Operations" snippet.
"""
import collections
import os
import re
import shutil
import signal
import subprocess

import pytest

from fixtures.netns import NetnsServer, NsPlayer, NsPublisher, netns_hosts  # noqa: F401 - a fixture
from fixtures.srs_server import subdir, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PLAYERS = 3

# The README's snippet (Operations), with the paths of the test's directory and the origin's address.
NGINX_CONF = r"""
daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format cache '$request_uri $status $upstream_cache_status';
    access_log {d}/access.log cache;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;

    proxy_cache_path {d}/cache levels=1:2 keys_zone=hls:10m max_size=1g inactive=10m use_temp_path=off;
    server {{
        listen 8080;
        location ~ \.m3u8$ {{
            proxy_pass http://{origin};
            proxy_cache hls;
            proxy_cache_valid 200 1s;            # live playlist: at most one origin request a second
            proxy_cache_lock on;                 # concurrent misses wait for the one upstream request
            add_header X-Cache $upstream_cache_status;
        }}
        location ~ \.ts$ {{
            proxy_pass http://{origin};
            proxy_cache hls;
            proxy_cache_valid 200 10m;           # a segment never changes once listed
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, net, host: str, d: str, origin: str):
        self.net, self.host, self.dir = net, host, d
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, origin=origin))
        self.proc = None

    def __enter__(self):
        self.out = open(os.path.join(self.dir, "nginx.out"), "wb")
        self.proc = subprocess.Popen(self.net.cmd(self.host, [NGINX, "-e", f"{self.dir}/error.log", "-p", self.dir,
                                                              "-c", self.conf]),
                                     stdout=self.out, stderr=subprocess.STDOUT)
        if not self.net.reachable(self.host, "127.0.0.1", 8080):
            self.__exit__()
            raise RuntimeError("nginx did not start: " + self.log("error.log") + self.log("nginx.out"))
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()

    def log(self, name: str = "access.log") -> str:
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install nginx-light)")
def test_hls_through_nginx_proxy_cache(netns_hosts, tmp_path, media_flv):  # noqa: F811
    net = netns_hosts("origin1", "cache", "client")
    hls = ("hls { enabled on; hls_fragment 1; hls_window 8; hls_ctx off; hls_ts_ctx off; "
           f"hls_path {tmp_path}/origin1/html; }}")
    origin = NetnsServer(net, "origin1", subdir(tmp_path, "origin1"), vhost_body=hls)
    with origin, Nginx(net, "cache", str(subdir(tmp_path, "nginx")), f"{origin.address}:8080") as nginx:
        pub = NsPublisher(net, "client", media_flv.path, origin.rtmp_url("live/show"), loops=8)
        pub.start()
        playlist = os.path.join(origin.html, "live", "show.m3u8")
        # a live reader starts three segments from the end: wait until there are four
        assert wait_for(lambda: os.path.exists(playlist) and open(playlist).read().count("#EXTINF") >= 4, 20)

        url = f"http://{net.ip('cache')}:8080/live/show.m3u8"
        players = [NsPlayer(net, "client", url, read_timeout_s=5, stop_after_video=75) for _ in range(PLAYERS)]
        for p in players:
            p.start()
        for p in players:
            p.join(40)
        for p in players:
            assert p.error is None, p.error
            assert p.first_video_key is True and p.video_frames >= 75, p.video_frames
            assert (p.width, p.height) == (320, 240)

        served = [ln.split() for ln in nginx.log().splitlines() if ".ts " in ln]
        asked = collections.Counter(re.findall(r"HTTP GET (/live/show-\d+\.ts)", origin.log_text()))
        # FFmpeg asks for "Range: bytes=0-": nginx answers 206 from its cache
        assert served and all(status in ("200", "206") for _, status, _ in served), served
        # every segment the players got came from the origin once; nginx answered the repeats itself
        assert set(asked) == {uri for uri, _, _ in served}, (asked, served)
        assert max(asked.values()) == 1, asked
        hits = [uri for uri, _, cache in served if cache == "HIT"]
        assert len(served) >= 2 * len(asked) and len(hits) >= len(asked), (len(served), len(asked), len(hits))
        print(f"nginx served {len(served)} segment requests ({len(hits)} HIT), the origin {sum(asked.values())}")
