"""The portal's ticket pages in a real browser: the type switch swaps the custom fields in place
(portal-tickets.js), a request with an attachment is submitted, answered, solved and reopened."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.choices import CustomFieldEntity
from accounts.models import CustomFieldDefinition
from tests import factories
from tickets.choices import Status
from tickets.models import Ticket, TicketType

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_customer(page, live_server, user) -> None:
    """A session made by Django's test client, handed to the browser (the login form is tested elsewhere)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def test_customer_submits_with_type_fields_and_attachment_then_replies_solves_and_reopens(page, live_server, tmp_path):
    acme = factories.organization("Acme")
    ann = factories.contact(name="Ann Acme", email="ann@acme.example", organization=acme)
    user = factories.customer_user(ann)
    hardware = TicketType.objects.create(name="Hardware")
    TicketType.objects.create(name="Billing")
    asset = CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="asset_tag", label="Asset tag", field_type="text",
        visible_to_customers=True, required=True, help_text="On the sticker below the device.",
    )  # fmt: skip
    asset.ticket_types.add(hardware)
    log_file = tmp_path / "printer-log.txt"
    log_file.write_text("Printer log: paper jam at tray 2")

    sign_in_customer(page, live_server, user)
    page.goto(f"{live_server.url}/portal/tickets/new/")
    assert page.get_by_role("button", name="Show the fields for this type").is_hidden()
    assert page.get_by_label("Asset tag").count() == 0
    page.get_by_label("Subject").fill("Printer jams")
    page.get_by_label("How can we help?").fill("Every second page jams.")
    page.get_by_label("Type of request").select_option(label="Hardware")
    page.get_by_label("Asset tag").wait_for()
    assert page.get_by_text("On the sticker below the device.").is_visible()
    page.get_by_label("Asset tag").fill("AT-7")
    page.get_by_label("Attachments").set_input_files(str(log_file))
    page.get_by_role("button", name="Submit request").click()

    page.get_by_role("heading", name="Printer jams").wait_for()
    ticket = Ticket.objects.get()
    assert ticket.custom_fields == {"asset_tag": "AT-7"} and ticket.type == hardware
    assert page.get_by_role("link", name="printer-log.txt").is_visible()

    page.get_by_label("Your reply").fill("It also smells of toner.")
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("It also smells of toner.").wait_for()

    page.get_by_role("button", name="Mark as solved").click()
    page.get_by_role("button", name="Reopen").wait_for()
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    page.get_by_role("button", name="Reopen").click()
    page.get_by_role("button", name="Mark as solved").wait_for()
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_foreign_ticket_url_shows_not_found(page, live_server):
    stranger = factories.ticket(requester=factories.contact(name="Stranger"), subject="Secret stuff")
    user = factories.customer_user(factories.contact(name="Curious Carl"))
    sign_in_customer(page, live_server, user)
    response = page.goto(f"{live_server.url}/portal/tickets/{stranger.reference}/")
    assert response.status == 404
    assert "Secret stuff" not in page.content()
