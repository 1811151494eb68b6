"""Who may do what in the knowledge base, and which language version a visitor reads. Pure.

- Customers and anonymous visitors read **published public** versions only.
- Agents also read internal articles and drafts (the workspace lists them; the portal shows agents
  published versions, internal ones included, so they can check what customers see).
- Every active agent may create articles and write drafts.
- Publishing, unpublishing, editing a version that is published (what customers read), deleting,
  and managing categories are for team leads and admins (superusers count as admins).
"""

from __future__ import annotations

from collections.abc import Collection

from accounts.domain.permissions import Principal, Role

DEFAULT_LANGUAGE = "en"
LANGUAGES: tuple[str, ...] = ("en", "de")


def sees_internal_articles(principal: Principal) -> bool:
    return principal.is_agent


def sees_drafts(principal: Principal) -> bool:
    return principal.is_agent


def can_write_drafts(principal: Principal) -> bool:
    return principal.is_agent


def can_publish(principal: Principal) -> bool:
    return principal.is_agent and (principal.is_admin or principal.role is Role.TEAM_LEAD)


def can_edit_published(principal: Principal) -> bool:
    return can_publish(principal)


def can_manage_categories(principal: Principal) -> bool:
    return can_publish(principal)


def normalize_language(code: str | None) -> str:
    """``de-at`` -> ``de``; anything we do not write articles in -> English."""
    base = (code or "").lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def choose_language(available: Collection[str], *, requested: str | None, visitor: str | None) -> str | None:
    """Which version to show: the one asked for (a language switch link), else the visitor's
    language, else English, else any version there is (in a stable order). None if there is none.
    """
    if requested and requested in available:
        return requested
    visitor_language = normalize_language(visitor)
    for candidate in (visitor_language, DEFAULT_LANGUAGE, *LANGUAGES):
        if candidate in available:
            return candidate
    return min(available) if available else None
