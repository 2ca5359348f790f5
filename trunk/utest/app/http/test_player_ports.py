"""An HTTP live player takes the server parts it uses (app/ports.py), not the server: the Server's
parts implement those ports (the wiring is app/http/entry.py's; the HTTP live tests run it)."""
from __future__ import annotations

from srs.app.config.conf import Config
from srs.app.ports import EdgePuller, LiveSources, PlayerStatistic, PlayHooks, SendMeter
from srs.app.server.server import Server


def test_server_parts_implement_the_player_ports():
    server = Server(Config.parse_text("listen 1935; http_server { enabled on; } vhost __defaultVhost__ { }"))
    assert isinstance(server.hooks, PlayHooks) and isinstance(server.statistic, PlayerStatistic)
    assert isinstance(server.sources, LiveSources) and isinstance(server.edge, EdgePuller)
    assert isinstance(server.meters, SendMeter)
    assert isinstance(server.now_ms(), int) and server.current_config() is server.config
