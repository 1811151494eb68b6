"""The help centre in the portal: who sees what, languages, views, votes, suggestions, deflections."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from knowledge.models import Article, ArticleVote, Deflection
from tests import factories
from tests.integration import kb_support as kb

pytestmark = pytest.mark.django_db


def _url(version) -> str:  # noqa: ANN001
    return reverse("portal:kb_article", args=[version.article_id, version.slug])


@pytest.fixture
def lead():  # noqa: ANN201
    return kb.publisher()


@pytest.fixture
def content(lead):  # noqa: ANN001, ANN201
    cat = kb.category(lead, "Devices", name_de="Geräte")
    internal_cat = kb.category(lead, "Runbooks")
    return {
        "category": cat,
        "internal_category": internal_cat,
        "wifi": kb.article(
            lead,
            en=("Connect your hub to Wi-Fi", "Hold the button for five seconds."),
            de=("Hub mit dem WLAN verbinden", "Halten Sie die Taste fünf Sekunden gedrückt."),
            category=cat,
        ),
        "english_only": kb.article(lead, en=("Cancel your subscription", "Go to Billing."), category=cat),
        "draft": kb.article(lead, en=("Matter pairing", "Coming soon."), publish=(), category=cat),
        "german_draft": kb.article(
            lead, en=("Single sign-on", "Use SAML."), de=("Single Sign-on", "Entwurf."), publish=("en",), category=cat
        ),
        "internal": kb.article(
            lead, en=("Refund matrix", "Agents only: approve refunds."), internal=True, category=internal_cat
        ),
    }


def _customer_client(client, **contact_kwargs):  # noqa: ANN001, ANN201
    contact = factories.contact(**contact_kwargs)
    client.force_login(factories.customer_user(contact))
    return contact


# --- Scope ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_customers_and_anonymous_read_published_public_only(client, content, who):
    if who == "customer":
        _customer_client(client)
    page = client.get(_url(content["wifi"]["en"]))
    assert page.status_code == 200
    assert "Edit in the workspace" not in page.content.decode()
    assert client.get(_url(content["draft"]["en"])).status_code == 404
    assert client.get(_url(content["internal"]["en"])).status_code == 404
    # A German draft is not shown even when asked for; the published English version is.
    response = client.get(_url(content["german_draft"]["en"]) + "?lang=de")
    assert response.status_code == 200
    assert response.context["version"].language == "en"
    assert "Entwurf" not in response.content.decode()


def test_agents_read_internal_articles_in_the_portal_but_not_drafts(client, content):
    client.force_login(factories.agent())
    response = client.get(_url(content["internal"]["en"]))
    assert response.status_code == 200
    assert "Internal: agents only" in response.content.decode()
    assert "Edit in the workspace" in response.content.decode()
    assert client.get(_url(content["draft"]["en"])).status_code == 404


def test_unknown_article_and_category_are_not_found(client, content):
    assert client.get(reverse("portal:kb_article", args=[999999, "nothing"])).status_code == 404
    assert client.get(reverse("portal:kb_category", args=["no-such-thing"])).status_code == 404


def test_a_category_with_only_internal_articles_does_not_exist_for_customers(client, content):
    url = reverse("portal:kb_category", args=[content["internal_category"].slug])
    assert client.get(url).status_code == 404
    client.force_login(factories.agent())
    assert client.get(url).status_code == 200


def test_category_page_lists_what_the_visitor_may_read(client, content):
    response = client.get(reverse("portal:kb_category", args=[content["category"].slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Connect your hub to Wi-Fi" in page
    assert "Cancel your subscription" in page
    assert "Single sign-on" in page
    assert "Matter pairing" not in page
    assert "Refund matrix" not in page


def test_home_lists_categories_and_most_viewed_without_drafts_or_internal(
    client, content, django_assert_max_num_queries
):
    Article.objects.filter(pk=content["english_only"]["en"].article_id).update(view_count=50)
    Article.objects.filter(pk=content["wifi"]["en"].article_id).update(view_count=10)
    Article.objects.filter(pk=content["internal"]["en"].article_id).update(view_count=999)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    popular = [v.title for v in response.context["popular"]]
    assert popular[:2] == ["Cancel your subscription", "Connect your hub to Wi-Fi"]
    assert "Refund matrix" not in popular
    assert "Matter pairing" not in popular
    names = [name for _c, name, _d, _n in response.context["categories"]]
    assert names == ["Devices"]  # the runbooks category holds only an internal article
    page = response.content.decode()
    assert 'aria-current="page"' in page  # the portal nav marks the help centre


def test_home_query_count_does_not_grow_with_articles(client, lead, django_assert_max_num_queries):
    cats = [kb.category(lead) for _ in range(5)]
    for i in range(30):
        kb.article(lead, en=(f"Article {i}", "Body"), de=(f"Artikel {i}", "Text"), category=cats[i % 5])
    with django_assert_max_num_queries(6):
        assert client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="de").status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(reverse("portal:kb_category", args=[cats[0].slug])).status_code == 200


# --- Languages ------------------------------------------------------------------------------------


def test_german_visitor_reads_german_version_with_a_switch_to_english(client, content):
    response = client.get(_url(content["wifi"]["en"]), HTTP_ACCEPT_LANGUAGE="de")
    assert response.context["version"].language == "de"
    page = response.content.decode()
    assert "Hub mit dem WLAN verbinden" in page
    assert "Read in English" in page
    english = client.get(_url(content["wifi"]["en"]) + "?lang=en", HTTP_ACCEPT_LANGUAGE="de")
    assert english.context["version"].language == "en"
    assert "Auf Deutsch lesen" in english.content.decode()


def test_customer_language_preference_picks_the_version(client, content):
    _customer_client(client, language="de")
    response = client.get(_url(content["wifi"]["en"]))
    assert response.context["version"].title == "Hub mit dem WLAN verbinden"


def test_german_visitor_falls_back_to_english_when_there_is_no_german_version(client, content):
    response = client.get(_url(content["english_only"]["en"]), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert response.context["version"].language == "en"
    assert response.context["other_versions"] == []
    category = client.get(reverse("portal:kb_category", args=[content["category"].slug]), HTTP_ACCEPT_LANGUAGE="de")
    titles = [v.title for v, _excerpt in category.context["articles"]]
    assert "Hub mit dem WLAN verbinden" in titles
    assert "Cancel your subscription" in titles  # English fallback
    assert "Connect your hub to Wi-Fi" not in titles  # one version per article
    assert category.context["category_name"] == "Geräte"


# --- Rendering ------------------------------------------------------------------------------------


def test_article_body_is_rendered_markdown_and_sanitised(client, lead):
    versions = kb.article(
        lead,
        en=("Safe", "**bold** <script>alert(1)</script> [x](javascript:alert(1)) ![t](https://tracker.example/p.png)"),
    )
    page = client.get(_url(versions["en"])).content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert 'href="javascript' not in page
    assert "tracker.example" not in page


# --- Views ----------------------------------------------------------------------------------------


def _views(version) -> int:  # noqa: ANN001
    return Article.objects.get(pk=version.article_id).view_count


def test_a_view_counts_once_per_session(client, content):
    _customer_client(client)
    version = content["wifi"]["en"]
    client.get(_url(version))
    client.get(_url(version))
    client.get(_url(version) + "?lang=de")
    assert _views(version) == 1


def test_anonymous_views_count_and_agents_do_not(client, content):
    version = content["wifi"]["en"]
    client.get(_url(version))
    client.get(_url(version))
    assert _views(version) == 2  # no session is started just to count
    client.force_login(factories.agent())
    client.get(_url(version))
    assert _views(version) == 2


# --- Votes ----------------------------------------------------------------------------------------


def _vote(client, version, answer: str):  # noqa: ANN001, ANN201
    return client.post(
        reverse("portal:kb_vote", args=[version.article_id]),
        {"helpful": answer, "language": version.language, "slug": version.slug},
    )


def _counts(version) -> tuple[int, int]:  # noqa: ANN001
    article = Article.objects.get(pk=version.article_id)
    return article.helpful_yes, article.helpful_no


def test_anonymous_visitor_votes_once_per_session_and_may_change_their_mind(client, content):
    version = content["wifi"]["de"]
    response = _vote(client, version, "yes")
    assert response.status_code == 302
    assert _vote(client, version, "yes").status_code == 302
    assert _counts(version) == (1, 0)
    _vote(client, version, "no")
    assert _counts(version) == (0, 1)
    assert ArticleVote.objects.filter(article_id=version.article_id).count() == 1
    page = client.get(_url(version) + "?lang=de")
    assert page.context["vote"].helpful is False


def test_a_signed_in_customer_votes_once_across_sessions(client, content):
    from django.test import Client

    contact = factories.contact()
    user = factories.customer_user(contact)
    version = content["wifi"]["en"]
    client.force_login(user)
    _vote(client, version, "yes")
    other = Client()
    other.force_login(user)
    _vote(other, version, "yes")
    assert _counts(version) == (1, 0)
    assert ArticleVote.objects.get(article_id=version.article_id).user == user


def test_two_visitors_each_count(client, content):
    from django.test import Client

    version = content["wifi"]["en"]
    _vote(client, version, "yes")
    _vote(Client(), version, "yes")
    _vote(Client(), version, "no")
    assert _counts(version) == (2, 1)


def test_votes_on_drafts_or_internal_articles_are_not_found(client, content):
    assert _vote(client, content["draft"]["en"], "yes").status_code == 404
    assert _vote(client, content["internal"]["en"], "yes").status_code == 404
    assert ArticleVote.objects.count() == 0


def test_a_vote_without_an_answer_changes_nothing(client, content):
    version = content["wifi"]["en"]
    response = _vote(client, version, "maybe")
    assert response.status_code == 302
    assert _counts(version) == (0, 0)


def test_vote_needs_post(client, content):
    assert client.get(reverse("portal:kb_vote", args=[content["wifi"]["en"].article_id])).status_code == 405


# --- Suggestions ----------------------------------------------------------------------------------


def test_suggestions_return_matching_public_articles_as_a_fragment(client, content):
    response = client.get(reverse("portal:kb_suggest"), {"q": "hub does not connect to wifi"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Connect your hub to Wi-Fi" in page
    assert 'formaction="/portal/kb/deflect/?subject_field=subject"' in page
    assert f'name="kb_article" value="{content["wifi"]["en"].article_id}"' in page
    assert "formnovalidate" in page


def test_suggestions_in_json_follow_the_visitor_language(client, content):
    response = client.get(
        reverse("portal:kb_suggest"), {"q": "WLAN verbinden", "format": "json"}, HTTP_ACCEPT_LANGUAGE="de"
    )
    data = response.json()
    assert [r["title"] for r in data["results"]] == ["Hub mit dem WLAN verbinden"]
    assert data["results"][0]["url"].endswith("?lang=de")


def test_suggestions_never_show_internal_articles_even_to_agents(client, content):
    client.force_login(factories.agent())
    data = client.get(reverse("portal:kb_suggest"), {"q": "refund matrix approve", "format": "json"}).json()
    assert data["results"] == []


def test_suggestions_need_a_few_characters_and_are_at_most_five(client, lead):
    for i in range(8):
        kb.article(lead, en=(f"Printer setup {i}", "printer"))
    assert client.get(reverse("portal:kb_suggest"), {"q": "pr", "format": "json"}).json()["results"] == []
    assert len(client.get(reverse("portal:kb_suggest"), {"q": "printer", "format": "json"}).json()["results"]) == 5


def test_the_include_for_the_new_ticket_form_renders_and_loads_its_script():
    request = RequestFactory().get("/portal/tickets/new/")
    html = render_to_string("knowledge/_suggestions.html", {"kb_input_id": "id_subject"}, request=request)
    assert 'data-kb-input="id_subject"' in html
    assert 'data-kb-suggest-url="/portal/kb/suggest/"' in html
    assert "js/kb-suggest.js" in html
    assert 'aria-live="polite"' in html
    assert "<script>" not in html  # no inline script


# --- Deflections ----------------------------------------------------------------------------------


def test_customer_who_leaves_with_an_article_is_recorded_as_a_deflection(client, content):
    contact = _customer_client(client)
    version = content["wifi"]["en"]
    response = client.post(
        reverse("portal:kb_deflect") + "?subject_field=subject",
        {"kb_article": version.article_id, "subject": "  My hub   will not connect ", "description": "ignored"},
    )
    assert response.status_code == 302
    deflection = Deflection.objects.get()
    assert (deflection.article_id, deflection.contact, deflection.subject) == (
        version.article_id,
        contact,
        "My hub will not connect",
    )
    assert deflection.session_key == ""
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Glad it helped" in page.content.decode()
    assert "Connect your hub to Wi-Fi" in page.content.decode()
    # Reloading the thank-you page records nothing more.
    client.get(response["Location"])
    assert Deflection.objects.count() == 1


def test_anonymous_deflection_is_recorded_by_session_and_a_custom_subject_field(client, content):
    version = content["wifi"]["en"]
    client.post(
        reverse("portal:kb_deflect") + "?subject_field=title",
        {"kb_article": version.article_id, "title": "Wifi broken"},
    )
    deflection = Deflection.objects.get()
    assert deflection.contact is None
    assert deflection.session_key
    assert deflection.subject == "Wifi broken"


@pytest.mark.parametrize("which", ["internal", "draft"])
def test_deflection_with_an_article_the_visitor_cannot_read_is_not_found(client, content, which):
    _customer_client(client)
    response = client.post(
        reverse("portal:kb_deflect"), {"kb_article": content[which]["en"].article_id, "subject": "x"}
    )
    assert response.status_code == 404
    assert client.post(reverse("portal:kb_deflect"), {"kb_article": "abc"}).status_code == 404
    assert Deflection.objects.count() == 0


def test_absurd_ids_and_slugs_are_not_found_never_a_server_error(client, content):
    huge = "9" * 30
    assert client.get(f"/portal/kb/articles/{huge}-x/").status_code == 404
    assert client.post(reverse("portal:kb_deflect"), {"kb_article": huge}).status_code == 404
    assert client.get(reverse("portal:kb_deflect"), {"article": huge}).status_code == 200
    assert client.post(f"/portal/kb/articles/{huge}/vote/", {"helpful": "yes"}).status_code == 404
    version = content["wifi"]["en"]
    response = client.post(
        reverse("portal:kb_vote", args=[version.article_id]), {"helpful": "yes", "slug": "<script>", "language": "xx"}
    )
    assert response.status_code == 302


def test_nul_and_control_characters_in_queries_and_subjects_are_harmless(client, content):
    assert client.get(reverse("portal:kb_search"), {"q": "wifi\x00hub"}).status_code == 200
    assert client.get(reverse("portal:kb_suggest"), {"q": "hub\x00 wifi connect"}).status_code == 200
    response = client.post(
        reverse("portal:kb_deflect"), {"kb_article": content["wifi"]["en"].article_id, "subject": "bad\x00subject\x1b"}
    )
    assert response.status_code == 302
    assert Deflection.objects.get().subject == "bad subject"
    client.force_login(factories.agent())
    assert client.get(reverse("desk:kb_articles"), {"q": "x\x00"}).status_code == 200
    assert client.get(reverse("desk:kb_link_search"), {"q": "x\x00"}).status_code == 200


def test_article_page_in_a_few_queries(client, content, django_assert_max_num_queries):
    _customer_client(client)
    with django_assert_max_num_queries(10):
        assert client.get(_url(content["wifi"]["en"])).status_code == 200


def test_the_include_shows_suggestions_without_javascript_when_the_form_comes_back(content):
    class TicketForm(forms.Form):
        subject = forms.CharField()

    request = RequestFactory().post("/portal/tickets/new/")
    request.user = AnonymousUser()
    bound = TicketForm({"subject": "hub wifi connect"})
    html = render_to_string("knowledge/_suggestions.html", {"form": bound}, request=request)
    assert "Connect your hub to Wi-Fi" in html
    assert "This answered my question" in html
    fresh = render_to_string("knowledge/_suggestions.html", {"form": TicketForm()}, request=request)
    assert "This answered my question" not in fresh
