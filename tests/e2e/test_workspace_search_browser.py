"""Search from the header, jump by reference, and the workspace in German, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_agent_searches_tickets_messages_contacts_and_organizations(page, live_server, login):
    team = factories.team("Support")
    factories.agent(teams=[team], username="ana")
    acme = factories.organization("Acme Invoicing GmbH", domains=("acme-invoicing.example",))
    jana = factories.contact(name="Jana Invoicer", email="jana@acme-invoicing.example", organization=acme)
    by_subject = factories.ticket(subject="Invoice 2026-113 is wrong", requester=jana, team=team)
    by_body = factories.ticket(
        subject="Question about my account", body="The invoice total is off by 10 EUR.", team=team
    )
    hidden = factories.ticket(subject="Invoice for another team", team=factories.team("Billing"))

    login("ana")
    box = page.get_by_label("Search tickets, contacts and organizations")
    box.fill("invoice")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text(by_subject.reference)
    expect(main).to_contain_text(by_body.reference)
    # Whole reference only: SD-104 is a prefix of SD-1040 ... SD-1049, which may well be listed.
    expect(main).not_to_contain_text(re.compile(rf"{hidden.reference}(?!\d)"))
    expect(main).to_contain_text("Jana Invoicer")
    expect(main).to_contain_text("Acme Invoicing GmbH")

    # A reference jumps straight to the ticket.
    box = page.get_by_label("Search tickets, contacts and organizations")
    box.fill(by_body.reference.lower())
    box.press("Enter")
    page.wait_for_url(f"{live_server.url}/desk/tickets/{by_body.reference}/")
    expect(page.locator("main")).to_contain_text("Question about my account")


def test_german_agent_works_in_german(page, live_server, login):
    team = factories.team("Support")
    greta = factories.agent(teams=[team], username="greta")
    greta.agent_profile.language = "de"
    greta.agent_profile.save(update_fields=["language"])
    ticket = factories.ticket(subject="Drucker brennt", team=team, priority="urgent")

    login("greta")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Meine offenen Tickets")).to_be_visible()
    page.get_by_role("link", name="Alle Tickets").click()
    row = page.locator("[data-ticket-row]").first
    expect(row).to_contain_text("Neu")
    expect(row).to_contain_text("Dringend")
    row.get_by_role("link").first.click()
    page.wait_for_url(f"{live_server.url}/desk/tickets/{ticket.reference}/")
    expect(page.get_by_role("button", name="Mir zuweisen")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Konversation")
