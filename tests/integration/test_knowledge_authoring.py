"""Writing the knowledge base in the workspace: drafts, publishing rights, categories, the link picker."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.choices import AgentRole
from knowledge import services
from knowledge.choices import ArticleStatus, Visibility
from knowledge.models import Article, ArticleTranslation, Category
from tests import factories
from tests.integration import kb_support as kb

pytestmark = pytest.mark.django_db


def _form(**overrides: object) -> dict[str, object]:
    data = {"language": "en", "title": "Reset your password", "slug": "", "category": "", "visibility": "public"}
    data["body"] = "Choose **Forgot password**."
    data.update(overrides)
    return data


@pytest.fixture
def agent():  # noqa: ANN201
    return factories.agent(role=AgentRole.AGENT)


@pytest.fixture
def lead():  # noqa: ANN201
    return factories.agent(role=AgentRole.TEAM_LEAD)


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["desk:kb_articles", "desk:kb_article_new", "desk:kb_categories", "desk:kb_link_search"]
)
def test_customers_get_not_found_and_anonymous_visitors_go_to_login(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert reverse("desk:login") in response["Location"]
    client.force_login(factories.customer_user(factories.contact()))
    assert client.get(url).status_code == 404


def test_the_workspace_nav_links_the_knowledge_base(client, agent):
    client.force_login(agent)
    page = client.get(reverse("desk:kb_articles")).content.decode()
    assert f'href="{reverse("desk:kb_articles")}" aria-current="page"' in page


# --- Drafts and publishing ------------------------------------------------------------------------


def test_any_agent_writes_a_draft(client, agent):
    client.force_login(agent)
    response = client.post(reverse("desk:kb_article_new"), _form(action="save"))
    assert response.status_code == 302
    version = ArticleTranslation.objects.get()
    assert (version.status, version.slug, version.author, version.published_at) == (
        ArticleStatus.DRAFT,
        "reset-your-password",
        agent,
        None,
    )
    assert version.article.created_by == agent
    assert client.get(response["Location"]).status_code == 200


def test_an_agent_cannot_publish(client, agent):
    client.force_login(agent)
    response = client.post(reverse("desk:kb_article_new"), _form(action="save_publish"))
    assert response.status_code == 200
    assert "Only team leads and admins publish" in response.content.decode()
    assert not ArticleTranslation.objects.exists()
    draft = services.article_create(data=services.VersionInput(language="en", title="Draft"), by=agent)
    response = client.post(
        reverse("desk:kb_article_edit", args=[draft.article_id]), {"action": "publish", "language": "en"}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == ArticleStatus.DRAFT


def test_a_team_lead_publishes_and_unpublishes(client, agent, lead):
    draft = services.article_create(data=services.VersionInput(language="en", title="Ready", body="x"), by=agent)
    client.force_login(lead)
    url = reverse("desk:kb_article_edit", args=[draft.article_id])
    client.post(url, {"action": "publish", "language": "en"})
    draft.refresh_from_db()
    assert draft.status == ArticleStatus.PUBLISHED
    assert draft.published_at is not None
    assert client.get(reverse("portal:kb_article", args=[draft.article_id, draft.slug])).status_code == 200
    client.post(url, {"action": "unpublish", "language": "en"})
    draft.refresh_from_db()
    assert (draft.status, draft.published_at) == (ArticleStatus.DRAFT, None)
    client.logout()
    assert client.get(reverse("portal:kb_article", args=[draft.article_id, draft.slug])).status_code == 404


def test_an_agent_cannot_change_a_published_version_but_can_add_a_german_draft(client, agent, lead):
    versions = kb.article(lead, en=("Published", "Live text."))
    article_id = versions["en"].article_id
    client.force_login(agent)
    url = reverse("desk:kb_article_edit", args=[article_id])
    page = client.get(url + "?lang=en")
    assert "only team leads and admins can change it" in page.content.decode()
    response = client.post(url, _form(title="Changed", body="Vandalised", action="save"))
    assert response.status_code == 200
    assert "only team leads and admins can change it" in response.content.decode()
    assert ArticleTranslation.objects.get(article_id=article_id, language="en").body == "Live text."
    response = client.post(url, _form(language="de", title="Veröffentlicht", body="Entwurf", action="save"))
    assert response.status_code == 302
    german = ArticleTranslation.objects.get(article_id=article_id, language="de")
    assert german.status == ArticleStatus.DRAFT
    assert german.slug == "veroffentlicht"


def test_an_agent_cannot_make_a_published_article_internal_or_public(agent, lead):
    versions = kb.article(lead, en=("Internal runbook", "Steps."), internal=True)
    article = versions["en"].article
    with pytest.raises(services.PermissionDenied):
        services.article_update(
            article=article,
            data=services.VersionInput(language="de", title="Runbook", visibility=Visibility.PUBLIC),
            by=agent,
        )
    article.refresh_from_db()
    assert article.visibility == Visibility.INTERNAL


def test_a_lead_edits_a_published_version(client, lead):
    versions = kb.article(lead, en=("Published", "Live text."))
    client.force_login(lead)
    url = reverse("desk:kb_article_edit", args=[versions["en"].article_id])
    response = client.post(url, _form(title="Published (updated)", body="New text.", action="save"))
    assert response.status_code == 302
    versions["en"].refresh_from_db()
    assert (versions["en"].title, versions["en"].status) == ("Published (updated)", ArticleStatus.PUBLISHED)


def test_preview_renders_sanitised_markdown_without_saving(client, agent):
    client.force_login(agent)
    response = client.post(
        reverse("desk:kb_article_new"), _form(body="**Bold** <script>alert(1)</script>", action="preview")
    )
    assert response.status_code == 200
    assert "<strong>Bold</strong>" in response.context["preview"]
    assert "<script>" not in response.context["preview"]
    assert not ArticleTranslation.objects.exists()


def test_invalid_input_is_a_form_error(client, agent):
    client.force_login(agent)
    response = client.post(reverse("desk:kb_article_new"), _form(title="", language="fr", action="save"))
    assert response.status_code == 200
    assert {"title", "language"} <= set(response.context["form"].errors)
    assert client.get(reverse("desk:kb_article_edit", args=[999999])).status_code == 404


def test_delete_a_draft_article(client, agent, lead):
    draft = services.article_create(data=services.VersionInput(language="en", title="Oops"), by=agent)
    published = kb.article(lead, en=("Keep", "x"))["en"]
    client.force_login(agent)
    client.post(reverse("desk:kb_article_edit", args=[published.article_id]), {"action": "delete", "language": "en"})
    assert Article.objects.filter(pk=published.article_id).exists()
    response = client.post(reverse("desk:kb_article_edit", args=[draft.article_id]), {"action": "delete"})
    assert response.status_code == 302
    assert not Article.objects.filter(pk=draft.article_id).exists()


def test_services_refuse_customers():
    customer = factories.customer_user(factories.contact())
    with pytest.raises(services.PermissionDenied):
        services.article_create(data=services.VersionInput(language="en", title="x"), by=customer)


# --- Categories -----------------------------------------------------------------------------------


def test_only_leads_and_admins_manage_categories(client, agent, lead):
    client.force_login(agent)
    response = client.post(reverse("desk:kb_categories"), {"name": "Billing", "position": 0})
    assert response.status_code == 200
    assert not Category.objects.exists()
    client.force_login(lead)
    response = client.post(reverse("desk:kb_categories"), {"name": "Billing", "name_de": "Rechnungen", "position": 1})
    assert response.status_code == 302
    category = Category.objects.get()
    assert (category.slug, category.name_in("de"), category.name_in("en")) == ("billing", "Rechnungen", "Billing")
    duplicate = client.post(reverse("desk:kb_categories"), {"name": "Billing", "position": 0})
    assert "already uses this slug" in duplicate.content.decode()
    edit = reverse("desk:kb_category_edit", args=[category.pk])
    client.post(edit, {"name": "Billing and plans", "slug": "billing", "position": 2})
    category.refresh_from_db()
    assert category.name == "Billing and plans"
    art = kb.article(lead, en=("In billing", "x"), category=category)["en"].article
    client.post(edit, {"action": "delete"})
    assert not Category.objects.exists()
    art.refresh_from_db()
    assert art.category is None


# --- Lists ----------------------------------------------------------------------------------------


def test_article_list_filters_and_stays_within_a_few_queries(client, agent, lead, django_assert_max_num_queries):
    cat = kb.category(lead, "Devices")
    for i in range(30):
        kb.article(lead, en=(f"Article {i}", "x"), de=(f"Artikel {i}", "y"), publish=("en",), category=cat)
    services.article_create(data=services.VersionInput(language="en", title="Lonely draft"), by=agent)
    client.force_login(agent)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("desk:kb_articles"))
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 61
    drafts_de = client.get(reverse("desk:kb_articles"), {"status": "draft", "language": "de"})
    assert drafts_de.context["page"].paginator.count == 30
    by_category = client.get(reverse("desk:kb_articles"), {"category": str(cat.pk)})
    assert by_category.context["page"].paginator.count == 60
    no_category = client.get(reverse("desk:kb_articles"), {"category": "none", "q": "lonely"})
    assert [v.title for v in no_category.context["page"]] == ["Lonely draft"]
    with django_assert_max_num_queries(6):
        assert client.get(reverse("desk:kb_categories")).status_code == 200


# --- Article links in replies ---------------------------------------------------------------------


def test_link_search_returns_published_public_articles_with_their_portal_url(client, agent, lead, settings):
    settings.SITE_URL = "https://help.lumina.example"
    published = kb.article(lead, en=("Reset your password", "Forgot password"))["en"]
    kb.article(lead, en=("Password policy (internal)", "x"), internal=True)
    kb.article(lead, en=("Password draft", "x"), publish=())
    client.force_login(agent)
    response = client.get(reverse("desk:kb_link_search"), {"q": "password"})
    page = response.content.decode()
    assert "Reset your password" in page
    assert "Password policy" not in page
    assert "Password draft" not in page
    expected = f"https://help.lumina.example/portal/kb/articles/{published.article_id}-reset-your-password/?lang=en"
    assert f'data-kb-url="{expected}"' in page
    assert 'data-kb-title="Reset your password"' in page


def test_the_ticket_reply_form_has_the_insert_article_picker(client, agent):
    ticket = factories.ticket()
    client.force_login(factories.agent(role=AgentRole.ADMIN))
    page = client.get(reverse("desk:ticket", args=[ticket.reference])).content.decode()
    assert "data-kb-link" in page
    assert 'data-kb-target="id_reply-body"' in page
    assert "js/kb-link.js" in page


# --- Admin ----------------------------------------------------------------------------------------


def test_admin_lists_and_edits_knowledge_models(admin_client, lead, django_assert_max_num_queries):
    versions = kb.article(lead, en=("Admin article", "x"), de=("Admin-Artikel", "y"), publish=("en",))
    client_votes = admin_client.get(reverse("admin:knowledge_articlevote_changelist"))
    assert client_votes.status_code == 200
    for name in ("category", "article", "deflection"):
        with django_assert_max_num_queries(12):
            assert admin_client.get(reverse(f"admin:knowledge_{name}_changelist")).status_code == 200
    article = versions["en"].article
    page = admin_client.get(reverse("admin:knowledge_article_change", args=[article.pk]))
    assert page.status_code == 200
    assert "Admin-Artikel" in page.content.decode()
    assert admin_client.get(reverse("admin:knowledge_deflection_add")).status_code == 403
