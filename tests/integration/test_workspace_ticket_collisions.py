"""Working a ticket together: who else is on it (presence in Redis), replies and notes that do not
cross an unseen message, and @mentions in notes that notify colleagues."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import AgentProfile
from tests import factories
from tickets import presence, services, sla
from tickets.choices import MessageKind
from tickets.models import Message, Notification, Ticket
from tickets.models.sla import EmailStatus, NotificationKind
from tickets.services import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_presence_keys(monkeypatch):
    """Presence lives in Redis across test runs: each test reads and writes its own keys."""
    monkeypatch.setattr(presence, "KEY_PREFIX", f"test-presence-{uuid.uuid4().hex}")


@pytest.fixture
def desk():
    team = factories.team("Support")
    ana = factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Alves")
    ben = factories.agent(teams=[team], username="ben", first_name="Ben", last_name="Miller")
    requester = factories.contact(name="Rita Requester", email="rita@customer.example")
    ticket = factories.ticket(subject="Printer on fire", team=team, requester=requester, body="It burns.")
    return team, ana, ben, ticket


def url(name: str, ticket: Ticket) -> str:
    return reverse(f"desk:{name}", args=[ticket.reference])


# --- Presence -------------------------------------------------------------------------------------


def test_presence_lists_others_with_their_state_and_forgets_them_after_30_seconds():
    t0 = time.time()
    presence.presence_touch(7, 1, "viewing", now=t0)
    presence.presence_touch(7, 2, "replying", now=t0)
    presence.presence_touch(8, 3, "viewing", now=t0)  # another ticket
    assert [(p.user_id, p.state) for p in presence.presence_others(7, 1, now=t0 + 1)] == [(2, "replying")]
    assert [(p.user_id, p.state) for p in presence.presence_others(7, 2, now=t0 + 1)] == [(1, "viewing")]
    # A "viewing" poll while still typing does not hide that the agent is replying...
    presence.presence_touch(7, 2, "viewing", now=t0 + 10)
    assert [p.state for p in presence.presence_others(7, 1, now=t0 + 11)] == ["replying"]
    # ...but 30 s after the last keystroke they are only viewing, and 30 s after the last poll gone.
    presence.presence_touch(7, 2, "viewing", now=t0 + 31)
    assert [p.state for p in presence.presence_others(7, 1, now=t0 + 32)] == ["viewing"]
    assert presence.presence_others(7, 1, now=t0 + 62) == []
    presence.presence_leave(7, 1)
    assert presence.presence_others(7, 2, now=t0 + 1) == []
    with pytest.raises(ValueError, match="Unknown presence state"):
        presence.presence_touch(7, 1, "typing")  # type: ignore[arg-type]


def test_presence_route_shows_who_is_viewing_and_replying(client, desk):
    _team, ana, ben, ticket = desk
    carla = factories.agent(teams=[_team], username="carla", first_name="Carla", last_name="Jones")
    client.force_login(ben)
    assert client.get(url("ticket-presence", ticket), {"state": "replying"}).status_code == 200
    client.force_login(carla)
    assert client.get(url("ticket", ticket)).status_code == 200  # opening the page counts as viewing
    client.force_login(ana)
    response = client.get(url("ticket-presence", ticket))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ben Miller is replying" in html
    assert "Carla Jones is viewing" in html
    assert "Ana Alves" not in html
    assert html.index("Ben Miller") < html.index("Carla Jones")  # those replying first
    # The full page shows the same, and polls every 10 s.
    page = client.get(url("ticket", ticket)).content.decode()
    assert "Ben Miller is replying" in page
    assert 'hx-trigger="every 10s"' in page
    assert f'hx-get="{url("ticket-presence", ticket)}?state=replying"' in page


def test_presence_poll_says_when_a_new_message_arrived(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    seen = client.get(url("ticket", ticket)).context["newest_message_id"]
    quiet = client.get(url("ticket-presence", ticket), {"seen": seen}).content.decode()
    assert "new message" not in quiet
    services.ticket_reply(ticket=ticket, by=Actor.customer(ticket.requester, "email"), body_text="Any news?")
    noisy = client.get(url("ticket-presence", ticket), {"seen": seen}).content.decode()
    assert "A new message arrived: reload to read it." in noisy


# --- Not answering over an unseen message ---------------------------------------------------------


def test_reply_is_held_back_when_the_customer_wrote_meanwhile_and_sent_when_confirmed(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    seen = client.get(url("ticket", ticket)).context["newest_message_id"]
    # While ana types, the customer writes again.
    services.ticket_reply(ticket=ticket, by=Actor.customer(ticket.requester, "email"), body_text="Now it smokes!")
    typed = {"reply-body": "Please unplug it.", "reply-seen": seen, "reply-cc": "", "reply-cc_shown": ""}
    response = client.post(url("ticket-reply", ticket), typed)
    assert response.status_code == 409
    assert not Message.objects.filter(ticket=ticket, author_user=ana).exists()
    html = response.content.decode()
    assert "Not sent: a new message arrived while you were writing." in html
    assert "Now it smokes!" in html.split('id="conflict"')[1].split("</div>")[0]
    assert "Please unplug it.</textarea>" in html  # the typed text is kept
    assert 'name="reply-send_anyway"' in html
    assert f'name="reply-seen" value="{seen}"' in html
    # Sending again without ticking "send anyway" is held back again; ticking it sends.
    assert client.post(url("ticket-reply", ticket), typed).status_code == 409
    response = client.post(url("ticket-reply", ticket), {**typed, "reply-send_anyway": "on"})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, author_user=ana, body_text="Please unplug it.").count() == 1


def test_reply_goes_out_at_once_when_nothing_new_arrived(client, desk):
    _team, ana, _ben, ticket = desk
    client.force_login(ana)
    seen = client.get(url("ticket", ticket)).context["newest_message_id"]
    response = client.post(url("ticket-reply", ticket), {"reply-body": "On it.", "reply-seen": seen})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, author_user=ana).count() == 1


def test_note_is_held_back_by_a_colleagues_note_too(client, desk):
    _team, ana, ben, ticket = desk
    client.force_login(ana)
    seen = client.get(url("ticket", ticket)).context["newest_message_id"]
    services.ticket_add_note(ticket=ticket, by=Actor.agent(ben), body_text="I already called them.")
    typed = {"note-body": "Shall I call them?", "note-seen": seen}
    response = client.post(url("ticket-note", ticket), typed)
    assert response.status_code == 409
    assert "I already called them." in response.content.decode()
    assert "Shall I call them?</textarea>" in response.content.decode()
    assert not Message.objects.filter(ticket=ticket, author_user=ana).exists()
    assert client.post(url("ticket-note", ticket), {**typed, "note-send_anyway": "on"}).status_code == 302
    assert Message.objects.filter(ticket=ticket, author_user=ana, kind=MessageKind.NOTE).count() == 1


# --- @mentions ------------------------------------------------------------------------------------


def test_note_mentions_notify_each_active_agent_who_may_see_the_ticket_once(
    client, desk, django_capture_on_commit_callbacks
):
    team, ana, ben, ticket = desk
    carla = factories.agent(teams=[team], username="carla", first_name="Carla", last_name="Jones")
    dora = factories.agent(teams=[factories.team("Billing")], username="dora")  # cannot see the ticket
    ed = factories.agent(teams=[team], username="ed")
    AgentProfile.objects.filter(user=ed).update(is_active=False)
    customer = factories.customer_user(factories.contact(), username="cust")
    client.force_login(ana)
    seen = client.get(url("ticket", ticket)).context["newest_message_id"]
    body = 'Hi @ben and @"carla  JONES", also @dora, @ed, @cust, @ana and @nobody. Mail ana@example.com. @Ben again.'
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("ticket-note", ticket), {"note-body": body, "note-seen": seen})
    assert response.status_code == 302
    note = Message.objects.get(ticket=ticket, kind=MessageKind.NOTE)
    notifications = Notification.objects.filter(message=note).order_by("recipient__username")
    assert [n.recipient for n in notifications] == [ben, carla]
    assert {n.kind for n in notifications} == {NotificationKind.MENTION}
    assert all(n.ticket_id == ticket.pk for n in notifications)
    assert notifications[0].title.startswith(f"{ticket.reference}: Ana Alves mentioned you in a note")
    # Emailed by the notification sender, once each.
    assert sorted(m.to[0] for m in mail.outbox) == ["ben@desk.example", "carla@desk.example"]
    assert {n.email_status for n in Notification.objects.filter(message=note)} == {EmailStatus.SENT}
    assert sla.notifications_send_emails() == 0
    # The flash says who was told; mentioned people outside the ticket's reach were not.
    page = client.get(response["Location"]).content.decode()
    assert "Note added; notified: Ben Miller, Carla Jones." in page
    assert dora and customer


def test_notifying_a_note_twice_never_duplicates(desk):
    _team, ana, ben, ticket = desk
    note, first = services.ticket_add_note_mentioning(ticket=ticket, by=Actor.agent(ana), body_text="@ben look")
    assert [n.recipient for n in first] == [ben]
    again = services._notify_mentions(ticket, note, Actor.agent(ana))
    assert [n.pk for n in again] == [n.pk for n in first]
    assert Notification.objects.filter(kind=NotificationKind.MENTION).count() == 1


def test_mentions_in_a_refused_note_notify_nobody(desk):
    _team, ana, _ben, ticket = desk
    services.ticket_add_note(ticket=ticket, by=Actor.agent(ana), body_text="first")
    with pytest.raises(services.ConversationMoved):
        services.ticket_add_note_mentioning(
            ticket=ticket, by=Actor.agent(ana), body_text="@ben look", seen_message_id=0
        )
    assert not Notification.objects.exists()
