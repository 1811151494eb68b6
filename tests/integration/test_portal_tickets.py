"""The portal's ticket pages: submitting (attachments, custom fields by type and organization, one
ticket per form), lists with filters and pages, the ticket page, reply, mark as solved, reopen
window, follow-ups, and the query counts of the lists."""

from __future__ import annotations

import html
import re
import secrets
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.choices import CustomFieldEntity
from accounts.models import CustomFieldDefinition
from service_desk.models import DeskSettings
from tests import factories
from tickets import services
from tickets.choices import Channel, EventAction, LinkKind, MessageKind, Status
from tickets.models import Message, Ticket, TicketEvent, TicketLink, TicketType
from tickets.services import Actor, NewAttachment

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82"
)


def fresh_nonce() -> str:
    return secrets.token_urlsafe(24)


def text(response) -> str:
    """The page as a reader sees it (entities decoded, so "Cora's" matches "Cora&#x27;s")."""
    return html.unescape(response.content.decode())


def nonce_of(response) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', text(response)).group(1)


def field(key: str, **kwargs) -> CustomFieldDefinition:
    defaults = {
        "entity": CustomFieldEntity.TICKET,
        "label": key.replace("_", " ").title(),
        "field_type": "text",
        "visible_to_customers": True,
    }
    return CustomFieldDefinition.objects.create(key=key, **{**defaults, **kwargs})


@pytest.fixture
def world():
    acme = factories.organization("Acme", domains=("acme.example",))
    ann = factories.contact(name="Ann Acme", email="ann@acme.example", organization=acme)
    boss = factories.contact(
        name="Bea Boss", email="bea@acme.example", organization=acme, can_see_organization_tickets=True
    )
    consumer = factories.contact(name="Carl Consumer", email="carl@consumer.example")
    agent = factories.agent(username="agnes", first_name="Agnes", last_name="Agent")
    hardware = TicketType.objects.create(name="Hardware")
    billing = TicketType.objects.create(name="Billing")
    TicketType.objects.create(name="Retired", is_active=False)
    return {
        "acme": acme,
        "ann": ann,
        "ann_user": factories.customer_user(ann),
        "boss": boss,
        "boss_user": factories.customer_user(boss),
        "consumer": consumer,
        "consumer_user": factories.customer_user(consumer),
        "agent": agent,
        "hardware": hardware,
        "billing": billing,
    }


def new_form(client, **query):
    response = client.get(reverse("portal:ticket_new"), query)
    assert response.status_code == 200
    return response


def submit(client, **data):
    nonce = data.pop("nonce", None) or nonce_of(new_form(client))
    return client.post(reverse("portal:ticket_new"), {"nonce": nonce, **data})


# --- Submitting -----------------------------------------------------------------------------------


def test_submit_opens_a_portal_ticket_with_attachment_and_custom_fields(client, world):
    serial = field("serial_number", label="Serial number", required=True)
    client.force_login(world["ann_user"])
    upload = SimpleUploadedFile("../../etc/scan<1>.png", PNG, content_type="text/html")
    response = submit(
        client,
        subject="Printer\r\njams",
        description="It jams on every page.",
        type=world["hardware"].pk,
        attachments=[upload],
        **{"cf-serial_number": "SN-42"},
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:ticket", args=[ticket.reference])
    assert ticket.subject == "Printer jams"
    assert ticket.channel == Channel.PORTAL
    assert ticket.requester == world["ann"]
    assert ticket.organization == world["acme"]
    assert ticket.type == world["hardware"]
    assert ticket.custom_fields == {serial.key: "SN-42"}
    message = ticket.messages.get()
    assert message.author_contact == world["ann"] and message.body_text == "It jams on every page."
    attachment = message.attachments.get()
    assert attachment.filename == "scan_1_.png"
    assert attachment.content_type == "image/png"  # sniffed from the bytes, not the claimed text/html
    created = TicketEvent.objects.get(ticket=ticket, action=EventAction.CREATED)
    assert created.actor_contact == world["ann"] and created.actor == world["ann_user"]
    assert created.channel == Channel.PORTAL

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Printer jams" in text(page) and "It jams on every page." in text(page)
    assert reverse("portal:attachment", args=[attachment.pk]) in text(page)


def test_b2c_ticket_has_no_organization(client, world):
    client.force_login(world["consumer_user"])
    assert submit(client, subject="Refund", description="Please refund.").status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.organization is None and ticket.requester == world["consumer"]


def test_new_ticket_gets_the_organizations_default_team(client, world):
    team = factories.team("Key accounts")
    world["acme"].default_team = team
    world["acme"].save(update_fields=["default_team"])
    client.force_login(world["ann_user"])
    submit(client, subject="Hello", description="Routing please.")
    assert Ticket.objects.get().team == team


def test_the_same_form_sent_twice_opens_one_ticket(client, world):
    client.force_login(world["ann_user"])
    nonce = nonce_of(new_form(client))
    first = submit(client, nonce=nonce, subject="Once", description="Only once.")
    second = submit(client, nonce=nonce, subject="Once", description="Only once.")
    ticket = Ticket.objects.get()
    assert first["Location"] == second["Location"] == reverse("portal:ticket", args=[ticket.reference])
    # A new form is a new request.
    submit(client, subject="Twice", description="Another one.")
    assert Ticket.objects.count() == 2


def test_a_nonce_is_per_customer(client, world):
    client.force_login(world["ann_user"])
    nonce = nonce_of(new_form(client))
    submit(client, nonce=nonce, subject="Ann's", description="Mine.")
    client.force_login(world["consumer_user"])
    response = submit(client, nonce=nonce, subject="Carl's", description="Mine too.")
    assert Ticket.objects.count() == 2
    assert response["Location"] == reverse("portal:ticket", args=[Ticket.objects.get(subject="Carl's").reference])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"subject": "  ", "description": "x"}, "This field is required."),
        ({"subject": "Hi", "description": "   "}, "This field is required."),
        ({"subject": "Hi", "description": "x", "nonce": "short"}, "The form expired"),
        ({"subject": "Hi", "description": "x", "type": "999999"}, "Select a valid choice"),
    ],
)
def test_invalid_submissions_are_form_errors(client, world, data, error):
    client.force_login(world["ann_user"])
    response = submit(client, **data)
    assert response.status_code == 400
    assert error in text(response)
    assert not Ticket.objects.exists()


def test_retired_type_cannot_be_chosen(client, world):
    client.force_login(world["ann_user"])
    retired = TicketType.objects.get(name="Retired")
    response = submit(client, subject="Hi", description="x", type=retired.pk)
    assert response.status_code == 400 and not Ticket.objects.exists()
    assert "Retired" not in text(new_form(client))


def test_attachment_limits_of_the_web_form(client, world):
    client.force_login(world["ann_user"])
    files = [SimpleUploadedFile(f"f{n}.txt", b"hello") for n in range(6)]
    response = submit(client, subject="Files", description="Many files.", attachments=files)
    assert response.status_code == 400 and "Attach at most 5 files." in text(response)
    big = SimpleUploadedFile("big.bin", b"\0" * (10 * 1024 * 1024 + 1))
    response = submit(client, subject="Files", description="Big file.", attachments=[big])
    assert response.status_code == 400 and "larger than 10 MB" in text(response)
    assert not Ticket.objects.exists()


def test_fields_that_apply_by_type_and_organization(client, world):
    field("everywhere", label="Everywhere")
    field("internal_only", label="Internal only", visible_to_customers=False, required=True)
    field("retired_field", label="Retired field", is_active=False)
    hardware_only = field("asset_tag", label="Asset tag")
    hardware_only.ticket_types.add(world["hardware"])
    acme_only = field("acme_site", label="Acme site")
    acme_only.organizations.add(world["acme"])
    acme_billing = field("cost_centre", label="Cost centre")
    acme_billing.organizations.add(world["acme"])
    acme_billing.ticket_types.add(world["billing"])
    field("contact_field", label="Contact field", entity=CustomFieldEntity.CONTACT)

    def labels(response):
        return {label for label in ("Everywhere", "Internal only", "Retired field", "Asset tag", "Acme site",
                                    "Cost centre", "Contact field") if label in text(response)}  # fmt: skip

    client.force_login(world["ann_user"])
    assert labels(new_form(client)) == {"Everywhere", "Acme site"}
    assert labels(new_form(client, type=world["hardware"].pk)) == {"Everywhere", "Acme site", "Asset tag"}
    assert labels(new_form(client, type=world["billing"].pk)) == {"Everywhere", "Acme site", "Cost centre"}

    client.force_login(world["consumer_user"])
    assert labels(new_form(client)) == {"Everywhere"}
    assert labels(new_form(client, type=world["hardware"].pk)) == {"Everywhere", "Asset tag"}
    assert labels(new_form(client, type=world["billing"].pk)) == {"Everywhere"}


def test_type_change_without_javascript_shows_the_new_fields_and_keeps_the_text(client, world):
    tagged = field("asset_tag", label="Asset tag")
    tagged.ticket_types.add(world["hardware"])
    client.force_login(world["ann_user"])
    nonce = nonce_of(new_form(client))
    response = client.post(
        reverse("portal:ticket_new"),
        {"nonce": nonce, "subject": "Laptop", "description": "Broken hinge", "type": world["hardware"].pk,
         "refresh_fields": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Asset tag" in text(response) and "Broken hinge" in text(response) and 'value="Laptop"' in text(response)
    assert nonce_of(response) == nonce
    assert "errorlist" not in text(response)
    assert not Ticket.objects.exists()


def test_type_change_with_javascript_fetches_only_the_fields(client, world):
    tagged = field("asset_tag", label="Asset tag", help_text="On the sticker below.")
    tagged.ticket_types.add(world["hardware"])
    client.force_login(world["ann_user"])
    response = client.get(reverse("portal:ticket_new"), {"fields": "1", "type": world["hardware"].pk})
    assert response.status_code == 200
    assert "Asset tag" in text(response) and "On the sticker below." in text(response)
    assert "<html" not in text(response)
    empty = client.get(reverse("portal:ticket_new"), {"fields": "1", "type": world["billing"].pk})
    assert "Asset tag" not in text(empty)


def test_required_applicable_fields_are_enforced_and_typed(client, world):
    field("internal_required", visible_to_customers=False, required=True)
    count = field("device_count", label="Device count", field_type="integer", required=True)
    count.ticket_types.add(world["hardware"])
    client.force_login(world["ann_user"])

    missing = submit(client, subject="Laptops", description="x", type=world["hardware"].pk)
    assert missing.status_code == 400 and "This field is required." in text(missing)
    wrong = submit(client, subject="Laptops", description="x", type=world["hardware"].pk, **{"cf-device_count": "a"})
    assert wrong.status_code == 400 and "Enter a whole number." in text(wrong)
    assert not Ticket.objects.exists()

    # Without the type the field does not apply, and a value sent for it anyway is not stored.
    ok = submit(client, subject="Other", description="x", **{"cf-device_count": "3"})
    assert ok.status_code == 302 and Ticket.objects.get().custom_fields == {}
    submit(client, subject="Laptops", description="x", type=world["hardware"].pk, **{"cf-device_count": " 12 "})
    assert Ticket.objects.get(subject="Laptops").custom_fields == {"device_count": 12}


def test_field_of_another_organization_cannot_be_filled_in(client, world):
    other = factories.organization("Globex")
    secret = field("globex_code", label="Globex code")
    secret.organizations.add(other)
    client.force_login(world["ann_user"])
    submit(client, subject="Sneaky", description="x", **{"cf-globex_code": "injected"})
    assert Ticket.objects.get().custom_fields == {}


# --- Lists ----------------------------------------------------------------------------------------


def test_my_tickets_lists_requested_and_copied_tickets_only(client, world):
    own = factories.ticket(requester=world["ann"], subject="Own ticket")
    copied = factories.ticket(requester=world["consumer"], subject="Copied ticket", cc=[world["ann"]])
    factories.ticket(requester=world["boss"], subject="Boss ticket")
    factories.ticket(requester=world["consumer"], subject="Stranger ticket")
    client.force_login(world["ann_user"])
    response = client.get(reverse("portal:tickets"))
    assert response.status_code == 200
    assert [t.pk for t in response.context["tickets"]] == [copied.pk, own.pk]
    assert "Boss ticket" not in text(response) and "Stranger ticket" not in text(response)
    assert "Copied to you" in text(response)

    client.force_login(world["boss_user"])  # organization rights do not put colleagues' tickets in "My tickets"
    response = client.get(reverse("portal:tickets"))
    assert [t.subject for t in response.context["tickets"]] == ["Boss ticket"]


def test_my_tickets_filter_by_status(client, world):
    open_one = factories.ticket(requester=world["ann"], subject="Still open")
    solved = factories.ticket(requester=world["ann"], subject="Done")
    services.ticket_change_status(ticket=solved, by=Actor.agent(world["agent"]), status=Status.SOLVED)
    closed = factories.ticket(requester=world["ann"], subject="Closed one")
    services.ticket_change_status(ticket=closed, by=Actor.agent(world["agent"]), status=Status.CLOSED)
    client.force_login(world["ann_user"])

    def subjects(status):
        return [t.subject for t in client.get(reverse("portal:tickets"), {"status": status}).context["tickets"]]

    assert subjects("open") == [open_one.subject]
    assert subjects("solved") == [solved.subject]
    assert subjects("closed") == [closed.subject]
    assert len(subjects("")) == 3
    bogus = client.get(reverse("portal:tickets"), {"status": "bogus"})  # an error on the form, nothing listed
    assert bogus.status_code == 400 and bogus.context["tickets"] == []


def test_lists_are_paged_with_a_cursor(client, world):
    for n in range(30):
        factories.ticket(requester=world["ann"], subject=f"Ticket {n:02}")
    client.force_login(world["ann_user"])
    first = client.get(reverse("portal:tickets"))
    assert len(first.context["tickets"]) == 25
    cursor = first.context["page"].next_cursor
    assert cursor and 'rel="next"' in text(first)
    second = client.get(reverse("portal:tickets"), {"after": cursor})
    seen = [t.pk for t in first.context["tickets"]] + [t.pk for t in second.context["tickets"]]
    assert len(second.context["tickets"]) == 5 and len(set(seen)) == 30
    assert second.context["page"].next_cursor is None
    filtered = client.get(reverse("portal:tickets"), {"status": "open"})
    assert f"?status=open&amp;after={cursor}" in filtered.content.decode()  # the next page keeps the filter
    bad = client.get(reverse("portal:tickets"), {"after": "garbage"})
    assert bad.status_code == 400 and len(bad.context["tickets"]) == 25


def test_organization_tickets_for_contacts_with_rights_filtered_by_requester_and_status(client, world):
    ann_ticket = factories.ticket(requester=world["ann"], subject="Ann's printer")
    boss_ticket = factories.ticket(requester=world["boss"], subject="Bea's budget")
    factories.ticket(requester=world["consumer"], subject="Consumer thing")
    services.ticket_change_status(ticket=boss_ticket, by=Actor.agent(world["agent"]), status=Status.SOLVED)
    client.force_login(world["boss_user"])
    url = reverse("portal:organization_tickets")
    response = client.get(url)
    assert response.status_code == 200
    assert {t.pk for t in response.context["tickets"]} == {ann_ticket.pk, boss_ticket.pk}
    assert "Ann Acme" in text(response)  # the requester column
    by_ann = client.get(url, {"requester": world["ann"].pk})
    assert [t.pk for t in by_ann.context["tickets"]] == [ann_ticket.pk]
    solved = client.get(url, {"status": "solved"})
    assert [t.pk for t in solved.context["tickets"]] == [boss_ticket.pk]
    stranger = client.get(url, {"requester": world["consumer"].pk})  # not a contact of the organization
    assert stranger.status_code == 400 and "Consumer thing" not in text(stranger)
    assert stranger.context["tickets"] == []


def test_navigation_shows_ticket_links_to_customers_only(client, world):
    client.force_login(world["ann_user"])
    page = text(client.get(reverse("portal:tickets")))
    assert reverse("portal:ticket_new") in page and reverse("portal:organization_tickets") not in page
    assert 'aria-current="page">My tickets' in page
    client.force_login(world["boss_user"])
    assert reverse("portal:organization_tickets") in text(client.get(reverse("portal:tickets")))


def test_list_query_counts_do_not_grow_with_tickets(client, world, django_assert_max_num_queries):
    for n in range(3):
        factories.ticket(requester=world["ann"], subject=f"Ann {n}")
    client.force_login(world["boss_user"])
    with django_assert_max_num_queries(9):
        assert client.get(reverse("portal:organization_tickets")).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("portal:tickets")).status_code == 200
    for n in range(30):
        requester = world["ann"] if n % 2 else world["boss"]
        factories.ticket(requester=requester, subject=f"More {n}", cc=[world["consumer"]])
    with django_assert_max_num_queries(9):
        response = client.get(reverse("portal:organization_tickets"), {"status": "open"})
    assert len(response.context["tickets"]) == 25
    with django_assert_max_num_queries(8):
        assert client.get(reverse("portal:tickets")).status_code == 200


def test_ticket_page_query_count_does_not_grow_with_messages(client, world, django_assert_max_num_queries):
    ticket = factories.ticket(requester=world["ann"])
    client.force_login(world["ann_user"])
    url = reverse("portal:ticket", args=[ticket.reference])
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200
    for n in range(10):
        services.ticket_reply(
            ticket=ticket,
            by=Actor.agent(world["agent"]),
            body_text=f"Answer {n}",
            attachments=[NewAttachment(f"a{n}.txt", b"data")],
        )
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200


# --- The ticket page and its actions ---------------------------------------------------------------


def test_ticket_page_by_number_or_lower_case_redirects_to_the_reference(client, world):
    ticket = factories.ticket(requester=world["ann"])
    client.force_login(world["ann_user"])
    canonical = reverse("portal:ticket", args=[ticket.reference])
    for ref in (str(ticket.pk), ticket.reference.lower()):
        response = client.get(reverse("portal:ticket", args=[ref]))
        assert response.status_code == 302 and response["Location"] == canonical


def test_ticket_page_shows_the_public_conversation_with_agent_names(client, world):
    ticket = factories.ticket(requester=world["ann"], body="First words")
    services.ticket_reply(ticket=ticket, by=Actor.agent(world["agent"]), body_text="We are on it")
    services.ticket_add_note(ticket=ticket, by=Actor.agent(world["agent"]), body_text="Customer is grumpy")
    client.force_login(world["ann_user"])
    page = text(client.get(reverse("portal:ticket", args=[ticket.reference])))
    assert "First words" in page and "We are on it" in page and "Agnes Agent" in page
    assert "Customer is grumpy" not in page


def test_reply_with_attachment_reopens_a_pending_ticket(client, world):
    ticket = factories.ticket(requester=world["ann"])
    services.ticket_reply(ticket=ticket, by=Actor.agent(world["agent"]), body_text="Which model?", status="pending")
    client.force_login(world["ann_user"])
    response = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]),
        {"nonce": fresh_nonce(), "body": "Model X", "attachments": [SimpleUploadedFile("photo.png", PNG)]},
    )
    message = Message.objects.filter(ticket=ticket).latest("id")
    assert response.status_code == 302 and response["Location"].endswith(f"#m-{message.pk}")
    assert message.author_contact == world["ann"] and message.channel == Channel.PORTAL
    assert message.kind == MessageKind.REPLY and message.attachments.get().filename == "photo.png"
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.last_customer_message_at == message.created_at


def test_the_same_reply_form_sent_twice_adds_one_reply(client, world):
    ticket = factories.ticket(requester=world["ann"])
    client.force_login(world["ann_user"])
    page = client.get(reverse("portal:ticket", args=[ticket.reference]))
    nonce = nonce_of(page)
    url = reverse("portal:ticket_reply", args=[ticket.reference])
    first = client.post(url, {"nonce": nonce, "body": "Only once"})
    second = client.post(url, {"nonce": nonce, "body": "Only once"})
    assert first.status_code == second.status_code == 302
    assert ticket.messages.filter(body_text="Only once").count() == 1
    assert client.post(url, {"body": "No nonce"}).status_code == 400


def test_empty_reply_is_a_form_error(client, world):
    ticket = factories.ticket(requester=world["ann"])
    client.force_login(world["ann_user"])
    response = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]), {"nonce": fresh_nonce(), "body": "  "}
    )
    assert response.status_code == 400 and "Write a message or attach a file." in text(response)
    assert ticket.messages.count() == 1


def test_closed_ticket_refuses_replies_and_offers_a_follow_up(client, world):
    ticket = factories.ticket(requester=world["ann"], subject="Old problem")
    services.ticket_change_status(ticket=ticket, by=Actor.agent(world["agent"]), status=Status.CLOSED)
    client.force_login(world["ann_user"])
    response = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]), {"nonce": fresh_nonce(), "body": "Again!"}
    )
    assert response.status_code == 400 and "open a follow-up request" in text(response)
    assert ticket.messages.count() == 1
    page = text(client.get(reverse("portal:ticket", args=[ticket.reference])))
    assert "Open a follow-up request" in page and reverse("portal:ticket_reply", args=[ticket.reference]) not in page

    form = new_form(client, follow_up=ticket.reference)
    assert f"Follow-up to {ticket.reference}: Old problem" in text(form)
    response = client.post(
        reverse("portal:ticket_new"),
        {"nonce": nonce_of(form), "follow_up": ticket.reference, "subject": "Back again", "description": "Again."},
    )
    follow_up = Ticket.objects.get(subject="Back again")
    assert response.status_code == 302
    assert TicketLink.objects.filter(source=follow_up, target=ticket, kind=LinkKind.FOLLOW_UP).exists()
    assert follow_up.channel == Channel.PORTAL and follow_up.requester == world["ann"]
    assert "Follows up" in text(client.get(reverse("portal:ticket", args=[follow_up.reference])))


def test_mark_as_solved_then_reopen_inside_the_window(client, world):
    ticket = factories.ticket(requester=world["ann"])
    client.force_login(world["ann_user"])
    response = client.post(reverse("portal:ticket_close", args=[ticket.reference]))
    ticket.refresh_from_db()
    assert response.status_code == 302 and ticket.status == Status.SOLVED and ticket.solved_at is not None
    event = TicketEvent.objects.filter(ticket=ticket, action=EventAction.STATUS).latest("id")
    assert event.actor_contact == world["ann"] and event.channel == Channel.PORTAL

    # Sent twice (double click, two tabs, a retry): no error and no second change, just a note.
    events = TicketEvent.objects.filter(ticket=ticket).count()
    again = client.post(reverse("portal:ticket_close", args=[ticket.reference]), follow=True)
    assert again.status_code == 200 and "already marked as solved" in text(again)
    assert TicketEvent.objects.filter(ticket=ticket).count() == events

    response = client.post(reverse("portal:ticket_reopen", args=[ticket.reference]))
    ticket.refresh_from_db()
    assert response.status_code == 302 and ticket.status == Status.OPEN and ticket.solved_at is None
    again = client.post(reverse("portal:ticket_reopen", args=[ticket.reference]), follow=True)
    assert again.status_code == 200 and "already open" in text(again) and "follow-up" not in text(again)
    reopen_events = TicketEvent.objects.filter(ticket=ticket, action=EventAction.STATUS, new_value=Status.OPEN)
    assert reopen_events.count() == 1 and reopen_events.get().actor_contact == world["ann"]


def test_reopen_after_the_window_is_refused(client, world):
    DeskSettings.objects.update_or_create(id=1, defaults={"portal_reopen_days": 3})
    ticket = factories.ticket(requester=world["ann"])
    services.ticket_change_status(ticket=ticket, by=Actor.agent(world["agent"]), status=Status.SOLVED)
    Ticket.objects.filter(pk=ticket.pk).update(solved_at=timezone.now() - timedelta(days=3, minutes=1))
    client.force_login(world["ann_user"])
    response = client.post(reverse("portal:ticket_reopen", args=[ticket.reference]))
    assert response.status_code == 400 and "can no longer be reopened" in text(response)
    reply = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]), {"nonce": fresh_nonce(), "body": "Still broken"}
    )
    assert reply.status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED and ticket.messages.count() == 1
    page = text(client.get(reverse("portal:ticket", args=[ticket.reference])))
    assert "solved more than 3 days ago" in page and "Open a follow-up request" in page


def test_reopen_window_comes_from_desk_settings(client, world):
    DeskSettings.objects.update_or_create(id=1, defaults={"portal_reopen_days": 30})
    ticket = factories.ticket(requester=world["ann"])
    services.ticket_change_status(ticket=ticket, by=Actor.agent(world["agent"]), status=Status.SOLVED)
    Ticket.objects.filter(pk=ticket.pk).update(solved_at=timezone.now() - timedelta(days=20))
    client.force_login(world["ann_user"])
    assert "Reopen" in text(client.get(reverse("portal:ticket", args=[ticket.reference])))
    reply = client.post(
        reverse("portal:ticket_reply", args=[ticket.reference]), {"nonce": fresh_nonce(), "body": "Back again"}
    )
    ticket.refresh_from_db()
    assert reply.status_code == 302 and ticket.status == Status.OPEN  # a reply inside the window reopens


def test_attachment_download_is_never_rendered_in_place(client, world):
    ticket = factories.ticket(requester=world["ann"])
    message = services.ticket_reply(
        ticket=ticket,
        by=Actor.agent(world["agent"]),
        body_text="See attached",
        attachments=[NewAttachment('../x"evil.html', b"<html><script>alert(1)</script></html>")],
    )
    attachment = message.attachments.get()
    client.force_login(world["ann_user"])
    response = client.get(reverse("portal:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="x_evil.html"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"].split(";")[0] in ("text/plain", "application/octet-stream")
    assert b"".join(response.streaming_content) == b"<html><script>alert(1)</script></html>"


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_posts_of_one_form_open_one_ticket(world, monkeypatch):
    """The second request waits on the first one's nonce row and then answers with its ticket."""
    import threading
    import time

    from django.db import connection
    from django.test import Client

    original = services.ticket_create

    def slow_create(**kwargs):
        time.sleep(0.4)  # the first request holds its nonce row while the second one arrives
        return original(**kwargs)

    monkeypatch.setattr(services, "ticket_create", slow_create)
    nonce = "same-form-nonce-1234567890"
    barrier = threading.Barrier(2)
    locations: list[str] = []

    def post() -> None:
        try:
            client = Client()
            client.force_login(world["ann_user"])
            barrier.wait()
            response = client.post(
                reverse("portal:ticket_new"), {"nonce": nonce, "subject": "Race", "description": "Click click"}
            )
            locations.append(response["Location"])
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ticket = Ticket.objects.get()
    assert locations == [reverse("portal:ticket", args=[ticket.reference])] * 2


def test_a_merged_away_request_points_to_its_target_instead_of_offering_a_follow_up(client, world):
    source = factories.ticket(requester=world["ann"], subject="Printer again")
    target = factories.ticket(requester=world["ann"], subject="Printer")
    services.ticket_merge(source=source, target=target, by=Actor.agent(world["agent"]))
    client.force_login(world["ann_user"])
    page = text(client.get(reverse("portal:ticket", args=[source.reference])))
    assert f"merged into {target.reference}" in page
    assert reverse("portal:ticket", args=[target.reference]) in page
    assert "Open a follow-up request" not in page
