"""The desk's brand and desk-wide settings as every part of the code reads them: one cached query.

``brand()`` returns a frozen :class:`Brand` (name, colours, logo URL, portal and CSAT settings).
The row (``DeskSettings``, id 1) is read once and kept in the cache (Redis in production) until it
is saved through :func:`desk_settings_save` (the admin does) or ``CACHE_SECONDS`` pass; a missing
row means the defaults, and an empty name means ``settings.SERVICE_DESK_NAME``.

Email code takes the sender and the signature from here: :func:`from_address` is
``"<brand name> <address of DEFAULT_FROM_EMAIL>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from service_desk.domain.branding import brand_name
from service_desk.models import DeskSettings

CACHE_KEY = "desk:brand:v1"
# A safety net for rows changed without desk_settings_save (a shell, a migration): seen within this.
CACHE_SECONDS = 300
_FIELDS = ("name", "logo", "primary_colour", "accent_colour", "portal_reopen_days", "csat_enabled", "updated_at")


@dataclass(frozen=True)
class Brand:
    name: str
    primary_colour: str
    accent_colour: str
    # The storage name of the logo file ("" when none) and a version for cache-busting URLs.
    logo_name: str
    version: str
    portal_reopen_days: int
    csat_enabled: bool

    @property
    def has_logo(self) -> bool:
        return bool(self.logo_name)

    @property
    def logo_url(self) -> str:
        """The portal's logo route (relative), versioned so browsers may cache it; "" without a logo."""
        if not self.logo_name:
            return ""
        return f"{reverse('portal:brand_logo')}?v={self.version}"

    @property
    def logo_absolute_url(self) -> str:
        return settings.SITE_URL.rstrip("/") + self.logo_url if self.logo_name else ""

    @property
    def css_url(self) -> str:
        return f"{reverse('portal:brand_css')}?v={self.version}"


def _defaults() -> dict[str, Any]:
    return {
        "name": "",
        "logo": "",
        "primary_colour": DeskSettings._meta.get_field("primary_colour").default,
        "accent_colour": DeskSettings._meta.get_field("accent_colour").default,
        "portal_reopen_days": DeskSettings._meta.get_field("portal_reopen_days").default,
        "csat_enabled": DeskSettings._meta.get_field("csat_enabled").default,
        "version": "0",
    }


def _load() -> dict[str, Any]:
    row = DeskSettings.objects.filter(pk=1).values(*_FIELDS).first()
    if row is None:
        return _defaults()
    updated = row.pop("updated_at")
    row["version"] = str(int(updated.timestamp())) if updated else "0"
    row["logo"] = row["logo"] or ""
    return row


def brand() -> Brand:
    """The desk's brand and settings: one cache read, one query when the cache is cold."""
    values = cache.get(CACHE_KEY)
    if values is None:
        values = _load()
        cache.set(CACHE_KEY, values, CACHE_SECONDS)
    return Brand(
        name=brand_name(values["name"], settings.SERVICE_DESK_NAME),
        primary_colour=values["primary_colour"],
        accent_colour=values["accent_colour"],
        logo_name=values["logo"],
        version=values["version"],
        portal_reopen_days=values["portal_reopen_days"],
        csat_enabled=values["csat_enabled"],
    )


def forget() -> None:
    """Drop the cached brand (after a change); the next read loads the row again."""
    cache.delete(CACHE_KEY)


def desk_settings() -> DeskSettings:
    """The settings row for editing (created with the defaults when missing)."""
    row, _created = DeskSettings.objects.get_or_create(pk=1)
    return row


def desk_settings_save(row: DeskSettings, *, fields: list[str] | None = None) -> DeskSettings:
    """Save the settings row and drop the cached brand once the change is committed."""
    row.pk = 1
    row.full_clean()
    row.save(update_fields=fields) if fields else row.save()
    forget()
    transaction.on_commit(forget)  # a reader between save and commit may have cached the old row
    return row


def from_address() -> str:
    """The From header of every email the desk sends: the brand name and DEFAULT_FROM_EMAIL's address."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "support@localhost"
    return formataddr((brand().name, address))
