"""The customer, whole: the B2B sidebar on a ticket and the organization page, in a real browser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.choices import Tier
from accounts.models import Contract, Entitlement
from tests import factories
from tickets.services import Actor, ticket_log_interaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_b2b_sidebar_shows_the_organization_its_contracts_contacts_and_interactions(page, live_server, login):
    team = factories.team("Key accounts")
    ana = factories.agent(teams=[team], username="ana", first_name="Ana")
    manager = factories.agent(teams=[team], username="max", first_name="Max", last_name="Weber")
    org = factories.organization(
        "Bergmann Maschinenbau", tier=Tier.STRATEGIC, account_manager=manager, annual_contract_value=Decimal(250000)
    )
    contract = Contract.objects.create(
        organization=org, name="Premium Support 2026", product="Platinum", starts_on=dt.date(2026, 1, 1)
    )
    Entitlement.objects.create(contract=contract, name="Remote hours", unit="hours", quantity=Decimal(40))
    requester = factories.contact(name="Petra Klein", email="petra@bergmann.example", organization=org)
    factories.contact(name="Jonas Roth", email="jonas@bergmann.example", organization=org)
    earlier = factories.ticket(subject="VPN flaky", requester=requester, team=team)
    ticket_log_interaction(
        ticket=earlier,
        by=Actor.agent(ana),
        kind="phone_call",
        body_text="Called Petra about the VPN.",
        duration_minutes=15,
    )
    ticket = factories.ticket(subject="Line 3 stopped", requester=requester, team=team)

    login("ana")
    page.goto(f"{live_server.url}/desk/tickets/{ticket.reference}/")
    sidebar = page.locator("#customer-sidebar")
    # Loaded by htmx after the page.
    expect(sidebar.get_by_role("heading", name="Bergmann Maschinenbau")).to_be_visible()
    expect(sidebar).to_contain_text("Strategic")
    expect(sidebar).to_contain_text("250,000.00 EUR")
    expect(sidebar).to_contain_text("Max Weber")
    expect(sidebar).to_contain_text("Premium Support 2026")
    expect(sidebar).to_contain_text("Remote hours")
    expect(sidebar).to_contain_text("Jonas Roth")
    expect(sidebar).to_contain_text("VPN flaky")
    expect(sidebar).to_contain_text("Called Petra about the VPN.")

    sidebar.get_by_role("link", name="Full organization page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bergmann Maschinenbau")
    expect(page.locator("main")).to_contain_text("Line 3 stopped")
