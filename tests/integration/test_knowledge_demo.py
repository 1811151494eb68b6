"""The demo help centre: created through the services, once, with drafts and an internal article."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from knowledge import selectors
from knowledge.models import Article, ArticleTranslation, Category
from service_desk import demo

pytestmark = pytest.mark.django_db


def test_demo_knowledge_base_is_created_once_with_drafts_and_internal_articles():
    agents = demo.ensure_agents(demo.ensure_teams(), make_password("x"))
    demo.ensure_knowledge_base(agents)
    demo.ensure_knowledge_base(agents)  # a second run adds nothing
    assert Category.objects.count() == len(demo.KB_CATEGORIES)
    assert Article.objects.count() == len(demo.KB_ARTICLES)
    assert ArticleTranslation.objects.filter(status="draft", language="de").count() == 1
    assert ArticleTranslation.objects.filter(status="draft", language="en").count() == 1
    assert Article.objects.filter(visibility="internal").count() == 1
    public = selectors.search_articles(None, "WLAN", "de")
    assert [v.title for v in public] == ["Lumina Hub mit dem WLAN verbinden"]
    popular = [v.title for v in selectors.most_viewed(None, "en")]
    assert popular[0] == "Connect your Lumina hub to Wi-Fi"
    assert "Refund approval matrix (internal)" not in popular
