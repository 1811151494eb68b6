"""Knowledge base articles through the API: what anonymous callers, customers and agents read."""

from __future__ import annotations

import pytest

from knowledge import services as kb
from knowledge.choices import Visibility
from tests.integration.api_support import World, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    w = make_world(settings)
    by = w.users["admin"]
    w.kb = {
        "public": kb.article_create(
            data=kb.VersionInput(language="en", title="Reset your password", body="Click **Forgot password**."),
            by=by,
            publish=True,
        ),
        "internal": kb.article_create(
            data=kb.VersionInput(
                language="en", title="Escalation runbook", body="Call the on-call.", visibility=Visibility.INTERNAL
            ),
            by=by,
            publish=True,
        ),
        "draft": kb.article_create(data=kb.VersionInput(language="en", title="Unfinished", body="todo"), by=by),
    }
    return w


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        ("anonymous", {"public"}),
        ("b2c", {"public"}),
        ("b2b_plain", {"public"}),
        ("b2b_rights", {"public"}),
        ("other_org", {"public"}),
        ("agent_a", {"public", "internal"}),
        ("agent_b", {"public", "internal"}),
        ("admin", {"public", "internal"}),
    ],
)
def test_articles_are_scoped_like_the_portal(world, role, seen):
    client = world.client(role)
    response = client.get("/api/v1/kb-articles/")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {world.kb[name].pk for name in seen}
    for name, version in world.kb.items():
        detail = client.get(f"/api/v1/kb-articles/{version.pk}/")
        assert detail.status_code == (200 if name in seen else 404)
    body = client.get(f"/api/v1/kb-articles/{world.kb['public'].pk}/").json()
    assert "<strong>Forgot password</strong>" in body["html"]
    assert body["portal_url"].endswith("?lang=en")


def test_search_finds_articles(world):
    response = world.client("anonymous").get("/api/v1/kb-articles/?search=password")
    assert [row["title"] for row in response.json()["results"]] == ["Reset your password"]
    assert world.client("anonymous").get("/api/v1/kb-articles/?search=runbook").json()["results"] == []
