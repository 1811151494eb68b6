"""Checking webhook URLs against the SSRF rules: name resolution (I/O) plus the pure rules.

``check_url`` is called when a subscription is saved and again before every request of a
delivery (each redirect included); the delivery then connects to one of the addresses checked
here, so the name is never resolved a second time between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhooks.domain import ssrf
from webhooks.domain.ssrf import IPAddress, Target, UnsafeURL

MESSAGES = {
    "invalid": _("Enter a valid URL."),
    "scheme": _("Only http:// and https:// URLs are allowed."),
    "https_required": _("Only https:// URLs are allowed."),
    "credentials": _("The URL must not contain a user name or password."),
    "unresolvable": _("The host name does not resolve to an address."),
    "forbidden_address": _(
        "The URL points to a private, loopback, link-local or otherwise internal address, which is not allowed."
    ),
}


def require_https() -> bool:
    return bool(getattr(settings, "WEBHOOK_REQUIRE_HTTPS", False))


def _allowed_hosts() -> list[str]:
    return list(getattr(settings, "WEBHOOK_ALLOWED_HOSTS", []) or [])


def _allowed_networks() -> list[ssrf.IPNetwork]:
    return ssrf.parse_networks(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", []) or [])


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to, in the resolver's order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UnsafeURL("unresolvable", f"{host}: {exc}") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if isinstance(sockaddr, tuple) and len(sockaddr) == 4 and sockaddr[3]:
            # A scoped IPv6 address (fe80::1%eth0) is link-local whatever its text says.
            ip = ipaddress.ip_address(f"{address}%{sockaddr[3]}")
        if ip not in found:
            found.append(ip)
    return found


def check_target(target: Target) -> list[IPAddress]:
    addresses = [target.ip_literal] if target.ip_literal is not None else resolve(target.host, target.port)
    return ssrf.check_addresses(
        target.host, addresses, allowed_hosts=_allowed_hosts(), allowed_networks=_allowed_networks()
    )


def check_url(url: str) -> tuple[Target, list[IPAddress]]:
    """The parsed target and the addresses that may be connected to, or UnsafeURL."""
    try:
        target = ssrf.parse_url(url, require_https=require_https())
    except UnsafeURL as exc:
        if exc.code == "scheme" and require_https():
            raise UnsafeURL("https_required", exc.detail) from exc
        raise
    return target, check_target(target)


def validate_webhook_url(url: str) -> str:
    """Django validator: the URL as given, or a ValidationError with a translated reason."""
    try:
        check_url(url)
    except UnsafeURL as exc:
        raise ValidationError(MESSAGES.get(exc.code, MESSAGES["invalid"]), code=exc.code) from exc
    return url
