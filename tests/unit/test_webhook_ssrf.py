"""The SSRF rules for webhook URLs (pure: no DNS, no network)."""

from __future__ import annotations

import ipaddress

import pytest

from webhooks.domain import ssrf
from webhooks.domain.ssrf import UnsafeURL, address_problem, check_addresses, parse_url


def ip(text: str) -> ssrf.IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "100.127.255.254",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "198.18.0.1",  # benchmarking
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "fec0::1",  # site-local (deprecated)
        "2001:db8::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::127.0.0.1",  # IPv4-compatible (deprecated)
    ],
)
def test_internal_addresses_are_refused(address):
    assert address_problem(ip(address)) is not None
    with pytest.raises(UnsafeURL) as refused:
        check_addresses("hooks.example.com", [ip(address)])
    assert refused.value.code == "forbidden_address"


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_are_accepted(address):
    assert address_problem(ip(address)) is None
    assert check_addresses("hooks.example.com", [ip(address)]) == [ip(address)]


def test_one_internal_address_among_public_ones_refuses_the_name():
    with pytest.raises(UnsafeURL):
        check_addresses("rebind.example.com", [ip("93.184.216.34"), ip("10.1.2.3")])


def test_no_address_is_refused():
    with pytest.raises(UnsafeURL) as refused:
        check_addresses("nowhere.example.com", [])
    assert refused.value.code == "unresolvable"


def test_allowed_networks_admit_their_addresses_only():
    networks = ssrf.parse_networks(["127.0.0.1/32", "10.20.0.0/16"])
    assert check_addresses("127.0.0.1", [ip("127.0.0.1")], allowed_networks=networks) == [ip("127.0.0.1")]
    assert check_addresses("ci.internal", [ip("10.20.3.4")], allowed_networks=networks)
    # The IPv4-mapped form of an allowed address is allowed too.
    assert check_addresses("127.0.0.1", [ip("::ffff:127.0.0.1")], allowed_networks=networks)
    with pytest.raises(UnsafeURL):
        check_addresses("127.0.0.2", [ip("127.0.0.2")], allowed_networks=networks)
    with pytest.raises(UnsafeURL):
        check_addresses("metadata", [ip("169.254.169.254")], allowed_networks=networks)


def test_allowed_hosts_match_exactly_or_by_domain_suffix():
    assert check_addresses("receiver.local", [ip("10.0.0.5")], allowed_hosts=["Receiver.Local."])
    assert check_addresses("a.hooks.corp", [ip("10.0.0.5")], allowed_hosts=[".hooks.corp"])
    assert check_addresses("hooks.corp", [ip("10.0.0.5")], allowed_hosts=[".hooks.corp"])
    with pytest.raises(UnsafeURL):
        check_addresses("evilhooks.corp", [ip("10.0.0.5")], allowed_hosts=[".hooks.corp"])
    with pytest.raises(UnsafeURL):
        check_addresses("other.local", [ip("10.0.0.5")], allowed_hosts=["receiver.local"])


def test_bad_network_setting_raises():
    with pytest.raises(ValueError, match="does not appear"):
        ssrf.parse_networks(["not-a-network"])


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "invalid"),
        ("ftp://example.com/hook", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com:70/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("//example.com/hook", "scheme"),
        ("example.com/hook", "scheme"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http:///nohost", "invalid"),
        ("http://exa mple.com/", "invalid"),
        ("http://example.com:99999/", "invalid"),
        ("http://example.com:0/", "invalid"),
        ("http://[fe80::1%25eth0]/", "invalid"),
        ("http://-bad-.example.com/", "invalid"),
        ("http://example.com/\r\nX-Injected: 1", "invalid"),
        ("http://" + "a" * 2000 + ".com/", "invalid"),
    ],
)
def test_unusable_urls_are_refused(url, code):
    with pytest.raises(UnsafeURL) as refused:
        parse_url(url)
    assert refused.value.code == code


def test_https_can_be_required():
    with pytest.raises(UnsafeURL) as refused:
        parse_url("http://example.com/", require_https=True)
    assert refused.value.code == "scheme"
    assert parse_url("https://example.com/", require_https=True).scheme == "https"


def test_urls_are_normalised():
    target = parse_url("HTTPS://Hooks.Example.COM.:8443/in?x=1#frag")
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 8443, "/in?x=1")
    assert target.host_header == "hooks.example.com:8443"
    assert target.ip_literal is None
    plain = parse_url("http://example.com")
    assert (plain.port, plain.path, plain.host_header) == (80, "/", "example.com")
    v6 = parse_url("http://[::1]:8080/x")
    assert v6.ip_literal == ip("::1")
    assert v6.host_header == "[::1]:8080"
    assert parse_url("http://bücher.example/").host == "xn--bcher-kva.example"


def test_ip_literals_are_checked_as_addresses():
    target = parse_url("http://169.254.169.254/latest/meta-data/")
    assert target.ip_literal == ip("169.254.169.254")
    with pytest.raises(UnsafeURL):
        check_addresses(target.host, [target.ip_literal])


def test_redirect_locations_are_resolved_and_parsed_again():
    current = parse_url("https://hooks.example.com/a/b")
    assert ssrf.resolve_location(current, "/c").url == "https://hooks.example.com/c"
    assert ssrf.resolve_location(current, "d").url == "https://hooks.example.com/a/d"
    moved = ssrf.resolve_location(current, "http://10.0.0.1:8080/x")
    assert moved.ip_literal == ip("10.0.0.1")
    with pytest.raises(UnsafeURL):
        ssrf.resolve_location(current, "file:///etc/passwd")
    with pytest.raises(UnsafeURL):
        ssrf.resolve_location(current, "")
    with pytest.raises(UnsafeURL):
        ssrf.resolve_location(current, "http://elsewhere.example/", require_https=True)
