"""Knowledge base permissions and the language a visitor reads."""

from __future__ import annotations

import pytest

from accounts.domain.permissions import ANONYMOUS, Kind, Principal, Role
from knowledge.domain import policy

AGENT = Principal(kind=Kind.AGENT, user_id=1, role=Role.AGENT)
LEAD = Principal(kind=Kind.AGENT, user_id=2, role=Role.TEAM_LEAD)
ADMIN = Principal(kind=Kind.AGENT, user_id=3, role=Role.ADMIN)
SUPERUSER = Principal(kind=Kind.AGENT, user_id=4, role=Role.AGENT, is_superuser=True)
CUSTOMER = Principal(kind=Kind.CUSTOMER, user_id=5, contact_id=9)


def test_agents_write_drafts_leads_and_admins_publish():
    assert policy.can_write_drafts(AGENT)
    assert not policy.can_publish(AGENT)
    assert not policy.can_edit_published(AGENT)
    assert not policy.can_manage_categories(AGENT)
    for principal in (LEAD, ADMIN, SUPERUSER):
        assert policy.can_publish(principal)
        assert policy.can_manage_categories(principal)


@pytest.mark.parametrize("principal", [CUSTOMER, ANONYMOUS])
def test_customers_and_anonymous_see_no_drafts_or_internal_and_write_nothing(principal):
    assert not policy.sees_drafts(principal)
    assert not policy.sees_internal_articles(principal)
    assert not policy.can_write_drafts(principal)
    assert not policy.can_publish(principal)


@pytest.mark.parametrize(
    ("available", "requested", "visitor", "expected"),
    [
        ({"en", "de"}, None, "de", "de"),
        ({"en", "de"}, None, "de-at", "de"),
        ({"en", "de"}, "en", "de", "en"),
        ({"en"}, None, "de", "en"),
        ({"en"}, "de", "de", "en"),
        ({"de"}, None, "en", "de"),
        ({"en", "de"}, "fr", "fr", "en"),
        (set(), None, "de", None),
    ],
)
def test_choose_language(available, requested, visitor, expected):
    assert policy.choose_language(available, requested=requested, visitor=visitor) == expected


def test_normalize_language():
    assert policy.normalize_language("de_DE") == "de"
    assert policy.normalize_language(None) == "en"
    assert policy.normalize_language("pt-br") == "en"
