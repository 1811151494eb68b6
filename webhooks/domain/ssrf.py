"""Server-side request forgery rules for webhook URLs. Pure: no ORM, no settings, no I/O.

A webhook URL names a host on the internet that the desk will POST to. Without checks anybody
allowed to create a subscription could make the desk call its own network: a database admin
page on 10.0.0.5, a cloud metadata service on 169.254.169.254, the desk itself on 127.0.0.1.
The caller resolves the host name (that is I/O), hands every address here, and then connects to
the address it checked (never resolving again, so a DNS answer that changes in between cannot
slip a private address in).

- Only ``http`` and ``https`` (``https`` alone when required); no user name or password in the URL.
- Every resolved address must be global unicast: loopback, private (RFC 1918, ULA), link-local,
  multicast, reserved, unspecified, shared/CGNAT (100.64.0.0/10), documentation and benchmarking
  ranges are refused, and so are IPv6 forms that embed such an IPv4 address (IPv4-mapped
  ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``, Teredo).
- If any resolved address is refused the URL is refused (a name with one public and one private
  address could be steered to the private one).
- Exceptions are explicit: a host name in the allowed hosts (exact, or ``.example.com`` for the
  domain and its subdomains) or an address inside an allowed network is accepted as it is.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class UnsafeURL(ValueError):
    """The URL may not be called. ``code`` is stable (for messages and tests), ``detail`` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, IDNA (ASCII), no trailing dot; an IP literal without brackets
    port: int
    path: str  # path and query, at least "/"; the fragment is dropped
    ip_literal: IPAddress | None = None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


def parse_url(url: str, *, require_https: bool = False) -> Target:
    url = (url or "").strip()
    if not url:
        raise UnsafeURL("invalid", "empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL("invalid", "URL too long")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise UnsafeURL("invalid", "URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("invalid", str(exc)) from exc
    scheme = parts.scheme.lower()
    allowed = ("https",) if require_https else ("http", "https")
    if scheme not in allowed:
        raise UnsafeURL("scheme", f"scheme {scheme or '(none)'!r} is not allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("credentials", "user name or password in the URL")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise UnsafeURL("invalid", "no host")
    host, literal = normalise_host(raw_host)
    if port == 0:
        raise UnsafeURL("invalid", "port 0")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme], path=path, ip_literal=literal)


def normalise_host(raw: str) -> tuple[str, IPAddress | None]:
    candidate = raw.strip("[]")
    try:
        literal = ipaddress.ip_address(candidate)
    except ValueError:
        literal = None
    if literal is not None:
        if isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
            raise UnsafeURL("invalid", "IPv6 zone identifiers are not allowed")
        return str(literal), literal
    host = raw.rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeURL("invalid", f"host name {raw!r} is not valid") from exc
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise UnsafeURL("invalid", f"host name {raw!r} is not valid")
    return host, None


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """Networks from settings ("127.0.0.1", "10.0.0.0/8", "fd00::/8"); a bad value raises ValueError."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v and v.strip()]


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Exact names, or ``.example.com`` for example.com and every name below it."""
    for entry in allowed_hosts:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why the desk must not connect to ``ip``, or None for a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return "teredo"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return f"embedded IPv4 {embedded} is {problem}"
            return None
        if ip.is_site_local:
            return "site-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared address space (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def _in_networks(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in networks)


def check_addresses(
    host: str,
    addresses: Sequence[IPAddress],
    *,
    allowed_hosts: Iterable[str] = (),
    allowed_networks: Sequence[IPNetwork] = (),
) -> list[IPAddress]:
    """The addresses to connect to (in the resolver's order), or UnsafeURL if any is refused."""
    if not addresses:
        raise UnsafeURL("unresolvable", f"{host} has no address")
    if host_allowed(host, allowed_hosts):
        return list(addresses)
    for ip in addresses:
        if _in_networks(ip, allowed_networks):
            continue
        problem = address_problem(ip)
        if problem is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise UnsafeURL("forbidden_address", f"{shown} is {problem}")
    return list(addresses)


def resolve_location(current: Target, location: str, *, require_https: bool = False) -> Target:
    """The target of a redirect's Location header (relative or absolute), checked like any URL."""

    if not location or not location.strip():
        raise UnsafeURL("invalid", "redirect without a Location")
    return parse_url(urljoin(current.url, location.strip()), require_https=require_https)
