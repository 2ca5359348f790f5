"""Access rules per vhost: ``security {}`` (client IP) and ``refer`` (pageUrl domain).

Plain values in, ``AccessDenied`` out, so the rules are tested as tables and do not depend on the
config classes. Security follows SRS 2.0 (srs_app_security.cpp): when enabled the default is deny
(1052); a matching ``allow`` lets the client in; a matching ``deny`` wins over any allow (1053).
Beyond SRS's exact-IP match, a rule target may be a CIDR network (IPv4 or IPv6), and IPv4-mapped
IPv6 peers (``::ffff:1.2.3.4``) match IPv4 rules.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable, Sequence

from srs.kernel.errors import (ERROR_RTMP_ACCESS_DENIED, ERROR_SYSTEM_SECURITY, ERROR_SYSTEM_SECURITY_DENY,
                               AccessDenied, ConfigError)

ACTIONS = ("allow", "deny")
METHODS = ("publish", "play")


def _address(ip: str):
    try:
        addr = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_target(target: str):
    """``all`` -> None; an IP or CIDR -> ip_network. Raises ConfigError on anything else."""
    if target == "all":
        return None
    try:
        net = ipaddress.ip_network(target.strip(), strict=False)
    except ValueError as e:
        raise ConfigError(f"security rule target {target!r} is not all, an IP or a CIDR") from e
    if net.version == 6 and net.prefixlen == 128 and net.network_address.ipv4_mapped is not None:
        net = ipaddress.ip_network(net.network_address.ipv4_mapped)
    return net


def check_rules(rules: Iterable[Sequence[str]]) -> None:
    """Validate ``(action, method, target)`` tuples up front (config check time)."""
    for rule in rules:
        if len(rule) != 3:
            raise ConfigError(f"security rule {' '.join(rule)!r} needs: allow|deny publish|play all|<ip>")
        action, method, target = rule
        if action not in ACTIONS:
            raise ConfigError(f"security rule action {action!r} is not allow or deny")
        if method not in METHODS:
            raise ConfigError(f"security rule method {method!r} is not publish or play")
        parse_target(target)


def _matches(rule: Sequence[str], method: str, addr) -> bool:
    if len(rule) != 3 or rule[1] != method:
        return False
    try:
        net = parse_target(rule[2])
    except ConfigError:
        return False  # a bad rule matches nothing (checked at config time anyway)
    if net is None:
        return True
    return addr is not None and addr.version == net.version and addr in net


def check_security(rules_cfg: Iterable[Sequence[str]] | None, method: str, ip: str,
                   enabled: bool = True) -> None:
    """Raise AccessDenied unless ``ip`` may ``method`` ("publish" or "play").

    ``rules_cfg`` is the list of ``(action, method, target)`` of the vhost's security block;
    None or ``enabled=False`` means security is off (everything allowed).
    """
    if rules_cfg is None or not enabled:
        return
    if method not in METHODS:
        raise ValueError(f"security method {method!r}")
    rules = list(rules_cfg)
    addr = _address(ip)
    for rule in rules:
        if rule[0] == "deny" and _matches(rule, method, addr):
            raise AccessDenied(f"security: {method} denied for {ip} by rule deny {method} {rule[2]}",
                               code=ERROR_SYSTEM_SECURITY_DENY)
    for rule in rules:
        if rule[0] == "allow" and _matches(rule, method, addr):
            return
    raise AccessDenied(f"security: {method} denied for {ip}: no allow rule matches (default deny)",
                       code=ERROR_SYSTEM_SECURITY)


def page_url_host(page_url: str) -> str:
    """The host of a pageUrl: scheme, path and port stripped (as SRS's check_single_refer)."""
    host = page_url
    pos = host.find("://")
    if pos >= 0:
        host = host[pos + 3:]
    host = host.split("/", 1)[0].split("?", 1)[0]
    if "@" in host:  # user:pass@host
        host = host.rsplit("@", 1)[1]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    else:
        host = host.split(":", 1)[0]
    return host.lower()


def check_refer(domains: Sequence[str] | None, page_url: str) -> None:
    """Raise AccessDenied (2015) unless the pageUrl host ends with one of ``domains``.

    None (no refer directive) allows everything; an empty list allows nothing, as SRS.
    """
    if domains is None:
        return
    host = page_url_host(page_url or "")
    for domain in domains:
        domain = domain.strip().lower()
        if domain and host.endswith(domain):
            return
    raise AccessDenied(f"refer: pageUrl {page_url!r} is not in {list(domains)}", code=ERROR_RTMP_ACCESS_DENIED)
