"""The WebRTC server's signalling and UDP port against bad input, and its sessions' life: API
listing, kick, WHEP DELETE, a peer that changes address, STUN that fails integrity, garbage
datagrams, a DTLS handshake that never finishes (that session alone ends, with a log line), and
stun_timeout. The ICE side is driven by hand with the sans-IO STUN builder: the answer's ufrag/pwd."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import urllib.request

import pytest
from aiortc import RTCPeerConnection

from fixtures.api_server import ApiServer
from fixtures.srs_server import wait_for
from srs.main.bench.srt_runs import free_udp_port
from play_clients import post, rtc_server
from srs.app.config.conf import Config
from srs.app.rtc.dtls import DtlsCertificate, DtlsSession
from srs.app.rtc.server import candidate_ips
from srs.app.rtc.srtp import SrtpSession
from srs.kernel.errors import ConfigError
from srs.protocol.rtc import rtcp, stun


def make_offer(kinds=("video", "audio"), direction: str = "recvonly") -> str:
    """aiortc's offer: recvonly (a player) or sendonly (a publisher, with its a=ssrc lines)."""
    async def run():
        pc = RTCPeerConnection()
        for kind in kinds:
            pc.addTransceiver(kind, direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp
    return asyncio.run(run())


@pytest.fixture(scope="module")
def offer():
    return make_offer()


def ice_of(sdp: str, prefix: str = "a=") -> tuple:
    lines = sdp.replace("\r\n", "\n").split("\n")
    ufrag = next(line.split(":", 1)[1] for line in lines if line.startswith(prefix + "ice-ufrag:"))
    pwd = next(line.split(":", 1)[1] for line in lines if line.startswith(prefix + "ice-pwd:"))
    return ufrag, pwd


def whep(srs, offer: str, query: str = "app=live&stream=livestream"):
    return post(srs.api_url("rtc/v1/whep/?" + query), offer.encode())


def clients(srs) -> list:
    with urllib.request.urlopen(srs.api_url("api/v1/clients"), timeout=5) as r:
        return [c for c in json.loads(r.read())["clients"] if c["type"].startswith("rtc-")]


def binding(sock, port: int, answer: str, offer: str, pwd: str = "") -> stun.StunMessage:
    """One ICE connectivity check to the server from ``sock``; its response."""
    local_ufrag, local_pwd = ice_of(answer)
    remote_ufrag, _ = ice_of(offer)
    sock.sendto(stun.binding_request(os.urandom(12), f"{local_ufrag}:{remote_ufrag}", pwd or local_pwd,
                                     0x6E7F00FF, True, 42, use_candidate=True), ("127.0.0.1", port))
    data, _ = sock.recvfrom(2048)
    return stun.StunMessage.parse(data)


CLIENT_CERT = DtlsCertificate.generate()


def with_our_fingerprint(offer: str) -> str:
    """The offer of a peer whose DTLS is ours (CLIENT_CERT): the server checks the SDP fingerprint."""
    return re.sub(r"a=fingerprint:sha-256 [0-9A-F:]+", "a=fingerprint:sha-256 " + CLIENT_CERT.fingerprint, offer)


def dtls_client(sock, port: int) -> DtlsSession:
    """Our DTLS code as the client (the offer's actpass made the server passive): handshake to done."""
    client = DtlsSession(CLIENT_CERT, "active")
    for out in client.start():
        sock.sendto(out, ("127.0.0.1", port))
    while not client.done:
        data, _ = sock.recvfrom(4096)
        if data[0] in (0, 1):          # a late STUN answer
            continue
        for out in client.feed(data):
            sock.sendto(out, ("127.0.0.1", port))
    return client


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    return s


def test_bad_offers_and_names_are_refused(tmp_path, offer):
    with rtc_server(tmp_path, extra_vhosts="vhost nortc { }\n") as srs:
        bad = [b"", b"hello", b"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF x\r\n", b"\xff\xfe" * 10,
               b"v=0\r\n" + b"a=x\r\n" * 5000, offer.replace("a=group:BUNDLE", "a=group:NOPE").encode(),
               offer.replace("H264", "H263").replace("opus", "speex").encode()]
        for body in bad:
            status, _, text = post(srs.api_url("rtc/v1/whep/?app=live&stream=livestream"), body)
            assert status == 400, (body[:40], status, text)
        for query in ("app=live&stream=../x", "app=li%00ve&stream=s", "app=live&stream=a%01b",
                      "app=live&stream=s&ice-ufrag=a:b"):
            status, _, text = whep(srs, offer, query)
            assert status == 400, (query, status, text)
        # the JSON API: not JSON, missing fields, a vhost without rtc
        for body, code in ((b"{", 400), (b'{"sdp": 1}', 400)):
            status, _, text = post(srs.api_url("rtc/v1/play/"), body, "application/json")
            assert status == code and json.loads(text)["code"] == 5011
        body = json.dumps({"streamurl": "webrtc://127.0.0.1/live/s?vhost=nortc", "sdp": offer}).encode()
        status, _, text = post(srs.api_url("rtc/v1/play/"), body, "application/json")
        assert status == 403 and json.loads(text)["code"] == 5021
        assert clients(srs) == []
        assert srs.alive()


def test_sessions_listed_kicked_and_deleted(tmp_path, offer):
    with rtc_server(tmp_path) as srs:
        status, headers, answer = whep(srs, offer)
        assert status == 201
        listed = clients(srs)
        assert [c["type"] for c in listed] == ["rtc-play"] and listed[0]["url"].endswith("/live/livestream")
        # kick from the API
        status, _, _ = post(srs.api_url(f"api/v1/clients/{listed[0]['id']}"), b"", method="DELETE")
        assert status == 200
        assert wait_for(lambda: clients(srs) == [], 5)
        assert srs.wait_log("closed: kicked")
        # WHEP DELETE: the token must match
        status, headers, answer = whep(srs, make_offer())
        location = headers["Location"]
        status, _, _ = post(srs.api_url(location.replace("token=", "token=x")), b"", method="DELETE")
        assert status == 403 and len(clients(srs)) == 1
        status, _, _ = post(srs.api_url(location), b"", method="DELETE")
        assert status == 200 and clients(srs) == []
        assert srs.wait_log("closed: DELETE by the client")


def test_whep_delete_finds_a_session_whose_ufrag_has_plus_and_slash(tmp_path, offer):
    # ice-char is ALPHA / DIGIT / "+" / "/" (RFC 8839): Chromium's ufrags hold them; the Location is escaped
    ufrag = ice_of(offer)[0]
    odd = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:ab+c/d", offer)
    assert odd != offer and ufrag not in odd
    with rtc_server(tmp_path) as srs:
        status, headers, _ = whep(srs, odd)
        assert status == 201 and "%2B" in headers["Location"] and "%2F" in headers["Location"]
        assert len(clients(srs)) == 1
        status, _, _ = post(srs.api_url(headers["Location"]), b"", method="DELETE")
        assert status == 200 and clients(srs) == []
        assert srs.wait_log("closed: DELETE by the client")


def test_ice_address_change_garbage_and_a_dtls_that_never_finishes(tmp_path, offer):
    with rtc_server(tmp_path, rtc="stun_timeout 4;") as srs:
        port = srs.rtc_port
        _, _, answer_a = whep(srs, offer, "app=live&stream=a")
        offer_b = with_our_fingerprint(make_offer())
        _, _, answer_b = whep(srs, offer_b, "app=live&stream=b")
        answer_a, answer_b = answer_a.decode(), answer_b.decode()
        a1, a2, b = udp(), udp(), udp()
        try:
            # garbage of every class first: dropped, nobody's session harmed
            junk = udp()
            for data in (b"\x00", b"\x00\x01" + os.urandom(30), b"\x16\xfe\xfd" + os.urandom(40),
                         b"\x80\x60" + os.urandom(100), b"\x80\xc8" + os.urandom(30), os.urandom(1400), b""):
                junk.sendto(data, ("127.0.0.1", port))
            # and a thousand random datagrams of every first-byte class, STUN ones naming A's ufrag
            rng = random.Random(15)
            local_a = ice_of(answer_a)[0]
            for i in range(1000):
                head = bytes([rng.choice((0, 1, 0x16, 0x14, 0x80, 0x90, 0xFF))])
                if i % 5 == 0:    # a well-formed STUN header with A's USERNAME and a bad signature
                    data = stun.binding_request(rng.randbytes(12), f"{local_a}:x", "wrong" * 5, 1, True, 1)
                else:
                    data = head + rng.randbytes(rng.randrange(0, 1500))
                junk.sendto(data, ("127.0.0.1", port))
            junk.close()
            # a check signed with another pwd gets no answer
            with pytest.raises(socket.timeout):
                a1.settimeout(1)
                binding(a1, port, answer_a, offer, pwd="x" * 32)
            a1.settimeout(5)
            reply = binding(a1, port, answer_a, offer)
            assert reply.type == stun.BINDING_SUCCESS and reply.xor_mapped_address() == a1.getsockname()
            # the client moves: a valid check from another address makes it the session's peer
            reply = binding(a2, port, answer_a, offer)
            assert reply.xor_mapped_address() == a2.getsockname()
            assert srs.wait_log("peer moves")
            assert binding(b, port, answer_b, offer_b).type == stun.BINDING_SUCCESS
            assert dtls_client(b, port).done     # B completes DTLS (the server is passive)
            assert srs.wait_log("rtc-play __defaultVhost__/live/b established")
            # A sends DTLS-looking garbage and never a ClientHello: A alone ends at the deadline
            for _ in range(3):
                a2.sendto(b"\x16\xfe\xfd\x00\x00" + os.urandom(60), ("127.0.0.1", port))

            def only_b_left():
                binding(b, port, answer_b, offer_b)   # B keeps its session alive
                return [c["url"].rsplit("/", 1)[-1] for c in clients(srs)] == ["b"]
            assert wait_for(only_b_left, 15, 0.5), srs.output()[-3000:]
            assert srs.wait_log("DTLS handshake failed, session closed: code=5006 DTLS handshake not done")
            # B goes quiet: stun_timeout ends it
            assert wait_for(lambda: clients(srs) == [], 15, 0.5)
            assert srs.wait_log("(stun_timeout), closed")
            assert "rtc: datagram of" in srs.log_text()   # the garbage was logged (rate-limited)
            assert srs.alive()
        finally:
            for s in (a1, a2, b):
                s.close()


def test_hooks_and_security_rules_apply(tmp_path, offer):
    with ApiServer("--deny-play", "denied") as hooks_srv:
        url = hooks_srv.url("/api/v1/sessions")
        hooks = f"http_hooks {{ enabled on; on_play {url}; on_stop {url}; }}\n"
        secure = "vhost secure { rtc { enabled on; } security { enabled on; deny play all; } }\n"
        with rtc_server(tmp_path, vhost_body=hooks, extra_vhosts=secure) as srs:
            status, _, text = whep(srs, offer, "app=live&stream=denied")
            assert status == 403, text
            status, headers, _ = whep(srs, offer, "app=live&stream=ok&secret=s1")
            assert status == 201
            status, _, _ = post(srs.api_url(headers["Location"]), b"", method="DELETE")
            assert status == 200

            def actions():
                return [(e["body"]["action"], e["body"]["stream"], e["body"].get("param", ""))
                        for e in hooks_srv.received()]
            assert wait_for(lambda: ("on_stop", "ok", "?app=live&stream=ok&secret=s1") in actions(), 10), actions()
            assert ("on_play", "denied", "?app=live&stream=denied") in actions()
            assert clients(srs) == []
            assert clients(srs) == []
            # a security rule of the vhost (picked by ?vhost= in the stream URL) refuses the player
            body = json.dumps({"streamurl": "webrtc://127.0.0.1/live/s?vhost=secure", "sdp": offer}).encode()
            status, _, text = post(srs.api_url("rtc/v1/play/"), body, "application/json")
            assert status == 403 and json.loads(text)["code"] == 1053, text


def test_rows_env_and_candidates():
    """rtc_server/vhost rtc rows with SRS 5's defaults and env forms; the candidate set as SRS builds it."""
    c = Config.parse_text("listen 1935; vhost __defaultVhost__ { }")
    rs, rv = c.rtc_server, c.vhost("x").rtc
    assert (rs.enabled, rs.listen, rs.candidate, rs.api_as_candidates, rs.use_auto_detect_network_ip) == \
        (False, ("0.0.0.0", 8000), "*", True, True)
    assert (rv.enabled, rv.nack, rv.twcc, rv.stun_timeout, rv.rtmp_to_rtc, rv.rtc_to_rtmp, rv.pli_for_rtmp) == \
        (False, True, True, 30.0, False, False, 6.0)
    env = Config.from_env({"SRS_LISTEN": "1935", "SRS_RTC_SERVER_ENABLED": "on", "SRS_RTC_SERVER_LISTEN": "8001",
                           "SRS_RTC_SERVER_CANDIDATE": "$CANDIDATE", "SRS_VHOST_RTC_ENABLED": "on",
                           "SRS_VHOST_RTC_RTMP_TO_RTC": "on"})
    rs = env.rtc_server
    assert rs.enabled and rs.listen[1] == 8001 and env.vhost("__defaultVhost__").rtc.rtmp_to_rtc
    # $CANDIDATE reads the env variable; unset, it is '*' (the interfaces, else 127.0.0.1)
    assert candidate_ips(rs, "", "", 8001, env={"CANDIDATE": "192.0.2.7"}) == [("192.0.2.7", 8001)]
    auto = candidate_ips(rs, "", "", 8001, env={})
    assert auto and all(ip != "" for ip, _ in auto)
    # eip first (its port wins), then the API host the client used (a literal, not loopback), then candidate
    fixed = Config.parse_text("listen 1935; rtc_server { candidate 198.51.100.1; } vhost __defaultVhost__ { }")
    assert candidate_ips(fixed.rtc_server, "203.0.113.5", "192.0.2.9:9000", 8000) == [
        ("192.0.2.9", 9000), ("203.0.113.5", 8000), ("198.51.100.1", 8000)]
    assert candidate_ips(fixed.rtc_server, "127.0.0.1", "", 8000) == [("198.51.100.1", 8000)]
    with pytest.raises(ConfigError):
        Config.parse_text("listen 1935; vhost v { rtc { dtls_role both; } }")


def test_api_auth_covers_the_rtc_routes(tmp_path, offer):
    """http_api { auth {} }: the WHEP POST needs the credentials, as every API route."""
    srs = rtc_server(tmp_path)
    text = open(srs.conf_path).read().replace(f"listen {srs.api_port}; }}",
                                              f"listen {srs.api_port}; auth {{ enabled on; username u; password p; }} }}")
    open(srs.conf_path, "w").write(text)
    with srs:
        status, _, _ = whep(srs, offer)
        assert status == 401
        req = urllib.request.Request(srs.api_url("rtc/v1/whep/?app=live&stream=livestream"), data=offer.encode(),
                                     method="POST", headers={"Content-Type": "application/sdp",
                                                             "Authorization": "Basic dTpw"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201


def test_reload_of_rtc_server_listens_again(tmp_path, offer):
    """SIGHUP with a new rtc_server listen: its sessions end, the new port answers offers."""
    srs = rtc_server(tmp_path)
    with srs:
        status, _, _ = whep(srs, offer)
        assert status == 201 and len(clients(srs)) == 1
        new_port = free_udp_port()
        text = open(srs.conf_path).read().replace(f"127.0.0.1:{srs.rtc_port}", f"127.0.0.1:{new_port}")
        open(srs.conf_path, "w").write(text)
        srs.signal(signal.SIGHUP)
        assert srs.wait_log(f"RTC listen at udp://127.0.0.1:{new_port}"), srs.output()[-3000:]
        assert wait_for(lambda: clients(srs) == [], 5)
        status, _, answer = whep(srs, make_offer())
        assert status == 201 and f"127.0.0.1 {new_port} typ host" in answer.decode()


def test_a_players_pli_reaches_the_webrtc_publisher(tmp_path):
    """WHIP publisher + WHEP player of its stream, both our own ICE/DTLS/SRTP: the player's PLI is
    passed on to the publisher (SRTCP it decrypts, for the SSRC its offer gave), once a second at most."""
    pub_offer = with_our_fingerprint(make_offer(direction="sendonly"))
    video_ssrc = int(pub_offer.split("m=video", 1)[1].split("a=ssrc:", 1)[1].split()[0])
    with rtc_server(tmp_path, rtc="rtc_to_rtmp on;") as srs:
        status, _, answer = post(srs.api_url("rtc/v1/whip/?app=live&stream=p"), pub_offer.encode())
        assert status == 201, answer
        pub, player = udp(), udp()
        try:
            assert binding(pub, srs.rtc_port, answer.decode(), pub_offer).type == stun.BINDING_SUCCESS
            pub_srtp = SrtpSession(*dtls_client(pub, srs.rtc_port).srtp_keys())
            assert srs.wait_log("rtc-publish __defaultVhost__/live/p established")
            play_offer = with_our_fingerprint(make_offer())
            status, _, answer = whep(srs, play_offer, "app=live&stream=p")
            assert status == 201
            assert binding(player, srs.rtc_port, answer.decode(), play_offer).type == stun.BINDING_SUCCESS
            play_srtp = SrtpSession(*dtls_client(player, srs.rtc_port).srtp_keys())
            for _ in range(3):   # three PLIs at once: one reaches the publisher
                player.sendto(play_srtp.protect_rtcp(rtcp.Pli(7, 1234).build()), ("127.0.0.1", srs.rtc_port))

            def plis():
                got = []
                pub.settimeout(0.5)
                try:
                    while True:
                        data = pub.recv(2048)
                        if stun.classify(data) == stun.PACKET_RTCP:
                            got += [p for p in rtcp.parse_compound(pub_srtp.unprotect_rtcp(data))
                                    if isinstance(p, rtcp.Pli)]
                except socket.timeout:
                    return got
            got = plis()
            assert [p.media_ssrc for p in got] == [video_ssrc], got
            assert srs.wait_log("PLI passed on to the publisher")
        finally:
            pub.close()
            player.close()
