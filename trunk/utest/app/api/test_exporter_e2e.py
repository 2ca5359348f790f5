"""exporter { } (SRS 5) on the real server: /metrics with SRS 5's names on its own port, following a
publisher and a player; label and tag in srs_build_info; other paths 404."""
from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from fixtures.srs_server import Player, SrsProcess, free_port, publish_bg, wait_port

SRS5_METRICS = ("srs_node_uname_info", "srs_build_info", "srs_cpu_percent", "srs_memory", "srs_send_bytes_total",
                "srs_receive_bytes_total", "srs_streams", "srs_clients", "srs_clients_total",
                "srs_clients_errs_total")


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = re.match(r"^(\w+)(\{.*\})? (\S+)$", line)
            assert m, line
            samples[m.group(1)] = (m.group(2) or "", float(m.group(3)))
    return samples


def test_exporter_serves_srs5_metrics(tmp_path, media_flv):
    port = free_port()
    body = f"exporter {{ enabled on; listen {port}; label cn-beijing; tag cn-edge; }}\nserver_id exp-1;"
    with SrsProcess(tmp_path, global_body=body) as srs:
        assert wait_port(port) and srs.wait_log(f"exporter listen at 0.0.0.0:{port}")
        idle = scrape(port)
        assert set(SRS5_METRICS) <= set(idle), idle
        labels = idle["srs_build_info"][0]
        assert 'server="exp-1"' in labels and 'label="cn-beijing"' in labels and 'tag="cn-edge"' in labels
        assert idle["srs_streams"][1] == 0 and idle["srs_memory"][1] > 1000
        player = Player(srs.rtmp_url("live/exp"), read_timeout_s=3, decode=False)
        player.start()
        assert srs.wait_players("live/exp")
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/exp"), speed=2.0)
        assert pub.wait_sent(1000)
        live = scrape(port)
        assert live["srs_streams"][1] == 1 and live["srs_clients"][1] == 2 and live["srs_clients_total"][1] >= 2
        pub.join(30)
        player.join(20)
        assert scrape(port)["srs_send_bytes_total"][1] > 0
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/versions", timeout=5)
        assert err.value.code == 404
