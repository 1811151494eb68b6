"""Help centre search: PostgreSQL full-text search per language, ranked, scoped, index-backed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from knowledge import selectors
from knowledge.models import ArticleTranslation
from tests import factories
from tests.integration import kb_support as kb

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():  # noqa: ANN201
    return kb.publisher()


@pytest.fixture
def content(lead):  # noqa: ANN001, ANN201
    return {
        "wifi": kb.article(
            lead,
            en=("Connecting your hub to Wi-Fi", "Hold the button until the light blinks."),
            de=("Hub mit dem WLAN verbinden", "Halten Sie die Taste gedrückt, bis das Licht blinkt."),
        ),
        "invoices": kb.article(
            lead,
            en=("Download your invoices", "All invoices are in your account as PDF."),
            de=("Rechnungen herunterladen", "Alle Rechnungen finden Sie als PDF in Ihrem Konto."),
        ),
        "english_only": kb.article(lead, en=("Cancel your subscription", "Subscriptions end with the paid period.")),
        "body_mention": kb.article(lead, en=("Travelling abroad", "Your invoices stay in your account abroad.")),
        "internal": kb.article(lead, en=("Refund approvals", "Invoices above 500 EUR need a lead."), internal=True),
        "draft": kb.article(lead, en=("Invoice corrections", "Draft about invoices."), publish=()),
    }


def _titles(results) -> list[str]:  # noqa: ANN001
    return [r.title for r in results]


def test_english_search_uses_stemming(content):
    assert _titles(selectors.search_articles(None, "connect hub", "en")) == ["Connecting your hub to Wi-Fi"]


def test_german_search_uses_german_stemming(content):
    results = selectors.search_articles(None, "Rechnung", "de")
    assert _titles(results) == ["Rechnungen herunterladen"]
    assert results[0].language == "de"


def test_german_visitor_also_finds_untranslated_english_articles(content):
    assert _titles(selectors.search_articles(None, "subscription", "de")) == ["Cancel your subscription"]
    # ... but not the English version of an article that has a German one.
    assert _titles(selectors.search_articles(None, "invoices", "de")) == ["Travelling abroad"]


def test_title_matches_rank_above_body_matches(content):
    assert _titles(selectors.search_articles(None, "invoices", "en")) == ["Download your invoices", "Travelling abroad"]


def test_customers_never_find_drafts_or_internal_articles_agents_find_internal(content):
    customer = factories.customer_user(factories.contact())
    titles = _titles(selectors.search_articles(customer, "invoices", "en"))
    assert "Refund approvals" not in titles
    assert "Invoice corrections" not in titles
    agent = factories.agent()
    titles = _titles(selectors.search_articles(agent, "invoices", "en"))
    assert "Refund approvals" in titles
    assert "Invoice corrections" not in titles  # the portal shows published versions only


def test_all_words_first_then_any_word(content):
    # No article holds both words; rather than nothing, the search falls back to any word.
    assert "Download your invoices" in _titles(selectors.search_articles(None, "invoices zebra", "en"))


@pytest.mark.parametrize("query", ['"unbalanced', "-( & | ! :*", "or or or", "'; DROP TABLE x; --", "   ", "ü" * 300])
def test_odd_queries_never_fail(client, content, query):
    response = client.get(reverse("portal:kb_search"), {"q": query})
    assert response.status_code == 200


def test_search_page_shows_results_in_few_queries(client, lead, content, django_assert_max_num_queries):
    for i in range(20):
        kb.article(lead, en=(f"Invoice topic {i}", "invoices"), de=(f"Rechnung Thema {i}", "Rechnungen"))
    with django_assert_max_num_queries(4):
        response = client.get(reverse("portal:kb_search"), {"q": "invoices"})
    assert response.status_code == 200
    assert len(response.context["results"]) >= 20
    assert "Download your invoices" in response.content.decode()


@pytest.mark.parametrize(("language", "index"), [("en", "kb_version_fts_en"), ("de", "kb_version_fts_de")])
def test_search_uses_the_gin_index_of_its_language(content, language, index):
    with connection.cursor() as cursor:  # enough rows that an index pays off, then fresh statistics
        cursor.execute(
            "INSERT INTO knowledge_article (visibility, created_at, updated_at, view_count, helpful_yes, helpful_no) "
            "SELECT 'public', now(), now(), 0, 0, 0 FROM generate_series(1, 3000)"
        )
        cursor.execute(
            "INSERT INTO knowledge_articletranslation "
            "(article_id, language, title, slug, body, status, created_at, updated_at, published_at) "
            "SELECT a.id, CASE WHEN a.id % 2 = 0 THEN 'en' ELSE 'de' END, 'Filler ' || a.id, 'filler', "
            "'lorem ipsum dolor ' || a.id, 'published', now(), now(), now() FROM knowledge_article a "
            "WHERE NOT EXISTS (SELECT 1 FROM knowledge_articletranslation t WHERE t.article_id = a.id)"
        )
        cursor.execute("ANALYZE knowledge_article")
        cursor.execute("ANALYZE knowledge_articletranslation")
        base = selectors._in_language(selectors.portal_versions_visible_to(None), language)
        sql, params = selectors._search(base, "invoice", (language,), any_word=False).query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_the_sqlite_fallback_matches_words_in_title_or_body(content):
    """``make run`` uses SQLite: the LIKE search (run here on PostgreSQL) finds and ranks the same way."""
    base = ArticleTranslation.objects.filter(status="published", article__visibility="public", language="en")
    assert _titles(selectors._like(base, "invoices", any_word=False)) == ["Download your invoices", "Travelling abroad"]
    assert _titles(selectors._like(base, "invoices zebra", any_word=False)) == []
    assert "Download your invoices" in _titles(selectors._like(base, "invoices zebra", any_word=True))


def test_link_search_for_agents_finds_published_public_versions_in_both_languages(content, settings):
    settings.SITE_URL = "https://help.example"
    agent = factories.agent()
    results = selectors.link_search(agent, "invoices Rechnungen")
    assert {(r.title, r.language) for r in results} >= {
        ("Download your invoices", "en"),
        ("Rechnungen herunterladen", "de"),
    }
    assert "Refund approvals" not in _titles(results)
    assert "Invoice corrections" not in _titles(results)
    url = selectors.article_portal_url(results[0])
    assert url.startswith("https://help.example/portal/kb/articles/")
    assert selectors.link_search(factories.customer_user(factories.contact()), "invoices") == []
