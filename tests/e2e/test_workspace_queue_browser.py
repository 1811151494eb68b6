"""An agent signs in and works a queue with the keyboard, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tickets.services import Actor, ticket_assign

pytestmark = pytest.mark.django_db(transaction=True)


def test_agent_logs_in_sees_counts_and_filters_a_queue(page, live_server, login):
    team = factories.team("Support")
    agent = factories.agent(teams=[team], username="ana")
    for i in range(3):
        t = factories.ticket(subject=f"Printer on fire {i}", team=team)
        ticket_assign(ticket=t, by=Actor.agent(agent), assignee=agent)
    factories.ticket(subject="Refund please", team=team, priority="urgent")

    login("ana")
    expect(page.get_by_role("heading", name="My open tickets")).to_be_visible()
    expect(page.get_by_test_id("count-mine")).to_have_text("3")
    expect(page.get_by_test_id("count-all")).to_have_text("4")
    expect(page.locator("[data-ticket-row]")).to_have_count(3)

    page.get_by_role("link", name="All tickets").click()
    expect(page.locator("[data-ticket-row]")).to_have_count(4)
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("[data-ticket-row]")).to_have_count(1)
    expect(page.locator("[data-ticket-row]").first).to_contain_text("Refund please")


def test_keyboard_moves_through_the_list_and_selects(page, live_server, login):
    team = factories.team("Support")
    factories.agent(teams=[team], username="ana")
    for i in range(3):
        factories.ticket(subject=f"Question {i}", team=team)
    login("ana")
    page.get_by_role("link", name="All tickets").click()
    rows = page.locator("[data-ticket-row]")
    page.wait_for_function("window.ServiceDesk !== undefined")  # desk.js is deferred
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class("is-current")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("is-current")
    page.keyboard.press("x")
    expect(rows.nth(1).locator("input[type=checkbox]")).to_be_checked()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
