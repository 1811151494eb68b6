"""Workspace search: full-text over tickets, messages, contacts and organizations, scoped; reference jumps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.urls import reverse

from accounts.choices import AgentRole
from tests import factories
from tickets import search
from tickets.services import Actor, ticket_add_note, ticket_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    support = factories.team("Support")
    billing = factories.team("Billing")
    ana = factories.agent(teams=[support], username="ana")
    admin = factories.agent(role=AgentRole.ADMIN, username="root")
    return SimpleNamespace(support=support, billing=billing, ana=ana, admin=admin)


def _search(client, user, q, **headers):
    client.force_login(user)
    return client.get(reverse("desk:search"), {"q": q}, **headers)


def _refs(response) -> list[str]:
    return [hit.ticket.reference for hit in response.context["results"].tickets]


# --- What was typed --------------------------------------------------------------------------------


def test_terms_take_the_last_word_as_a_prefix_and_keep_websearch_syntax_for_the_rest():
    terms = search.parse_terms('  invoice "late payment"  -spam   mülle ')
    assert terms.text == 'invoice "late payment" -spam mülle'
    assert terms.head == 'invoice "late payment" -spam'
    assert terms.prefix == "mülle"
    assert terms.words == ("invoice", "late", "payment", "mülle")


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("printer", "printer"),
        ("printer ab", None),  # too short to read as a prefix
        ("printer -toner", None),  # an excluded word
        ('"paper jam', None),  # inside an open phrase
        ("paper or jam", None),  # an alternative
        ("paper jam!", None),  # ends with punctuation
    ],
)
def test_last_word_is_a_prefix_only_when_that_is_safe(raw, prefix):
    assert search.parse_terms(raw).prefix == prefix


def test_only_excluded_words_or_punctuation_is_nothing_to_search_for():
    assert search.parse_terms("-spam -ham").is_empty
    assert search.parse_terms(":* & | ! ( ) ' \\").is_empty
    assert search.parse_terms("").is_empty


def test_people_query_is_built_from_letters_and_digits_only():
    assert search.parse_terms("j.mueller@acme.de x").tsquery_words() == "j & mueller:* & acme:* & de:* & x"
    assert search.parse_terms("o'brien & (foo)").tsquery_words() == "o & brien:* & foo:*"


@pytest.mark.parametrize("raw", ["SD-1042", "sd-1042", " SD-1042 ", "#1042"])
def test_reference_forms_are_recognised(raw):
    assert search.reference_number(raw) == 1042


@pytest.mark.parametrize("raw", ["1042", "SD-1042 printer", "XY-1042", "#", "#12a"])
def test_other_text_is_not_a_reference(raw):
    assert search.reference_number(raw) is None


def test_headline_marks_become_segments_that_the_template_escapes():
    assert search.marked_segments("a \x02<b>\x03 c") == (("a ", False), ("<b>", True), (" c", False))
    assert search.marked_segments("\x03stray\x02open") == (("stray", False), ("open", True))


def test_excerpt_marks_every_occurrence_around_the_first():
    text = "x" * 300 + " the Printer jams; printer again " + "y" * 300
    segments = search.excerpt_segments(text, ["printer"])
    assert segments[0] == ("… ", False)
    assert [s for s, marked in segments if marked] == ["Printer", "printer"]
    assert segments[-1] == (" …", False)


# --- Tickets -----------------------------------------------------------------------------------------


def test_finds_tickets_by_subject_and_by_message_ranked_with_highlighted_snippet(client, desk):
    by_subject = factories.ticket(subject="Printer on fire", body="Smoke everywhere.", team=desk.support)
    by_message = factories.ticket(
        subject="Office question",
        body='Our printer says 5 < 7 & "R&D" <img src=x onerror=alert(1)> <script>alert(2)</script>',
        team=desk.support,
    )
    factories.ticket(subject="Unrelated", body="Nothing to see.", team=desk.support)

    response = _search(client, desk.ana, "printer")

    assert response.status_code == 200
    assert _refs(response) == [by_subject.reference, by_message.reference]  # subject ranks first
    hit = response.context["results"].tickets[1]
    assert hit.message_kind == "reply"
    assert ("printer", True) in hit.snippet
    html = response.content.decode()
    assert "<mark>printer</mark>" in html
    assert "<img" not in html and "<script>alert" not in html
    assert "5 &lt; 7 &amp; &quot;R&amp;D&quot; &lt;img src=x onerror=alert" in html
    assert "<mark>Printer</mark> on fire" in html


def test_prefix_of_the_last_word_phrases_and_exclusions(client, desk):
    invoice = factories.ticket(subject="Invoice 2024 missing", body="Please resend.", team=desk.support)
    spam = factories.ticket(subject="Invoice spam offer", body="Cheap pills.", team=desk.support)
    late = factories.ticket(subject="Question", body="The payment was late again.", team=desk.support)

    assert set(_refs(_search(client, desk.ana, "invoi"))) == {invoice.reference, spam.reference}
    assert _refs(_search(client, desk.ana, "invoice -spam")) == [invoice.reference]
    assert _refs(_search(client, desk.ana, '"payment was late"')) == [late.reference]
    assert _refs(_search(client, desk.ana, '"late was payment"')) == []


def test_agents_find_internal_notes_of_visible_tickets_only(client, desk):
    visible = factories.ticket(subject="Router", team=desk.support)
    hidden = factories.ticket(subject="Router too", team=desk.billing)
    ticket_add_note(ticket=visible, by=Actor.agent(desk.ana), body_text="Escalate to the zeppelin team")
    ticket_add_note(ticket=hidden, by=Actor.agent(desk.admin), body_text="The zeppelin again")

    response = _search(client, desk.ana, "zeppelin")

    assert _refs(response) == [visible.reference]
    assert response.context["results"].tickets[0].message_kind == "note"
    assert "in an internal note" in response.content.decode()
    assert set(_refs(_search(client, desk.admin, "zeppelin"))) == {visible.reference, hidden.reference}


def test_tickets_of_other_teams_never_show_up(client, desk):
    factories.ticket(subject="Secret merger plans", team=desk.billing)
    response = _search(client, desk.ana, "merger")
    assert _refs(response) == []
    assert "Secret merger" not in response.content.decode()


def test_at_most_limit_tickets_and_a_hint_that_there_are_more(desk):
    for n in range(5):
        factories.ticket(subject=f"Toner cartridge {n}", team=desk.support)
    results = search.workspace_search(desk.ana, "toner", limit=3)
    assert len(results.tickets) == 3
    assert results.more_tickets
    assert [h.ticket.subject for h in results.tickets] == [
        "Toner cartridge 4",
        "Toner cartridge 3",
        "Toner cartridge 2",
    ]


# --- References ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["{ref}", "{lower}", "#{pk}"])
def test_typing_a_visible_reference_opens_the_ticket(client, desk, form):
    ticket = factories.ticket(subject="Jump here", team=desk.support)
    q = form.format(ref=ticket.reference, lower=ticket.reference.lower(), pk=ticket.pk)
    response = _search(client, desk.ana, q)
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", args=[ticket.reference])


def test_reference_of_a_ticket_the_agent_may_not_see_is_just_searched(client, desk):
    hidden = factories.ticket(subject="Payroll", team=desk.billing)
    response = _search(client, desk.ana, hidden.reference)
    assert response.status_code == 200
    assert response.context["results"].reference_ticket is None
    assert _refs(response) == []
    assert "Payroll" not in response.content.decode()


def test_live_search_shows_the_reference_instead_of_navigating(client, desk):
    ticket = factories.ticket(subject="Jump here", team=desk.support)
    response = _search(client, desk.ana, ticket.reference, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.context["results"].reference_ticket == ticket
    assert reverse("desk:ticket", args=[ticket.reference]) in response.content.decode()


def test_ticket_subject_with_its_reference_token_is_found_by_the_reference_text(client, desk):
    visible = factories.ticket(subject="Re: [SD-999] follow up", team=desk.support)
    assert _refs(_search(client, desk.ana, "SD-999")) == [visible.reference]


# --- Contacts and organizations --------------------------------------------------------------------


def test_contacts_by_name_prefix_and_by_any_part_of_their_email(client, desk):
    acme = factories.organization("ACME Maschinenbau GmbH", domains=("acme-maschinen.de",))
    jana = factories.contact(name="Jana Müller-Lüdenscheidt", email="j.mueller@acme-maschinen.de", organization=acme)
    factories.contact(name="Peter Schmidt", email="peter@consumer.example")

    def contacts(q):
        return [c.pk for c in _search(client, desk.ana, q).context["results"].contacts]

    assert contacts("müll") == [jana.pk]
    assert contacts("Lüdenscheidt jana") == [jana.pk]
    assert contacts("mueller") == [jana.pk]
    assert contacts("j.mueller@acme-maschinen.de") == [jana.pk]
    assert contacts("@acme-maschinen") == [jana.pk]
    assert contacts("schmidt müller") == []


def test_organizations_by_name_and_domain(client, desk):
    acme = factories.organization("ACME Maschinenbau GmbH", domains=("acme-maschinen.de", "acme.example"))
    factories.organization("Beta AG", domains=("beta.example",))

    def organizations(q):
        return [o.pk for o in _search(client, desk.ana, q).context["results"].organizations]

    assert organizations("maschinenbau") == [acme.pk]
    assert organizations("acme-maschinen.de") == [acme.pk]
    assert organizations("maschin") == [acme.pk]  # prefix of the name and of a domain: listed once
    response = _search(client, desk.ana, "maschinenbau")
    assert reverse("desk:organization", args=[acme.pk]) in response.content.decode()


# --- Robustness, access, cost ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        ":*",
        "a & b | !c",
        "'); DROP TABLE x; --",
        '"unclosed phrase',
        "-only -negations",
        "x" * 1000,
        "\x00\x02\x03",
        "or",
    ],
)
def test_odd_input_is_answered_not_a_server_error(client, desk, q):
    factories.ticket(subject="Something", team=desk.support)
    response = _search(client, desk.ana, q)
    assert response.status_code == 200


def test_empty_search_shows_the_form_without_querying_tickets(client, desk, django_assert_max_num_queries):
    client.force_login(desk.ana)
    with django_assert_max_num_queries(4):  # session, user, agent profile + teams
        response = client.get(reverse("desk:search"))
    assert response.status_code == 200
    assert response.context["results"] is None


def test_anonymous_goes_to_login_and_customers_get_not_found(client):
    response = client.get(reverse("desk:search"), {"q": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("desk:login"))
    person = factories.contact()
    client.force_login(factories.customer_user(person))
    assert client.get(reverse("desk:search"), {"q": "x"}).status_code == 404


def test_search_page_costs_a_fixed_number_of_queries(client, desk, django_assert_max_num_queries):
    org = factories.organization("Zeta Printing", domains=("zeta-print.example",))
    for n in range(12):
        person = factories.contact(name=f"Printer Person {n}", email=f"p{n}@zeta-print.example", organization=org)
        ticket = factories.ticket(requester=person, subject=f"Printer {n}", body=f"printer body {n}", team=desk.support)
        ticket_reply(ticket=ticket, by=Actor.agent(desk.ana), body_text="Try the printer again")
    client.force_login(desk.ana)
    # session, user, profile, teams; an estimate (EXPLAIN) per searched index (6); tickets:
    # candidates, tickets, snippets; contacts: candidates, rows, emails; organizations: the same
    with django_assert_max_num_queries(19):
        response = client.get(reverse("desk:search"), {"q": "print"})
    results = response.context["results"]
    assert len(results.tickets) == 12 and len(results.contacts) == 12 and len(results.organizations) == 1


@pytest.mark.parametrize("frequent", [False, True])
def test_rare_and_frequent_words_are_read_differently_and_find_the_same(desk, monkeypatch, frequent):
    """Each kind first asks the planner how many rows its words match (one EXPLAIN each): rare
    words are read from the GIN index, frequent ones newest first. Same results either way."""
    for n in range(4):
        factories.ticket(subject=f"Scanner {n}", body=f"scanner jam {n}", team=desk.support)
    factories.contact(name="Scanner Sam", email="sam@scanner.example")
    monkeypatch.setattr(search, "RARE_MATCHES", 10**9)
    before = search.workspace_search(desk.ana, "scanner")
    monkeypatch.setattr(search, "RARE_MATCHES", -1 if frequent else 10**9)
    orders = []
    real = search.newest_matches

    def spy(candidates, vector, query):
        qs = real(candidates, vector, query)
        orders.append(str(qs.query).split("ORDER BY")[1])
        return qs

    monkeypatch.setattr(search, "newest_matches", spy)
    after = search.workspace_search(desk.ana, "scanner")
    assert [h.ticket.pk for h in after.tickets] == [h.ticket.pk for h in before.tickets]
    assert after.contacts == before.contacts
    assert len(orders) == 6
    assert all(("+ 0)" in order) != frequent for order in orders), orders


def test_every_search_query_can_use_its_gin_index(desk):
    """Compile the querysets the search runs and EXPLAIN them: each must be answerable from its index.

    With sequential and plain index scans disabled (tiny tables would rather be read whole) the
    planner still falls back to one of them if the expression does not match the index exactly, so
    this fails when a vector and its migration drift apart.
    """
    terms = search.parse_terms("invoice -spam acme")
    plans = {
        "ticket_subject_fts": search.subject_matches(desk.admin, terms),
        "message_body_fts": search.message_matches(desk.admin, terms),
        "contact_name_fts": search.contact_name_matches(desk.ana, terms),
        "contact_email_fts": search.contact_email_matches(desk.ana, terms),
        "organization_name_fts": search.organization_name_matches(desk.ana, terms),
        "organization_domain_fts": search.organization_domain_matches(desk.ana, terms),
    }
    with connection.cursor() as cursor:
        # Fresh statistics, whatever earlier tests left in these tables, so the plan does not depend
        # on the order the suite runs in.
        for table in ("tickets_ticket", "tickets_message", "accounts_contact", "accounts_contactemail"):
            cursor.execute(f"ANALYZE {table}")
        cursor.execute("ANALYZE accounts_organization")
        cursor.execute("ANALYZE accounts_organizationdomain")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off;"
                " SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_tidscan = off"
            )
        for index, qs in plans.items():
            plan = qs.order_by().explain()
            assert f"Bitmap Index Scan on {index}" in plan, plan


# --- The SQLite demo ---------------------------------------------------------------------------------


def test_without_postgresql_search_falls_back_to_substrings(monkeypatch, desk):
    acme = factories.organization("ACME Maschinenbau", domains=("acme-maschinen.de",))
    jana = factories.contact(name="Jana Müller", email="jana@acme-maschinen.de", organization=acme)
    by_subject = factories.ticket(requester=jana, subject="Printer broken", team=desk.support)
    by_message = factories.ticket(subject="Other", body="The <b>printer</b> again", team=desk.support)
    factories.ticket(subject="Printer elsewhere", team=desk.billing)
    monkeypatch.setattr(search, "connection", SimpleNamespace(vendor="sqlite"))

    results = search.workspace_search(desk.ana, "printer")
    assert [h.ticket.pk for h in results.tickets] == [by_subject.pk, by_message.pk]
    assert ("printer", True) in results.tickets[1].snippet
    assert [c.pk for c in search.workspace_search(desk.ana, "acme-maschinen").contacts] == [jana.pk]
    assert [o.pk for o in search.workspace_search(desk.ana, "maschinen").organizations] == [acme.pk]
