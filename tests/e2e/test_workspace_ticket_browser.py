"""An agent works one ticket in a real browser: keyboard, collapsed quotes, the SLA explanation, a reply."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.integration.sla_support import policy
from tickets import presence, services
from tickets.choices import Priority
from tickets.models import Message
from tickets.services import Actor

pytestmark = pytest.mark.django_db(transaction=True)


def test_agent_reads_and_answers_a_ticket_with_the_keyboard(page, live_server, login):
    team = factories.team("Support")
    factories.agent(teams=[team], username="ana", first_name="Ana")
    ben = factories.agent(teams=[team], username="ben", first_name="Ben", last_name="Miller")
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240)})
    ticket = factories.ticket(subject="Printer on fire", team=team, body="It burns.")
    Message.objects.filter(ticket=ticket).update(quoted_text="> earlier mail")
    services.ticket_add_note(ticket=ticket, by=Actor.agent(ben), body_text="Fire brigade called.")
    presence.presence_touch(ticket.pk, ben.pk, "replying")

    login("ana")
    page.goto(f"{live_server.url}/desk/tickets/{ticket.reference}/")
    page.wait_for_function("window.ServiceDesk !== undefined")  # desk.js is deferred
    expect(page.get_by_role("heading", name=f"{ticket.reference} Printer on fire")).to_be_visible()
    expect(page.locator("#presence")).to_contain_text("Ben Miller is replying")
    expect(page.locator(".sla-clock")).to_have_count(2)

    # Quoted text is one click away.
    quoted = page.locator(".quoted-text")
    expect(quoted).to_be_hidden()
    page.get_by_text("Show quoted text").click()
    expect(quoted).to_be_visible()

    # The SLA explanation loads when opened.
    page.get_by_text("Why these due dates?").click()
    expect(page.locator(".sla-explanation")).to_contain_text("Policy “Round the clock” applies")

    # n focuses the note, r the reply; Escape leaves the field so shortcuts work again.
    page.locator("#ticket-title").click()
    page.keyboard.press("n")
    expect(page.locator("#id_note-body")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    expect(page.locator("#id_reply-body")).to_be_focused()
    page.keyboard.type("Please unplug it.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("Reply sent")
    expect(page.locator(".timeline")).to_contain_text("Please unplug it.")

    # a assigns the ticket to the agent.
    page.locator("#ticket-title").click()
    page.keyboard.press("a")
    expect(page.locator(".flash")).to_contain_text("Assigned to you.")
