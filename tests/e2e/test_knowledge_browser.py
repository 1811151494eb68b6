"""The knowledge base in a real browser: suggestions while typing a ticket subject and leaving
with an answer (kb-suggest.js), and an agent inserting an article link into a reply (kb-link.js)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.choices import AgentRole
from knowledge.models import Deflection
from tests import factories
from tests.integration import kb_support as kb
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in(page, live_server, user) -> None:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_customer_sees_a_suggested_article_and_leaves_with_the_answer(page, live_server):
    lead = kb.publisher()
    wifi = kb.article(lead, en=("Connect your hub to Wi-Fi", "Hold the button for five seconds."))["en"]
    kb.article(lead, en=("Wi-Fi runbook (internal)", "Agents only."), internal=True)
    contact = factories.contact(name="Ann")
    _sign_in(page, live_server, factories.customer_user(contact))

    page.goto(f"{live_server.url}/portal/tickets/new/")
    page.get_by_label("Subject").press_sequentially("hub will not connect to wifi", delay=20)
    suggestion = page.get_by_role("link", name="Connect your hub to Wi-Fi")
    suggestion.wait_for()
    assert page.get_by_role("status").filter(has_text="might answer your question").count() == 1
    assert page.get_by_text("Wi-Fi runbook").count() == 0
    page.get_by_role("button", name="This answered my question").click()

    page.get_by_role("heading", name="Glad it helped!").wait_for()
    assert not Ticket.objects.exists()
    deflection = Deflection.objects.get()
    assert (deflection.article_id, deflection.contact_id, deflection.subject) == (
        wifi.article_id,
        contact.pk,
        "hub will not connect to wifi",
    )


def test_agent_inserts_an_article_link_into_a_reply(page, live_server, settings):
    settings.SITE_URL = live_server.url
    lead = kb.publisher()
    reset = kb.article(lead, en=("Reset your password", "Choose Forgot password."))["en"]
    ticket = factories.ticket(subject="Cannot log in")
    agent = factories.agent(role=AgentRole.ADMIN)
    _sign_in(page, live_server, agent)

    page.goto(f"{live_server.url}/desk/tickets/{ticket.reference}/")
    reply = page.locator("#id_reply-body")
    reply.fill("Hello, please follow this article:")
    page.get_by_text("Insert article").click()
    search = page.get_by_label("Find a published article")
    search.fill("password")
    search.press("Enter")  # searches; must not send the reply
    page.get_by_role("button", name="Reset your password").click()

    url = f"{live_server.url}/portal/kb/articles/{reset.article_id}-reset-your-password/?lang=en"
    assert reply.input_value() == f"Hello, please follow this article: Reset your password: {url}"
    assert ticket.messages.count() == 1  # nothing was sent
