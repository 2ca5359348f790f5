"""SRS 5 shapes end to end: every callback body and the API answers of the real server, publishing and
playing over RTMP and HTTP-FLV with DVR and HLS on, decoded by a strict receiver that expects SRS 5's
JSON types (fixtures/srs5_receiver.py), with a configured server_id."""
from __future__ import annotations

import json
import urllib.request

from fixtures.srs5_receiver import (API_CLIENT, API_STREAM, API_VERSION, API_VHOST, Srs5Receiver, check_api)
from fixtures.srs_server import Player, SrsProcess, publish_bg, wait_for, wait_port

SERVER_ID = "srs5-shapes-1"


def api_json(srs, path: str) -> dict:
    with urllib.request.urlopen(srs.api_url(path), timeout=5) as resp:
        return json.loads(resp.read())


def vhost_body(rx: Srs5Receiver, tmp_path) -> str:
    hooks = " ".join(f"{e} {rx.url('/hooks/' + e)};" for e in (
        "on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop", "on_dvr", "on_hls"))
    return (f"http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}\n"
            f"dvr {{ enabled on; dvr_plan session; dvr_path {tmp_path}/dvr/[app]/[stream].flv; }}\n"
            f"hls {{ enabled on; hls_fragment 1; hls_path {tmp_path}/html; }}\n"
            f"http_hooks {{ enabled on; {hooks} "
            f"on_hls_notify {rx.url('/notify/[server_id]/[service_id]/[app]/[stream]/[ts_url]')}; }}")


def test_hook_bodies_and_api_have_srs5_types(tmp_path, media_flv):
    with Srs5Receiver() as rx, SrsProcess(tmp_path, vhost_body=vhost_body(rx, tmp_path),
                                          global_body=f"server_id {SERVER_ID};") as srs:
        assert wait_port(srs.http_port)
        rtmp = Player(srs.rtmp_url("live/shapes?k=1"), read_timeout_s=3, decode=False)
        flv = Player(srs.http_url("live/shapes.flv?k=2"), read_timeout_s=3, decode=False)
        rtmp.start()
        flv.start()
        assert srs.wait_players("live/shapes", 2)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/shapes?token=p"), speed=2.0)
        assert pub.wait_sent(1000)

        # the API while the stream is live, as SRS 5 dashboards decode it
        streams = api_json(srs, "/api/v1/streams")
        assert check_api(streams, "streams", API_STREAM) == [], streams
        live = [s for s in streams["streams"] if s["name"] == "shapes"][0]
        assert streams["server"] == SERVER_ID and live["publish"]["active"] is True
        assert live["url"] == "/live/shapes" and live["tcUrl"].startswith("rtmp://127.0.0.1:")
        clients = api_json(srs, "/api/v1/clients")
        assert check_api(clients, "clients", API_CLIENT) == [], clients
        assert live["publish"]["cid"] in [c["id"] for c in clients["clients"]]
        one = api_json(srs, "/api/v1/clients/" + live["publish"]["cid"])
        assert check_api(one, "client", API_CLIENT) == [] and one["client"]["publish"] is True
        vhosts = api_json(srs, "/api/v1/vhosts")
        assert check_api(vhosts, "vhosts", API_VHOST) == [], vhosts
        versions = api_json(srs, "/api/v1/versions")
        assert check_api(versions, "data", API_VERSION) == [], versions
        summaries = api_json(srs, "/api/v1/summaries")
        assert check_api(summaries) == [] and summaries["data"]["ok"] is True
        assert len({streams["service"], clients["service"], versions["service"]}) == 1
        assert len(streams["service"]) == 8 and versions["pid"] == str(srs.proc.pid)

        pub.join(30)
        rtmp.join(20)
        flv.join(20)
        assert rtmp.video_frames > 0 and flv.video_frames > 0, (rtmp.error, flv.error)
        assert wait_for(lambda: len(rx.bodies("on_close")) >= 2 and len(rx.bodies("on_stop")) >= 2
                        and rx.bodies("on_unpublish") and rx.bodies("on_dvr") and rx.bodies("on_hls")
                        and rx.gets, 15), rx.state()
        got = rx.state()
        assert "stream_extra failed" not in srs.log_text()

    assert got["errors"] == []  # every body decoded with SRS 5's types
    for action in ("on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop", "on_dvr",
                   "on_hls"):
        for body in [b for b in got["received"] if b["action"] == action]:
            assert body["server_id"] == SERVER_ID and body["service_id"] == streams["service"], body
    published = [b for b in got["received"] if b["action"] == "on_publish"][0]
    assert published["stream_url"] == "/live/shapes" and published["stream_id"] == live["id"]
    assert published["param"] == "?token=p" and published["client_id"] == live["publish"]["cid"]
    dvr = [b for b in got["received"] if b["action"] == "on_dvr"][0]
    assert dvr["client_id"] == published["client_id"]  # a string, as SRS 4/5
    assert {b["param"] for b in got["received"] if b["action"] == "on_play"} == {"?k=1", "?k=2"}
    assert got["gets"][0].startswith(f"/notify/{SERVER_ID}/{streams['service']}/live/shapes/")
