"""Rating a solved ticket in a real browser: from the email's "Bad" link without signing in, and on the
portal ticket page; the agent sees the answer on the dashboard; the portal wears the brand."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from service_desk import branding
from tests import factories
from tickets.choices import EventAction, Status
from tickets.models import SatisfactionSurvey, TicketEvent
from tickets.services import Actor, ticket_change_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_brand():
    branding.forget()
    yield
    branding.forget()


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_customer_rates_from_the_email_link_and_then_in_the_portal(page, live_server, settings):
    settings.SITE_URL = live_server.url
    row = branding.desk_settings()
    row.name, row.primary_colour = "Acme Help", "#7a1fbf"
    branding.desk_settings_save(row)
    team = factories.team("Support")
    ana = factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Agent")
    dora = factories.contact(email="dora@consumer.example", name="Dora")
    ticket = factories.ticket(requester=dora, subject="Parcel lost", team=team, assignee=ana)

    ticket_change_status(ticket=ticket, by=Actor.agent(ana), status=Status.SOLVED)  # commits: survey + email
    message = next(m for m in mail.outbox if "How did we do?" in m.subject)
    assert message.from_email.startswith("Acme Help <")
    bad = re.search(r"http\S+\?rating=bad", message.body).group(0)

    page.goto(bad)  # not signed in: the token is the proof
    assert page.get_by_label("Bad").is_checked()
    assert page.locator("header .brand").inner_text().strip() == "Acme Help"
    header_colour = page.locator("header.portal-header").evaluate("el => getComputedStyle(el).backgroundColor")
    assert header_colour == "rgb(122, 31, 191)"
    page.get_by_label("Comment (optional)").fill("Took a week to find.")
    page.get_by_role("button", name="Send my rating").click()
    page.get_by_text("Thank you! Your rating: Bad.").wait_for()
    survey = SatisfactionSurvey.objects.get()
    assert (survey.rating, survey.comment) == ("bad", "Took a week to find.")

    # Later, signed in: the ticket page shows the answer and lets Dora change it.
    sign_in(page, live_server, factories.customer_user(dora, "dora"))
    page.goto(f"{live_server.url}/portal/tickets/{ticket.reference}/")
    rating = page.get_by_test_id("csat-rating")
    assert "You rated this request: Bad." in rating.inner_text()
    rating.get_by_label("Good").check()
    rating.get_by_role("button", name="Update my rating").click()
    page.get_by_text("Thank you for your rating.").wait_for()
    survey.refresh_from_db()
    assert survey.rating == "good"
    assert list(
        TicketEvent.objects.filter(ticket=ticket, action=EventAction.CSAT).values_list("new_value", flat=True)
    ) == ["bad", "good"]
