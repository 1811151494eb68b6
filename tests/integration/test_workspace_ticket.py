"""The agent workspace's ticket page: one timeline, actions through the services, scoping, SLA, queries."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AgentRole, CustomFieldEntity
from accounts.models import CustomFieldDefinition
from tests import factories
from tests.integration.sla_support import policy
from tickets import services
from tickets.choices import DeliveryStatus, EventAction, MessageKind, Priority, Status
from tickets.models import Attachment, Message, Ticket, TicketEvent, TicketLink, TicketType
from tickets.services import Actor, NewAttachment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_presence_keys(monkeypatch):
    """Presence lives in Redis across test runs: each test reads and writes its own keys."""
    import uuid

    from tickets import presence

    monkeypatch.setattr(presence, "KEY_PREFIX", f"test-presence-{uuid.uuid4().hex}")


@pytest.fixture
def desk():
    team = factories.team("Support")
    ana = factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Alves")
    ben = factories.agent(teams=[team], username="ben", first_name="Ben", last_name="Miller")
    requester = factories.contact(name="Rita Requester", email="rita@customer.example")
    ticket = factories.ticket(subject="Printer on fire", team=team, requester=requester, body="It burns.")
    return team, ana, ben, ticket


def url(name: str, ticket: Ticket, *args: object) -> str:
    return reverse(f"desk:{name}", args=[ticket.reference, *args])


def page(client, ticket):
    response = client.get(url("ticket", ticket))
    assert response.status_code == 200
    return response


def text_of(response) -> str:
    return response.content.decode()


# --- The timeline ---------------------------------------------------------------------------------


def test_timeline_shows_replies_notes_calls_and_events_in_one_list_oldest_first(client, desk):
    _team, ana, _ben, ticket = desk
    by = Actor.agent(ana)
    services.ticket_reply(ticket=ticket, by=by, body_text="We are on it.")
    services.ticket_add_note(ticket=ticket, by=by, body_text="Checked the fuser.")
    services.ticket_log_interaction(
        ticket=ticket,
        by=by,
        kind=MessageKind.PHONE_CALL,
        body_text="Called Rita back.",
        occurred_at=timezone.now() - timedelta(minutes=5),
        duration_minutes=12,
    )
    services.ticket_change_priority(ticket=ticket, by=by, priority=Priority.HIGH)
    client.force_login(ana)
    response = page(client, ticket)
    timeline = response.context["timeline"]
    kinds = [
        e.message.kind if e.is_message else f"event:{e.event.action}"
        for e in timeline
    ]  # fmt: skip
    assert kinds == [
        "reply",
        "event:created",
        "reply",
        "event:status",
        "note",
        "phone_call",
        "event:priority",
    ]
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    html = text_of(response)
    # Oldest first on the page too, notes visibly distinct, calls with their duration.
    assert html.index("It burns.") < html.index("We are on it.") < html.index("Checked the fuser.")
    assert 'class="entry message message-note by-agent"' in html
    assert "12 minutes" in html
    assert "changed the priority from Normal to High" in html
    # Message-added events are not repeated next to their messages.
    assert not any(not e.is_message and e.event.action == EventAction.MESSAGE_ADDED for e in timeline)


def test_reply_delivery_state_and_failure_reason_are_shown(client, desk):
    _team, ana, _ben, ticket = desk
    queued = services.ticket_reply(ticket=ticket, by=Actor.agent(ana), body_text="First answer")
    failed = services.ticket_reply(ticket=ticket, by=Actor.agent(ana), body_text="Second answer")
    Message.objects.filter(pk=failed.pk).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error="550 mailbox unavailable", delivery_attempts=5
    )
    client.force_login(ana)
    html = text_of(page(client, ticket))
    assert re.search(rf'id="m-{queued.pk}".*?Email queued', html, re.S)
    failed_block = html[html.index(f'id="m-{failed.pk}"') :]
    assert "Email failed" in failed_block
    assert "550 mailbox unavailable" in failed_block
    assert "5 attempts" in failed_block


def test_quoted_text_is_one_click_away_and_html_is_shown_only_as_stored_sanitized(client, desk):
    _team, ana, _ben, ticket = desk
    message = ticket.messages.get()
    Message.objects.filter(pk=message.pk).update(
        body_text="New text <script>alert(1)</script>",
        body_html="<p>New <b>text</b></p>",
        quoted_text="> On Monday you wrote: old stuff",
    )
    client.force_login(ana)
    html = text_of(page(client, ticket))
    assert '<details class="quoted"><summary>Show quoted text</summary>' in html
    assert "&gt; On Monday you wrote: old stuff" in html
    # Text by default, escaped; the sanitized HTML one click away.
    assert "New text &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    formatted = '<summary>Show formatted version</summary><div class="message-html"><p>New <b>text</b></p>'
    assert '<details class="html-body">' + formatted in html


def test_keyboard_shortcut_targets_are_on_the_page(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    html = text_of(page(client, ticket))
    for key in ("r", "n", "a", "s"):
        assert f'data-key="{key}"' in html, key
    assert re.search(r'<textarea name="reply-body"[^>]*data-key="r"', html)
    assert re.search(r'<button type="submit" name="assignee" value="me" data-key="a"', html)
    assert re.search(r'<button type="submit" name="status" value="solved" data-key="s"', html)
    assert 'id="customer-sidebar"' in html
    assert f'hx-get="{reverse("desk:ticket-sidebar", args=[ticket.reference])}"' in html


def test_ticket_number_without_prefix_redirects_to_the_canonical_address(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    response = client.get(reverse("desk:ticket", args=[str(ticket.pk)]))
    assert response.status_code == 302
    assert response["Location"] == url("ticket", ticket)


# --- Access ---------------------------------------------------------------------------------------


def test_every_ticket_route_is_404_for_a_ticket_the_agent_may_not_see(client, desk):
    _team, _ana, _ben, ticket = desk
    outsider = factories.agent(teams=[factories.team("Billing")], username="olga")
    client.force_login(outsider)
    for name in ("ticket", "ticket-sla", "ticket-presence"):
        assert client.get(url(name, ticket)).status_code == 404, name
    posts = {
        "ticket-reply": {"reply-body": "hi", "reply-seen": "999999"},
        "ticket-note": {"note-body": "hi", "note-seen": "999999"},
        "ticket-log": {"log-kind": "phone_call", "log-body": "hi"},
        "ticket-merge": {"merge-target": ticket.reference, "merge-confirm": "1"},
        "ticket-link": {"link-target": ticket.reference, "link-kind": "related"},
    }
    for name, data in posts.items():
        assert client.post(url(name, ticket), data).status_code == 404, name
    for prop, data in {"status": {"status": "solved"}, "assignee": {"assignee": "me"}, "tags": {"tags": "x"}}.items():
        assert client.post(url("ticket-change", ticket, prop), data).status_code == 404, prop
    assert ticket.messages.count() == 1
    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW
    assert Ticket.objects.get(pk=ticket.pk).assignee_id is None


@pytest.mark.parametrize("key", ["²", "¹²", "١٢", "99999999999999999999", "SD-99999999999999999999", "SD-0"])
def test_odd_ticket_keys_are_404_not_500(client, desk, key):
    _team, ana, _ben, _ticket = desk
    client.force_login(ana)
    assert client.get(f"/desk/tickets/{key}/").status_code == 404


def test_customers_get_404_and_anonymous_visitors_are_sent_to_login(client, desk):
    _team, _ana, _ben, ticket = desk
    customer = factories.customer_user(ticket.requester)
    client.force_login(customer)
    assert client.get(url("ticket", ticket)).status_code == 404
    assert client.post(url("ticket-reply", ticket), {"reply-body": "hi"}).status_code == 404
    client.logout()
    response = client.get(url("ticket", ticket))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("desk:login"))


def test_attachment_downloads_only_when_visible_and_never_render_in_the_browser(client, desk):
    team, ana, _ben, ticket = desk
    note = services.ticket_add_note(
        ticket=ticket,
        by=Actor.agent(ana),
        body_text="Log attached",
        attachments=[NewAttachment(filename="page.html", content=b"<html><script>alert(1)</script></html>")],
    )
    attachment = note.attachments.get()
    client.force_login(ana)
    html = text_of(page(client, ticket))
    link = reverse("desk:attachment", args=[attachment.pk])
    assert f'href="{link}"' in html
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "page.html" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<html><script>alert(1)</script></html>"
    # Another team's agent and the customer (even for attachments of public replies) get nothing.
    client.force_login(factories.agent(teams=[factories.team("Billing")]))
    assert client.get(link).status_code == 404
    client.force_login(factories.customer_user(ticket.requester))
    public = ticket.messages.filter(kind=MessageKind.REPLY).first()
    Attachment.objects.filter(pk=attachment.pk).update(message=public)
    assert client.get(link).status_code == 404
    assert team


# --- Reply, note, call ----------------------------------------------------------------------------


def test_reply_is_emailed_to_requester_and_cc_with_its_attachment(client, desk, django_capture_on_commit_callbacks):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    seen = page(client, ticket).context["newest_message_id"]
    upload = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4 fake", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("ticket-reply", ticket),
            {
                "reply-body": "Here is the invoice.",
                "reply-seen": seen,
                "reply-cc": "Boss <boss@customer.example>",
                "reply-cc_shown": "",
                "reply-status": "pending",
                "reply-attachments": upload,
            },
        )
    assert response.status_code == 302
    reply = Message.objects.filter(ticket=ticket, author_user=ana).get()
    assert response["Location"] == url("ticket", ticket) + f"#m-{reply.pk}"
    reply.refresh_from_db()
    assert reply.kind == MessageKind.REPLY
    assert reply.delivery_status == DeliveryStatus.SENT
    assert [a.filename for a in reply.attachments.all()] == ["invoice.pdf"]
    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING
    assert [c.name for c in ticket.cc.all()] == ["Boss"]
    [email] = mail.outbox
    assert email.to == ["rita@customer.example"]
    assert email.cc == ["boss@customer.example"]
    assert email.body == "Here is the invoice."
    assert [a[0] for a in email.attachments] == ["invoice.pdf"]


def test_reply_leaves_cc_alone_unless_the_agent_edited_it(client, desk):
    _team, ana, _ben, ticket = desk
    services.ticket_set_cc_addresses(ticket=ticket, by=Actor.agent(ana), addresses=["cc1@customer.example"])
    client.force_login(ana)
    context = page(client, ticket).context
    shown = context["reply_form"].initial["cc"]
    assert shown == "cc1@customer.example"
    # Someone adds a CC meanwhile; this agent's untouched field must not remove it.
    services.ticket_set_cc_addresses(
        ticket=ticket, by=Actor.agent(ana), addresses=["cc1@customer.example", "cc2@customer.example"]
    )
    response = client.post(
        url("ticket-reply", ticket),
        {"reply-body": "Hi", "reply-cc": shown, "reply-cc_shown": shown, "reply-send_anyway": "on"},
    )
    assert response.status_code == 302
    assert sorted(c.emails.get().email for c in ticket.cc.all()) == ["cc1@customer.example", "cc2@customer.example"]


def test_empty_or_refused_reply_is_a_form_error_and_changes_nothing(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    response = client.post(
        url("ticket-reply", ticket), {"reply-body": "  ", "reply-seen": 0, "reply-send_anyway": "on"}
    )
    assert response.status_code == 400
    assert response.context["reply_form"].errors["__all__"] == ["Write a message or attach a file."]
    response = client.post(
        url("ticket-reply", ticket),
        {"reply-body": "Hi", "reply-cc": "not an address", "reply-send_anyway": "on"},
    )
    assert response.status_code == 400
    assert "is not an email address" in response.context["reply_form"].errors["cc"][0]
    assert ticket.messages.count() == 1
    services.ticket_change_status(ticket=ticket, by=Actor.agent(ana), status=Status.CLOSED)
    response = client.post(url("ticket-reply", ticket), {"reply-body": "Too late", "reply-send_anyway": "on"})
    assert response.status_code == 400
    assert "is closed; you cannot reply to it" in text_of(response)  # as a flash: closed tickets have no composer
    assert ticket.messages.count() == 1


def test_logging_a_call_records_when_and_how_long_and_refuses_the_future(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    # The agent types local time in their own time zone.
    zone = ZoneInfo(ana.agent_profile.time_zone or settings.TIME_ZONE)
    when = timezone.localtime(timezone.now() - timedelta(hours=1), zone).replace(second=0, microsecond=0)
    response = client.post(
        url("ticket-log", ticket),
        {
            "log-kind": "meeting",
            "log-body": "On-site visit",
            "log-occurred_at": when.strftime("%Y-%m-%dT%H:%M"),
            "log-duration_minutes": "45",
        },
    )
    assert response.status_code == 302
    meeting = ticket.messages.get(kind=MessageKind.MEETING)
    assert meeting.occurred_at == when
    assert meeting.duration_minutes == 45
    future = timezone.localtime(timezone.now() + timedelta(days=1), zone).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url("ticket-log", ticket), {"log-kind": "phone_call", "log-body": "Later", "log-occurred_at": future}
    )
    assert response.status_code == 400
    assert response.context["log_form"].errors["occurred_at"] == ["A logged call or meeting cannot lie in the future."]
    bad = client.post(
        url("ticket-log", ticket), {"log-kind": "phone_call", "log-body": "x", "log-duration_minutes": "-3"}
    )
    assert bad.status_code == 400
    assert ticket.messages.filter(kind=MessageKind.PHONE_CALL).count() == 0


# --- Properties -----------------------------------------------------------------------------------


def test_assign_to_me_solve_and_the_property_forms_change_the_ticket_through_the_services(client, desk):
    team, ana, ben, ticket = desk
    billing = factories.team("Billing")
    billing_agent = factories.agent(teams=[billing], username="bill")
    kind = TicketType.objects.create(name="Incident")
    client.force_login(ana)
    change = lambda prop, data: client.post(url("ticket-change", ticket, prop), data)  # noqa: E731

    assert change("assignee", {"assignee": "me"}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee == ana
    assert change("assignee", {"assignee": ben.pk}).status_code == 302
    assert change("priority", {"priority": "urgent"}).status_code == 302
    assert change("type", {"type": kind.pk}).status_code == 302
    assert change("tags", {"tags": "Hardware, fire"}).status_code == 302
    assert change("tags", {"tags": "fire, urgent-ish"}).status_code == 302
    assert change("cc", {"cc": "a@customer.example\nB <b@customer.example>"}).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.priority, ticket.type) == (ben, Priority.URGENT, kind)
    assert sorted(t.name for t in ticket.tags.all()) == ["fire", "urgent-ish"]
    assert sorted(c.emails.get().email for c in ticket.cc.all()) == ["a@customer.example", "b@customer.example"]
    assert change("status", {"status": "solved"}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    # Moving to a team the assignee is not in unassigns (the service's rule); then ana may no longer see it.
    assert change("team", {"team": billing.pk}).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee) == (billing, None)
    assert client.get(url("ticket", ticket)).status_code == 404
    actions = list(TicketEvent.objects.filter(ticket=ticket, actor=ana).values_list("action", flat=True))
    for action in ("assignee", "priority", "type", "tags", "cc", "team", "status"):
        assert action in actions
    assert billing_agent


def test_refused_property_changes_show_the_reason_and_change_nothing(client, desk):
    team, ana, _ben, ticket = desk
    outsider = factories.agent(teams=[factories.team("Billing")], username="olga")
    client.force_login(ana)
    # Not in the ticket's team: not in the list, so a form error.
    response = client.post(url("ticket-change", ticket, "assignee"), {"assignee": outsider.pk})
    assert response.status_code == 400
    assert "assignee" in response.context["props"]["assignee"].errors
    # An illegal transition: the state machine's reason, shown as a flash and on the form.
    response = client.post(url("ticket-change", ticket, "status"), {"status": "closed"})
    response = client.post(url("ticket-change", ticket, "status"), {"status": "new"})
    assert response.status_code == 400
    assert response.context["props"]["status"].errors["status"]
    assert "Nothing was changed" in text_of(response)
    # Tags the service refuses.
    closed = factories.ticket(team=team)
    services.ticket_change_status(ticket=closed, by=Actor.agent(ana), status=Status.CLOSED)
    response = client.post(url("ticket-change", closed, "assignee"), {"assignee": "me"})
    assert response.status_code == 302
    assert Ticket.objects.get(pk=closed.pk).assignee_id is None
    assert "closed" in text_of(client.get(response["Location"]))
    assert client.post(url("ticket-change", ticket, "nonsense"), {}).status_code == 404


def test_custom_fields_are_typed_validated_and_saved(client, desk):
    _team, ana, _ben, ticket = desk
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="serial", label="Serial number", field_type="text", required=True
    )
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="units", label="Units", field_type="integer", min_value=1
    )
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="sla_ok", label="Warranty", field_type="boolean"
    )
    client.force_login(ana)
    html = text_of(page(client, ticket))
    assert 'name="cf-serial"' in html
    assert 'name="cf-units"' in html
    response = client.post(url("ticket-change", ticket, "fields"), {"cf-serial": "", "cf-units": "zero"})
    assert response.status_code == 400
    errors = response.context["props"]["fields"].errors
    assert errors["serial"] == ["This field is required."]
    assert errors["units"] == ["Enter a whole number."]
    ticket.refresh_from_db()
    assert ticket.custom_fields == {}
    response = client.post(
        url("ticket-change", ticket, "fields"), {"cf-serial": "XJ-9", "cf-units": "3", "cf-sla_ok": "true"}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.custom_fields == {"serial": "XJ-9", "units": 3, "sla_ok": True}
    assert TicketEvent.objects.filter(ticket=ticket, action=EventAction.CUSTOM_FIELD).count() == 3


# --- Merge and link -------------------------------------------------------------------------------


def test_merge_asks_for_confirmation_then_moves_the_conversation(client, desk):
    team, ana, _ben, ticket = desk
    target = factories.ticket(subject="Printer broken", team=team)
    client.force_login(ana)
    response = client.post(url("ticket-merge", ticket), {"merge-target": target.reference.lower()})
    assert response.status_code == 200
    assert response.context["merge_target"] == target
    assert f"Merge {ticket.reference} into {target.reference}?" in text_of(response)
    ticket.refresh_from_db()
    assert ticket.merged_into_id is None
    response = client.post(url("ticket-merge", ticket), {"merge-target": target.reference, "merge-confirm": "1"})
    assert response.status_code == 302
    assert response["Location"] == url("ticket", target)
    ticket.refresh_from_db()
    assert (ticket.merged_into_id, ticket.status) == (target.pk, Status.CLOSED)
    merged_page = text_of(page(client, target))
    assert "It burns." in merged_page
    assert f"merged {ticket.reference} (1 messages) into this ticket" in merged_page
    source_page = text_of(page(client, ticket))
    assert "This ticket was merged into" in source_page


def test_merging_two_customers_tickets_copies_nobody_unless_the_agent_asks(client, desk):
    team, ana, _ben, ticket = desk
    stranger_ticket = factories.ticket(subject="Other customer's printer", team=team)
    assert stranger_ticket.requester_id != ticket.requester_id
    client.force_login(ana)
    response = client.post(url("ticket-merge", ticket), {"merge-target": stranger_ticket.reference})
    assert response.context["merge_same_customer"] is False
    assert 'name="merge-copy_people" value="1" checked' not in response.content.decode()
    client.post(url("ticket-merge", ticket), {"merge-target": stranger_ticket.reference, "merge-confirm": "1"})
    ticket.refresh_from_db()
    assert ticket.merged_into_id == stranger_ticket.pk
    # The first customer does not become a reader of the other customer's conversation.
    assert not stranger_ticket.cc_links.filter(contact_id=ticket.requester_id).exists()


def test_merging_a_customers_own_tickets_proposes_copying_and_copies_when_asked(client, desk):
    team, ana, _ben, ticket = desk
    cc = factories.contact(name="Colleague")
    services.ticket_update_cc(ticket=ticket, by=Actor.agent(ana), add=[cc])
    same_customer = factories.ticket(subject="Same printer again", team=team, requester=ticket.requester)
    client.force_login(ana)
    response = client.post(url("ticket-merge", ticket), {"merge-target": same_customer.reference})
    assert response.context["merge_same_customer"] is True
    assert 'name="merge-copy_people" value="1" checked' in response.content.decode()
    client.post(
        url("ticket-merge", ticket),
        {"merge-target": same_customer.reference, "merge-confirm": "1", "merge-copy_people": "1"},
    )
    assert same_customer.cc_links.filter(contact=cc).exists()


def test_merge_into_itself_an_invisible_or_unknown_ticket_is_refused(client, desk):
    _team, ana, _ben, ticket = desk
    hidden = factories.ticket(team=factories.team("Billing"))
    client.force_login(ana)
    for target, error in (
        (ticket.reference, "cannot be merged into itself"),
        (hidden.reference, "that you can see"),
        ("SD-99999999", "that you can see"),
        ("garbage", "that you can see"),
    ):
        response = client.post(url("ticket-merge", ticket), {"merge-target": target, "merge-confirm": "1"})
        assert response.status_code == 400, target
        assert error in response.context["merge_form"].errors["target"][0], target
    ticket.refresh_from_db()
    assert ticket.merged_into_id is None
    assert hidden.merged_tickets.count() == 0


def test_link_related_ticket_shows_on_both_tickets(client, desk):
    team, ana, _ben, ticket = desk
    other = factories.ticket(subject="Second printer", team=team)
    client.force_login(ana)
    response = client.post(url("ticket-link", ticket), {"link-target": other.reference, "link-kind": "related"})
    assert response.status_code == 302
    assert TicketLink.objects.filter(source=ticket, target=other, kind="related").exists()
    assert [(str(k), t) for k, t in page(client, ticket).context["links"]] == [("related to", other)]
    assert [t for _k, t in page(client, other).context["links"]] == [ticket]
    response = client.post(url("ticket-link", ticket), {"link-target": ticket.reference, "link-kind": "related"})
    assert response.status_code == 400
    assert "cannot be linked to itself" in response.context["link_form"].errors["target"][0]


# --- SLA ------------------------------------------------------------------------------------------


def test_sla_countdowns_per_running_target_with_the_explanation_one_click_away(client, desk):
    team, ana, _ben, _ticket = desk
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240)})
    ticket = factories.ticket(subject="Timed", team=team)
    client.force_login(ana)
    response = page(client, ticket)
    clocks = response.context["clocks"]
    assert [str(c.label) for c in clocks] == ["First response", "Resolution"]
    assert [c.tone for c in clocks] == ["soon", "ok"]
    html = text_of(response)
    assert html.count("data-countdown") == 2
    assert "due in 59" in html or "due in 1" in html
    sla_url = url("ticket-sla", ticket)
    assert f'hx-get="{sla_url}"' in html
    assert f'<a href="{sla_url}">' in html
    fragment = client.get(sla_url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in text_of(fragment)
    assert "Policy “Round the clock” applies because no other rule matched" in text_of(fragment)
    full = client.get(sla_url)
    assert "<html" in text_of(full)
    # Answering meets the first response: it leaves the countdowns and shows as an SLA event.
    client.post(url("ticket-reply", ticket), {"reply-body": "Hello", "reply-send_anyway": "on"})
    response = page(client, ticket)
    assert [str(c.label) for c in response.context["clocks"]] == ["Resolution"]
    assert "SLA First response: met" in text_of(response)


def test_sla_breach_and_pause_show_on_the_page(client, desk, monkeypatch):
    team, ana, _ben, _ticket = desk
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240)})
    ticket = factories.ticket(subject="Late", team=team)
    from tickets import sla

    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    sla.sla_sweep()
    client.force_login(ana)
    response = page(client, ticket)
    first = response.context["clocks"][0]
    assert (str(first.label), first.tone) == ("First response", "breached")
    assert "overdue" in first.text
    assert "SLA First response: breached" in text_of(response)
    services.ticket_change_status(ticket=ticket, by=Actor.agent(ana), status=Status.PENDING)
    paused = page(client, ticket).context["clocks"]
    assert {c.tone for c in paused} == {"paused"}


# --- Queries --------------------------------------------------------------------------------------


def _conversation(ticket: Ticket, agent, pairs: int) -> None:
    customer = Actor.customer(ticket.requester, "email")
    for i in range(pairs):
        services.ticket_reply(
            ticket=ticket,
            by=Actor.agent(agent),
            body_text=f"Answer {i}",
            attachments=[NewAttachment(filename=f"a{i}.txt", content=f"file {i}".encode())],
        )
        services.ticket_reply(
            ticket=ticket,
            by=customer,
            body_text=f"Question {i}",
            attachments=[NewAttachment(filename=f"q{i}.txt", content=f"q {i}".encode())],
        )


def _dress(ticket: Ticket, agent, admin, assignee, other: Ticket) -> None:
    """Everything the page shows besides the conversation: assignee, tags, CCs, a link."""
    services.ticket_assign(ticket=ticket, by=Actor.agent(admin), assignee=assignee)
    services.ticket_update_tags(ticket=ticket, by=Actor.agent(agent), add=["a", "b"])
    services.ticket_set_cc_addresses(
        ticket=ticket, by=Actor.agent(agent), addresses=[f"x{ticket.pk}@c.example", f"y{ticket.pk}@c.example"]
    )
    services.ticket_link(source=ticket, target=other, by=Actor.agent(agent))


def test_ticket_page_queries_stay_constant_with_50_messages(client, desk, django_assert_max_num_queries):
    team, ana, ben, first = desk
    admin = factories.agent(role=AgentRole.ADMIN, username="root")
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240)})
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="serial", label="Serial", field_type="text"
    )
    big = factories.ticket(subject="Long story", team=team)
    small = factories.ticket(subject="Short story", team=team)
    _conversation(big, ana, 25)
    _conversation(small, ana, 1)
    _dress(big, ana, admin, ben, first)
    _dress(small, ana, admin, ben, first)
    assert big.messages.count() == 51
    assert Attachment.objects.filter(message__ticket=big).count() == 50
    client.force_login(ana)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url("ticket", big))  # warm the process caches (SLA policy, translations)
    with CaptureQueriesContext(connection) as few:
        client.get(url("ticket", small))
    with django_assert_max_num_queries(30), CaptureQueriesContext(connection) as many:
        response = client.get(url("ticket", big))
    assert response.status_code == 200
    assert len(response.context["timeline"]) > 75
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
