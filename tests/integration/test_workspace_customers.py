"""The customer, whole: the ticket sidebar, organization pages (list, detail, edit) and contact pages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.choices import AgentRole, EntitlementUnit, Tier
from accounts.models import Contract, CustomFieldDefinition, Entitlement, Organization
from tests import factories
from tests.integration.sla_support import berlin, freeze, policy
from tickets import services, sla
from tickets.choices import MessageKind, Priority, Status
from tickets.models import SLAPolicyRule, Ticket
from tickets.models.sla import SLARuleKind
from tickets.services import Actor

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def desk():
    support = factories.team("Support")
    billing = factories.team("Billing")
    agent = factories.agent(teams=[support], username="ana", first_name="Ana", last_name="Agent")
    lead = factories.agent(teams=[support], role=AgentRole.TEAM_LEAD, username="lea")
    admin = factories.agent(role=AgentRole.ADMIN, username="adam")
    manager = factories.agent(teams=[billing], username="max", first_name="Max", last_name="Manager")
    return {"support": support, "billing": billing, "agent": agent, "lead": lead, "admin": admin, "manager": manager}


def _acme(desk, **kwargs):
    holding = factories.organization("Acme Holding")
    return factories.organization(
        "Acme",
        domains=("acme.example",),
        tier=Tier.STRATEGIC,
        annual_contract_value=Decimal("120000"),
        currency="EUR",
        account_manager=desk["manager"],
        parent=holding,
        **kwargs,
    )


def _contract(org, name, *, starts_on, ends_on=None, entitlements=()):
    contract = Contract.objects.create(
        organization=org, name=name, product="Platform", starts_on=starts_on, ends_on=ends_on, support_hours="24x7"
    )
    for ent_name, unit, quantity in entitlements:
        Entitlement.objects.create(contract=contract, name=ent_name, unit=unit, quantity=quantity)
    return contract


def _text(response) -> str:
    """The visible text of a response, whitespace collapsed (for "this is on the page" checks)."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(body.split())


# --- The ticket sidebar: B2B ----------------------------------------------------------------------


@pytest.fixture
def b2b(desk):
    CustomFieldDefinition.objects.create(
        entity="organization", key="sap_number", label="SAP number", field_type="integer"
    )
    org = _acme(desk, custom_fields={"sap_number": 4711})
    _contract(
        org,
        "Premium support 2025",
        starts_on=timezone.localdate() - timedelta(days=30),
        entitlements=[
            ("Remote support hours", EntitlementUnit.HOURS, Decimal("40")),
            ("24x7 hotline", "included", None),
        ],
    )
    _contract(org, "Old pilot", starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31))
    ida = factories.contact(name="Ida IT-Lead", email="ida@acme.example", organization=org, role="IT lead")
    pia = factories.contact(name="Pia Primary", email="pia@acme.example", organization=org, role="CTO", is_primary=True)
    ticket = factories.ticket(requester=ida, subject="VPN is down", team=desk["support"])
    other = factories.ticket(requester=pia, subject="Invoice question", team=desk["support"])
    done = factories.ticket(requester=pia, subject="Old problem", team=desk["support"])
    services.ticket_change_status(ticket=done, by=Actor.agent(desk["agent"]), status=Status.SOLVED)
    hidden = factories.ticket(requester=pia, subject="Billing secret", team=desk["billing"])
    services.ticket_log_interaction(
        ticket=other,
        by=Actor.agent(desk["agent"]),
        kind=MessageKind.PHONE_CALL,
        body_text="Called Pia about the invoice",
        duration_minutes=12,
    )
    services.ticket_log_interaction(
        ticket=ticket, by=Actor.agent(desk["agent"]), kind=MessageKind.MEETING, body_text="On-site meeting with Ida"
    )
    services.ticket_add_note(ticket=hidden, by=Actor.agent(desk["manager"]), body_text="Billing-only note")
    return {"org": org, "ida": ida, "pia": pia, "ticket": ticket, "other": other, "done": done, "hidden": hidden}


def test_b2b_sidebar_shows_the_organization_whole_as_an_htmx_fragment(client, desk, b2b):
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference]), **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # a fragment for <aside id="customer-sidebar">
    assert "HX-Request" in response["Vary"]
    text = _text(response)
    summary = response.context["sidebar"].organization
    assert summary.organization == b2b["org"]
    # Profile: tier, contract value, account manager, parent, custom fields by their label.
    for expected in ("Acme", "Strategic", "120,000.00 EUR", "Max Manager", "Acme Holding", "SAP number", "4711"):
        assert expected in text
    # Running contracts with their entitlements; the ended one is not in the sidebar.
    assert [c.name for c in summary.contracts] == ["Premium support 2025"]
    assert "Remote support hours: 40 Hours · Per contract term" in text
    assert "24x7 hotline" in text
    assert "Old pilot" not in text
    # Contacts: the requester first, then the primary contact; role and email shown.
    assert [c.name for c in summary.contacts] == ["Ida IT-Lead", "Pia Primary"]
    assert "IT lead" in text and "ida@acme.example" in text and "pia@acme.example" in text
    # Open and earlier tickets, newest first, linking to the ticket page.
    assert [t.subject for t in summary.open_tickets] == ["Invoice question", "VPN is down"]
    assert summary.open_count == (2, False)
    assert [t.subject for t in summary.recent_tickets] == ["Old problem"]
    assert reverse("desk:ticket", args=[b2b["other"].reference]) in html
    # The organization's interactions across tickets, newest first, calls and meetings included.
    kinds = [(m.kind, m.ticket_id) for m in summary.interactions]
    assert kinds[:2] == [(MessageKind.MEETING, b2b["ticket"].pk), (MessageKind.PHONE_CALL, b2b["other"].pk)]
    assert "Called Pia about the invoice" in text and "12 minutes" in text
    assert b2b["other"].reference in text
    assert reverse("desk:organization", args=[b2b["org"].pk]) in html


def test_b2b_sidebar_shows_only_tickets_and_interactions_the_agent_may_see(client, desk, b2b):
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference]), **HX)
    text = _text(response)
    assert "Billing secret" not in text
    assert "Billing-only note" not in text
    assert b2b["hidden"].pk not in {m.ticket_id for m in response.context["sidebar"].organization.interactions}

    client.force_login(desk["admin"])
    admin_view = client.get(reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference]), **HX)
    assert "Billing secret" in _text(admin_view)
    assert "Billing-only note" in _text(admin_view)


def test_sidebar_without_htmx_is_a_page_of_its_own(client, desk, b2b):
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="customer-sidebar"' in html
    assert reverse("desk:ticket", args=[b2b["ticket"].reference]) in html
    assert "Acme" in _text(response)


def test_sidebar_of_a_ticket_the_agent_may_not_see_is_not_found(client, desk, b2b):
    client.force_login(desk["agent"])
    assert client.get(reverse("desk:ticket-sidebar", args=[b2b["hidden"].reference]), **HX).status_code == 404
    assert client.get(reverse("desk:ticket-sidebar", args=["SD-999999"]), **HX).status_code == 404
    assert client.get(reverse("desk:ticket-sidebar", args=["nonsense"]), **HX).status_code == 404


def test_customers_and_visitors_get_no_sidebar_or_organization_pages(client, desk, b2b):
    urls = [
        reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference]),
        reverse("desk:organizations"),
        reverse("desk:organization", args=[b2b["org"].pk]),
        reverse("desk:organization-edit", args=[b2b["org"].pk]),
        reverse("desk:contact", args=[b2b["ida"].pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("desk:login"))
    client.force_login(factories.customer_user(b2b["ida"]))
    for url in urls:
        assert client.get(url).status_code == 404


def test_b2b_sidebar_query_count_does_not_grow_with_contacts_tickets_or_messages(
    client, desk, b2b, django_assert_max_num_queries
):
    client.force_login(desk["agent"])
    url = reverse("desk:ticket-sidebar", args=[b2b["ticket"].reference])
    with django_assert_max_num_queries(15):
        assert client.get(url, **HX).status_code == 200

    org = b2b["org"]
    for n in range(12):
        person = factories.contact(name=f"Colleague {n}", email=f"c{n}@acme.example", organization=org, role="Staff")
        extra = factories.ticket(requester=person, subject=f"Extra {n}", team=desk["support"])
        services.ticket_reply(ticket=extra, by=Actor.agent(desk["agent"]), body_text="Looking into it")
        services.ticket_log_interaction(
            ticket=extra, by=Actor.agent(desk["agent"]), kind=MessageKind.PHONE_CALL, body_text=f"Call {n}"
        )
    _contract(
        org, "Add-on", starts_on=timezone.localdate(), entitlements=[("Seats", EntitlementUnit.SEATS, Decimal("5"))]
    )
    with django_assert_max_num_queries(15):
        response = client.get(url, **HX)
    summary = response.context["sidebar"].organization
    assert len(summary.contacts) == account_selectors.SIDEBAR_CONTACTS and summary.more_contacts
    assert len(summary.open_tickets) == account_selectors.SIDEBAR_OPEN_TICKETS
    assert summary.open_count == (14, False)
    assert len(summary.interactions) == account_selectors.SIDEBAR_INTERACTIONS
    assert summary.interactions[0].body_text == "Call 11"
    assert "All open tickets" in _text(response)


# --- The ticket sidebar: B2C ----------------------------------------------------------------------


@pytest.fixture
def consumer(desk):
    person = factories.contact(name="Carla Consumer", email="carla@consumer.example", phone="+49 30 1234")
    account_services.contact_add_email(contact=person, email="carla@work.example")
    tickets = [factories.ticket(requester=person, subject=f"Order {n}", team=desk["support"]) for n in range(3)]
    services.ticket_change_status(ticket=tickets[0], by=Actor.agent(desk["agent"]), status=Status.SOLVED)
    hidden = factories.ticket(requester=person, subject="Refund (billing)", team=desk["billing"])
    return {"person": person, "tickets": tickets, "hidden": hidden}


def test_b2c_sidebar_shows_contact_details_and_ticket_history_newest_first(client, desk, consumer):
    client.force_login(desk["agent"])
    current = consumer["tickets"][1]
    response = client.get(reverse("desk:ticket-sidebar", args=[current.reference]), **HX)

    assert response.status_code == 200
    sidebar = response.context["sidebar"]
    assert sidebar.organization is None
    customer = sidebar.customer
    assert customer.contact == consumer["person"]
    assert [e.email for e in customer.emails] == ["carla@consumer.example", "carla@work.example"]
    # Every ticket the agent may see, solved ones included, newest first; billing's is not listed.
    assert [t.subject for t in customer.tickets] == ["Order 2", "Order 1", "Order 0"]
    assert customer.ticket_count == (3, False)
    text = _text(response)
    for expected in ("Carla Consumer", "carla@work.example", "+49 30 1234", "Order 0", "Solved"):
        assert expected in text
    assert "Refund (billing)" not in text
    assert 'aria-current="true"' in response.content.decode()  # the ticket being worked is marked
    assert reverse("desk:contact", args=[consumer["person"].pk]) in response.content.decode()


def test_b2c_sidebar_says_nothing_about_satisfaction_ratings_while_there_are_none(client, desk, consumer):
    # There is no satisfaction (CSAT) model yet: the sidebar must not pretend to show ratings.
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:ticket-sidebar", args=[consumer["tickets"][0].reference]), **HX)
    text = _text(response).lower()
    assert "rating" not in text and "satisfaction" not in text and "csat" not in text


def test_b2c_sidebar_query_count_does_not_grow_with_tickets(client, desk, consumer, django_assert_max_num_queries):
    client.force_login(desk["agent"])
    url = reverse("desk:ticket-sidebar", args=[consumer["tickets"][0].reference])
    with django_assert_max_num_queries(10):
        client.get(url, **HX)
    for n in range(25):
        factories.ticket(requester=consumer["person"], subject=f"More {n}", team=desk["support"])
    with django_assert_max_num_queries(10):
        response = client.get(url, **HX)
    assert len(response.context["sidebar"].customer.tickets) == account_selectors.SIDEBAR_CUSTOMER_TICKETS
    assert response.context["sidebar"].customer.ticket_count == (28, False)
    assert "All tickets" in _text(response)


# --- Organization list ----------------------------------------------------------------------------


def test_organization_list_searches_by_name_filters_by_tier_and_sorts_by_name(client, desk):
    factories.organization("beta GmbH", tier=Tier.ENTERPRISE, domains=("beta.example",))
    factories.organization("Acme", tier=Tier.STRATEGIC)
    factories.organization("Acme Labs", tier=Tier.STANDARD)
    factories.organization("Zeta", tier=Tier.STRATEGIC)
    client.force_login(desk["agent"])
    url = reverse("desk:organizations")

    def names(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return [o.name for o in response.context["page"]]

    assert names() == ["Acme", "Acme Labs", "beta GmbH", "Zeta"]  # by name, case-insensitive
    assert names(q="acme") == ["Acme", "Acme Labs"]
    assert names(tier="strategic") == ["Acme", "Zeta"]
    assert names(q="acme", tier="strategic") == ["Acme"]
    assert names(q="nothing like it") == []
    assert "beta.example" in _text(client.get(url))


def test_organization_list_refuses_an_unknown_tier_with_a_reason(client, desk):
    factories.organization("Acme")
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:organizations"), {"tier": "platinum"})
    assert response.status_code == 400
    assert response.context["page"] is None
    assert "tier" in response.context["form"].errors
    assert "The search is not valid" in _text(response)


def test_organization_list_is_paginated_with_constant_queries(client, desk, django_assert_max_num_queries):
    manager = desk["manager"]
    for n in range(55):
        factories.organization(f"Org {n:02d}", account_manager=manager, domains=(f"org{n}.example",))
    client.force_login(desk["agent"])
    url = reverse("desk:organizations")
    with django_assert_max_num_queries(8):
        first = client.get(url)
    assert [o.name for o in first.context["page"]][:2] == ["Org 00", "Org 01"]
    assert len(first.context["page"]) == 50
    with django_assert_max_num_queries(8):
        second = client.get(url, {"page": 2})
    assert [o.name for o in second.context["page"]] == [f"Org {n}" for n in range(50, 55)]
    assert client.get(url, {"page": "nonsense"}).status_code == 200


# --- Organization page ----------------------------------------------------------------------------


def test_organization_page_shows_profile_contacts_contracts_and_only_visible_tickets(client, desk, b2b):
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:organization", args=[b2b["org"].pk]))

    assert response.status_code == 200
    page = response.context["page"]
    text = _text(response)
    for expected in (
        "Acme",
        "Strategic",
        "120,000.00 EUR",
        "Max Manager",
        "Acme Holding",
        "SAP number",
        "4711",
        "acme.example",
        "Premium support 2025",
        "Old pilot",
        "Remote support hours",
        "Ida IT-Lead",
        "Pia Primary",
        "pia@acme.example",
        "CTO",
    ):
        assert expected in text, expected
    assert [c.name for c in page.contacts] == ["Pia Primary", "Ida IT-Lead"]  # the primary contact first
    assert {c.name: c.is_running for c in page.contracts} == {"Premium support 2025": True, "Old pilot": False}
    # An agent of Support sees the page, but not Billing's ticket on it.
    assert [t.subject for t in page.tickets.tickets] == ["Old problem", "Invoice question", "VPN is down"]
    assert "Billing secret" not in text
    assert page.figures.open_count == (2, False)
    assert not page.can_edit
    assert reverse("desk:organization-edit", args=[b2b["org"].pk]) not in response.content.decode()

    open_only = client.get(reverse("desk:organization", args=[b2b["org"].pk]), {"tickets": "open"})
    assert [t.subject for t in open_only.context["page"].tickets.tickets] == ["Invoice question", "VPN is down"]

    assert client.get(reverse("desk:organization", args=[987654])).status_code == 404


def test_organization_tickets_are_keyset_paged_newest_first(client, desk, monkeypatch):
    monkeypatch.setattr(account_selectors, "PAGE_TICKETS", 2)
    org = factories.organization("Paged")
    person = factories.contact(organization=org)
    made = [factories.ticket(requester=person, subject=f"T{n}", team=desk["support"]) for n in range(5)]
    client.force_login(desk["agent"])
    url = reverse("desk:organization", args=[org.pk])

    seen, cursor = [], None
    for _ in range(5):
        response = client.get(url, {"cursor": cursor} if cursor else {})
        page = response.context["page"].tickets
        seen += [t.pk for t in page.tickets]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [t.pk for t in reversed(made)]

    tampered = client.get(url, {"cursor": "not-a-cursor"})
    assert tampered.status_code == 200
    assert tampered.context["page"].cursor_error
    assert [t.pk for t in tampered.context["page"].tickets.tickets] == [made[4].pk, made[3].pk]


def test_organization_figures_count_open_tickets_sla_compliance_and_first_response_times(client, desk, monkeypatch):
    clock = freeze(monkeypatch, berlin(3, 10))
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 24 * 60)})
    org = factories.organization("Timed", domains=("timed.example",))
    person = factories.contact(email="t@timed.example")
    by_agent, by_manager = Actor.agent(desk["agent"]), Actor.agent(desk["manager"])
    fast = factories.ticket(requester=person, subject="Fast", team=desk["support"])
    slow = factories.ticket(requester=person, subject="Slow", team=desk["support"])
    factories.ticket(requester=person, subject="Waiting", team=desk["support"])
    billing = factories.ticket(requester=person, subject="Billing", team=desk["billing"])
    clock.set(berlin(3, 10, 10))
    services.ticket_reply(ticket=billing, by=by_manager, body_text="Hi")
    clock.set(berlin(3, 10, 30))
    services.ticket_reply(ticket=fast, by=by_agent, body_text="On it")
    clock.set(berlin(3, 12))
    services.ticket_reply(ticket=slow, by=by_agent, body_text="Sorry for the wait")
    clock.set(berlin(3, 13))
    sla.sla_sweep()

    client.force_login(desk["agent"])
    response = client.get(reverse("desk:organization", args=[org.pk]))
    figures = response.context["page"].figures
    assert figures.open_count == (3, False)
    # Fast met its first response in time; Slow was answered late; Waiting is overdue unanswered.
    assert {(c.target, c.met, c.breached) for c in figures.compliance} == {("first_response", 1, 2)}
    assert round(figures.compliance_percent) == 33
    assert figures.first_response_count == 2
    assert figures.first_response_median == timedelta(minutes=75)
    assert figures.first_response_average == timedelta(minutes=75)
    text = _text(response)
    assert "33 %" in text and "1 hour, 15 minutes" in text

    # An admin sees every ticket, so the figures include Billing's.
    client.force_login(desk["admin"])
    figures = client.get(reverse("desk:organization", args=[org.pk])).context["page"].figures
    assert figures.open_count == (4, False)
    assert (figures.met, figures.breached) == (2, 2)
    assert figures.first_response_median == timedelta(minutes=30)
    assert figures.first_response_average == timedelta(minutes=160 / 3)


def test_organization_page_query_count_does_not_grow(client, desk, b2b, django_assert_max_num_queries):
    client.force_login(desk["lead"])
    url = reverse("desk:organization", args=[b2b["org"].pk])
    with django_assert_max_num_queries(20):
        assert client.get(url).status_code == 200
    org = b2b["org"]
    for n in range(10):
        person = factories.contact(name=f"Colleague {n}", email=f"c{n}@acme.example", organization=org)
        factories.ticket(requester=person, subject=f"Extra {n}", team=desk["support"])
        _contract(org, f"Contract {n}", starts_on=date(2024, 1, 1), entitlements=[("Hours", "hours", Decimal(n + 1))])
        factories.organization(f"Subsidiary {n}", parent=org, domains=(f"sub{n}.acme.example",))
    account_services.organization_update(organization=org, by=desk["lead"], notes="Key account")
    with django_assert_max_num_queries(20):
        response = client.get(url)
    assert len(response.context["page"].contacts) == 12
    assert len(response.context["page"].children) == 10


# --- Editing an organization ----------------------------------------------------------------------


def _edit_data(org, **changes):
    data = {
        "name": org.name,
        "tier": org.tier,
        "annual_contract_value": str(org.annual_contract_value),
        "currency": org.currency,
        "account_manager": org.account_manager_id or "",
        "notes": org.notes,
        "updated_at": org.updated_at.isoformat(),
    }
    data.update(changes)
    return data


def test_team_lead_edits_an_organization_and_the_change_is_logged(client, desk, b2b, django_assert_max_num_queries):
    org = b2b["org"]
    client.force_login(desk["lead"])
    page = client.get(reverse("desk:organization", args=[org.pk]))
    assert page.context["page"].can_edit
    edit_url = reverse("desk:organization-edit", args=[org.pk])
    assert edit_url in page.content.decode()
    with django_assert_max_num_queries(10):
        form = client.get(edit_url)
    assert form.status_code == 200
    assert 'name="cf_sap_number"' in form.content.decode()

    response = client.post(
        edit_url,
        _edit_data(
            org,
            name="Acme AG",
            annual_contract_value="150000.50",
            currency="chf",
            account_manager=desk["agent"].pk,
            notes="Renewal due in May",
            cf_sap_number="4712",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:organization", args=[org.pk])
    org.refresh_from_db()
    assert (org.name, org.annual_contract_value, org.currency, org.account_manager, org.notes) == (
        "Acme AG",
        Decimal("150000.50"),
        "CHF",
        desk["agent"],
        "Renewal due in May",
    )
    assert org.custom_fields == {"sap_number": 4712}
    entry = LogEntry.objects.get(object_id=str(org.pk), content_type__model="organization")
    assert entry.user == desk["lead"]
    message = entry.get_change_message()
    for expected in (
        "Name: Acme → Acme AG",
        "Annual contract value: 120000.00 → 150000.50",
        "Currency: EUR → CHF",
        "Account manager: Max Manager → Ana Agent",
        "Notes changed",
        "SAP number: 4711 → 4712",
    ):
        assert expected in message
    assert "Renewal due" not in message  # notes are named, not copied into the log
    shown = client.get(reverse("desk:organization", args=[org.pk]))
    assert "Organization saved." in _text(shown) and "Acme AG" in _text(shown)
    assert "Currency: EUR → CHF" in _text(shown)  # the recent changes on the page


def test_account_manager_edits_their_own_organization_only(client, desk, b2b):
    other = factories.organization("Other Co")
    client.force_login(desk["manager"])  # a plain agent, account manager of Acme
    assert client.get(reverse("desk:organization", args=[b2b["org"].pk])).context["page"].can_edit
    assert client.get(reverse("desk:organization-edit", args=[b2b["org"].pk])).status_code == 200
    assert client.get(reverse("desk:organization-edit", args=[other.pk])).status_code == 404
    response = client.post(reverse("desk:organization-edit", args=[other.pk]), _edit_data(other, name="Hijacked"))
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.name == "Other Co"


def test_plain_agent_cannot_edit_and_sees_no_edit_button(client, desk, b2b):
    org = b2b["org"]
    client.force_login(desk["agent"])
    page = client.get(reverse("desk:organization", args=[org.pk]))
    assert 'data-key="e"' not in page.content.decode()
    assert client.get(reverse("desk:organization-edit", args=[org.pk])).status_code == 404
    response = client.post(reverse("desk:organization-edit", args=[org.pk]), _edit_data(org, name="Hijacked"))
    assert response.status_code == 404
    org.refresh_from_db()
    assert org.name == "Acme"
    with pytest.raises(account_services.AccountPermissionDenied):
        account_services.organization_update(organization=org, by=desk["agent"], name="Hijacked")
    assert not LogEntry.objects.filter(object_id=str(org.pk)).exists()


def test_invalid_edit_shows_every_error_and_changes_nothing(client, desk, b2b):
    CustomFieldDefinition.objects.create(
        entity="organization",
        key="region",
        label="Region",
        field_type="choice",
        choices=["EMEA", "APAC"],
        required=True,
    )
    org = b2b["org"]
    client.force_login(desk["admin"])
    response = client.post(
        reverse("desk:organization-edit", args=[org.pk]),
        _edit_data(org, name="", annual_contract_value="-5", currency="EURO", cf_sap_number="forty-two", cf_region=""),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"name", "annual_contract_value", "currency", "cf_region"} <= set(errors)
    assert "Nothing was saved" in _text(response)

    # The custom field rules of accounts/domain/custom_fields decide what a value may be.
    response = client.post(
        reverse("desk:organization-edit", args=[org.pk]), _edit_data(org, cf_sap_number="forty-two", cf_region="EMEA")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["cf_sap_number"] == ["Enter a whole number."]
    org.refresh_from_db()
    assert (org.name, org.currency, org.custom_fields) == ("Acme", "EUR", {"sap_number": 4711})
    assert not LogEntry.objects.filter(object_id=str(org.pk)).exists()


def test_an_edit_over_someone_elses_change_is_refused(client, desk, b2b):
    org = b2b["org"]
    stale = _edit_data(org, name="Acme (stale)")
    account_services.organization_update(organization=org, by=desk["admin"], name="Acme International")
    client.force_login(desk["lead"])
    response = client.post(reverse("desk:organization-edit", args=[org.pk]), stale)
    assert response.status_code == 400
    assert "Someone else changed this organization meanwhile" in _text(response)
    org.refresh_from_db()
    assert org.name == "Acme International"


def test_saving_without_changes_writes_nothing(client, desk, b2b):
    org = b2b["org"]
    client.force_login(desk["admin"])
    response = client.post(reverse("desk:organization-edit", args=[org.pk]), _edit_data(org, cf_sap_number="4711"))
    assert response.status_code == 302
    assert not LogEntry.objects.filter(object_id=str(org.pk)).exists()


def test_changing_the_tier_chooses_the_sla_policy_of_open_tickets_again(
    client, desk, django_capture_on_commit_callbacks
):
    policy("Standard", is_default=True)
    gold = policy("Gold", targets={Priority.NORMAL: (15, 15, 120)})
    SLAPolicyRule.objects.create(policy=gold, kind=SLARuleKind.TIER, tier=Tier.STRATEGIC)
    org = factories.organization("Growing", domains=("growing.example",))
    ticket = factories.ticket(requester=factories.contact(email="x@growing.example"), team=desk["support"])
    assert Ticket.objects.get(pk=ticket.pk).sla_policy.name == "Standard"

    client.force_login(desk["lead"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("desk:organization-edit", args=[org.pk]), _edit_data(org, tier=Tier.STRATEGIC))
    assert response.status_code == 302
    assert Organization.objects.get(pk=org.pk).tier == Tier.STRATEGIC
    assert Ticket.objects.get(pk=ticket.pk).sla_policy_id == gold.pk

    # A change that does not touch the SLA selection queues no recomputation.
    org.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        account_services.organization_update(organization=org, by=desk["lead"], notes="Just a note")
    assert callbacks == []


# --- Contact page ---------------------------------------------------------------------------------


def test_contact_page_shows_profile_emails_organization_and_visible_tickets(client, desk, b2b):
    account_services.contact_add_email(contact=b2b["pia"], email="pia.private@consumer.example")
    client.force_login(desk["agent"])
    response = client.get(reverse("desk:contact", args=[b2b["pia"].pk]))
    assert response.status_code == 200
    page = response.context["page"]
    assert [e.email for e in page.emails] == ["pia@acme.example", "pia.private@consumer.example"]
    assert [t.subject for t in page.tickets.tickets] == ["Old problem", "Invoice question"]
    assert page.ticket_count == (2, False)
    text = _text(response)
    for expected in ("Pia Primary", "CTO", "pia.private@consumer.example", "Acme", "Invoice question"):
        assert expected in text
    assert "Billing secret" not in text
    assert reverse("desk:organization", args=[b2b["org"].pk]) in response.content.decode()
    assert client.get(reverse("desk:contact", args=[987654])).status_code == 404


def test_contact_page_query_count_does_not_grow(client, desk, consumer, django_assert_max_num_queries):
    client.force_login(desk["agent"])
    url = reverse("desk:contact", args=[consumer["person"].pk])
    with django_assert_max_num_queries(10):
        assert client.get(url).status_code == 200
    for n in range(30):
        factories.ticket(requester=consumer["person"], subject=f"More {n}", team=desk["support"])
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert len(response.context["page"].tickets.tickets) == account_selectors.PAGE_TICKETS
    assert response.context["page"].tickets.next_cursor


def test_editing_an_organization_whose_account_manager_left_keeps_the_manager(client, desk, b2b):
    org = b2b["org"]
    manager = desk["manager"]
    manager.agent_profile.is_active = False
    manager.agent_profile.save(update_fields=["is_active"])
    client.force_login(desk["lead"])
    form = client.get(reverse("desk:organization-edit", args=[org.pk]))
    assert f'<option value="{manager.pk}" selected>' in form.content.decode()
    response = client.post(reverse("desk:organization-edit", args=[org.pk]), _edit_data(org, name="Acme SE"))
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.account_manager_id) == ("Acme SE", manager.pk)
    # Choosing a departed agent as the new manager is refused.
    other = factories.organization("Other Co")
    response = client.post(
        reverse("desk:organization-edit", args=[other.pk]), _edit_data(other, account_manager=manager.pk)
    )
    assert response.status_code == 400
    assert "account_manager" in response.context["form"].errors
    other.refresh_from_db()
    assert other.account_manager_id is None
