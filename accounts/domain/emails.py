"""Email-address and domain rules: pure, no Django."""

from __future__ import annotations

import re

# Domains anybody can sign up with: never a sign that a sender belongs to an organization.
FREEMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.de",
        "hotmail.com",
        "hotmail.de",
        "outlook.com",
        "outlook.de",
        "live.com",
        "live.de",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mailbox.org",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "arcor.de",
    }
)

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[^\s@\x00-\x1f\x7f]{1,64}$")


class InvalidEmail(ValueError):
    """An address or domain that cannot be used."""


def normalize_domain(domain: str) -> str:
    """Lower-case, IDNA-encode and validate a domain name such as ``Acme.COM``."""
    value = domain.strip().rstrip(".").lower()
    if value.startswith("@"):
        value = value[1:]
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidEmail(f"{domain!r} is not a valid domain name.") from exc
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidEmail(f"{domain!r} is not a valid domain name.")
    if labels[-1].isdigit():
        raise InvalidEmail(f"{domain!r} is not a valid domain name.")
    return value


def normalize_email(address: str) -> str:
    """The canonical form we store and match on: trimmed, lower-cased, IDNA domain."""
    value = address.strip()
    if value.count("@") != 1:
        raise InvalidEmail(f"{address!r} is not a valid email address.")
    local, domain = value.rsplit("@", 1)
    if not _LOCAL_PART.fullmatch(local):
        raise InvalidEmail(f"{address!r} is not a valid email address.")
    return f"{local.lower()}@{normalize_domain(domain)}"


def domain_of(address: str) -> str:
    return normalize_email(address).rsplit("@", 1)[1]


def domain_candidates(domain: str) -> list[str]:
    """The domain and its parents, most specific first: ``eu.mail.acme.com`` -> [..., ``acme.com``]."""
    labels = normalize_domain(domain).split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def validate_organization_domain(domain: str) -> str:
    """A domain an organization may claim: valid and not a public mail provider."""
    value = normalize_domain(domain)
    if value in FREEMAIL_DOMAINS:
        raise InvalidEmail(f"{value} is a public email provider; its senders cannot be linked to one organization.")
    return value
