"""security {} and refer rules as tables (SRS 2.0 semantics plus CIDR and IPv6)."""
from __future__ import annotations

import pytest

from srs.protocol.security import check_refer, check_rules, check_security, page_url_host
from srs.kernel.errors import (ERROR_RTMP_ACCESS_DENIED, ERROR_SYSTEM_SECURITY, ERROR_SYSTEM_SECURITY_DENY,
                               AccessDenied, ConfigError)

ALLOW = None  # expected outcome: no error

SECURITY_CASES = [
    # (rules, method, ip, expected code or ALLOW)
    ([("allow", "play", "all"), ("allow", "publish", "all")], "publish", "1.2.3.4", ALLOW),
    ([("allow", "play", "all")], "publish", "1.2.3.4", ERROR_SYSTEM_SECURITY),      # default deny
    ([], "play", "1.2.3.4", ERROR_SYSTEM_SECURITY),                                 # enabled, no rules
    ([("deny", "publish", "all"), ("allow", "play", "all")], "publish", "1.2.3.4", ERROR_SYSTEM_SECURITY_DENY),
    ([("deny", "publish", "all"), ("allow", "play", "all")], "play", "1.2.3.4", ALLOW),
    ([("allow", "publish", "all"), ("deny", "publish", "1.2.3.4")], "publish", "1.2.3.4",
     ERROR_SYSTEM_SECURITY_DENY),                                                   # deny wins
    ([("allow", "publish", "all"), ("deny", "publish", "1.2.3.4")], "publish", "1.2.3.5", ALLOW),
    ([("allow", "publish", "127.0.0.1")], "publish", "127.0.0.1", ALLOW),
    ([("allow", "publish", "127.0.0.1")], "publish", "127.0.0.2", ERROR_SYSTEM_SECURITY),
    ([("allow", "publish", "10.0.0.0/8")], "publish", "10.20.30.40", ALLOW),
    ([("allow", "publish", "10.0.0.0/8")], "publish", "11.0.0.1", ERROR_SYSTEM_SECURITY),
    ([("allow", "play", "all"), ("deny", "play", "192.168.0.0/16")], "play", "192.168.1.9",
     ERROR_SYSTEM_SECURITY_DENY),
    ([("allow", "play", "::1")], "play", "::1", ALLOW),
    ([("allow", "play", "2001:db8::/32")], "play", "2001:db8:1::5", ALLOW),
    ([("allow", "play", "2001:db8::/32")], "play", "2001:db9::5", ERROR_SYSTEM_SECURITY),
    ([("allow", "play", "10.0.0.0/8")], "play", "::ffff:10.1.2.3", ALLOW),          # v4-mapped peer
    ([("allow", "play", "10.0.0.0/8")], "play", "fe80::1", ERROR_SYSTEM_SECURITY),  # other family
    ([("allow", "play", "10.0.0.0/8")], "play", "not-an-ip", ERROR_SYSTEM_SECURITY),
    ([("allow", "play", "all")], "play", "not-an-ip", ALLOW),
    ([("allow", "play", "garbage")], "play", "1.1.1.1", ERROR_SYSTEM_SECURITY),     # bad rule matches nothing
]


@pytest.mark.parametrize("rules,method,ip,expected", SECURITY_CASES)
def test_security_table(rules, method, ip, expected):
    if expected is ALLOW:
        check_security(rules, method, ip)
    else:
        with pytest.raises(AccessDenied) as info:
            check_security(rules, method, ip)
        assert info.value.code == expected


def test_security_disabled_allows_everything():
    check_security(None, "publish", "1.2.3.4")
    check_security([("deny", "publish", "all")], "publish", "1.2.3.4", enabled=False)


def test_security_bad_method():
    with pytest.raises(ValueError):
        check_security([], "record", "1.1.1.1")


def test_check_rules_validates_config():
    check_rules([("allow", "play", "all"), ("deny", "publish", "10.0.0.0/8"), ("allow", "play", "::1")])
    for bad in ([("permit", "play", "all")], [("allow", "record", "all")], [("allow", "play", "x.y")],
                [("allow", "play")]):
        with pytest.raises(ConfigError):
            check_rules(bad)


REFER_CASES = [
    # (domains, pageUrl, allowed)
    (None, "", True),
    (None, "http://evil.com/x", True),
    (["ossrs.net"], "http://www.ossrs.net/players/srs_player.html", True),
    (["ossrs.net"], "http://ossrs.net:8080/p.html", True),
    (["ossrs.net"], "https://user:pw@ossrs.net/p", True),
    (["ossrs.net"], "http://ossrs.net.evil.com/p", False),
    (["ossrs.net"], "http://evil.com/ossrs.net", False),   # path does not count
    (["ossrs.net"], "", False),
    (["a.com", "b.com"], "http://x.b.com/", True),
    (["OSSRS.net"], "http://WWW.ossrs.NET/", True),
    ([], "http://ossrs.net/", False),
    (["::1"], "http://[::1]:8080/p", True),
]


@pytest.mark.parametrize("domains,page_url,allowed", REFER_CASES)
def test_refer_table(domains, page_url, allowed):
    if allowed:
        check_refer(domains, page_url)
    else:
        with pytest.raises(AccessDenied) as info:
            check_refer(domains, page_url)
        assert info.value.code == ERROR_RTMP_ACCESS_DENIED


def test_page_url_host():
    assert page_url_host("http://www.a.com:8080/x/y?z") == "www.a.com"
    assert page_url_host("www.a.com/x") == "www.a.com"
    assert page_url_host("rtmp://[2001:db8::1]:1935/live") == "2001:db8::1"
