"""The ticket-event outbox: events written with the change, published after commit, never lost."""

from __future__ import annotations

import pytest
from django.core import mail
from kombu.exceptions import OperationalError

from tests import factories
from tickets import events, services, tasks
from tickets.choices import Channel, EventAction, Priority
from tickets.models import TicketEvent
from tickets.services import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(monkeypatch):
    """A subscriber to every action that records the events it is handed, in order."""
    seen: list[TicketEvent] = []
    handlers = {action: list(events.handlers_for(action)) for action in EventAction.values}
    for action in EventAction.values:
        handlers[action].append(seen.append)
    monkeypatch.setattr(events, "_handlers", handlers)
    return seen


@pytest.fixture
def desk():
    team = factories.team()
    a = factories.agent(teams=[team], username="anna", first_name="Anna", last_name="Admin")
    b = factories.agent(teams=[team], username="bert")
    ticket = factories.ticket(team=team, subject="Server room flooded")
    return team, a, b, ticket


def _unpublished() -> list[int]:
    return list(TicketEvent.objects.filter(published_at__isnull=True).order_by("id").values_list("pk", flat=True))


def test_service_changes_stay_unpublished_until_publish_pending_runs(desk, recorded):
    _, a, _, ticket = desk
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.HIGH)
    pending = _unpublished()
    assert len(pending) == 3  # created, first message, priority
    assert recorded == []

    assert events.publish_pending() == 3

    assert [e.pk for e in recorded] == pending
    assert [e.action for e in recorded] == [EventAction.CREATED, EventAction.MESSAGE_ADDED, EventAction.PRIORITY]
    assert _unpublished() == []
    assert not TicketEvent.objects.filter(published_at__isnull=True).exists()


def test_published_events_are_not_delivered_again(desk, recorded):
    events.publish_pending()
    delivered = len(recorded)
    assert events.publish_pending() == 0
    assert len(recorded) == delivered


def test_publish_pending_works_in_id_order_in_batches(desk, recorded):
    _, a, _, ticket = desk
    for priority in (Priority.HIGH, Priority.LOW, Priority.URGENT):
        services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=priority)
    pending = _unpublished()
    assert events.publish_pending(batch_size=2) == 2
    assert events.publish_pending(batch_size=2) == 2
    assert [e.pk for e in recorded] == pending[:4]
    assert _unpublished() == pending[4:]
    assert events.publish_all(batch_size=2) == 1
    assert [e.pk for e in recorded] == pending


def test_only_handlers_subscribed_to_the_action_are_called(desk, monkeypatch):
    _, a, _, ticket = desk
    calls: list[str] = []
    monkeypatch.setattr(
        events, "_handlers", {EventAction.PRIORITY: [lambda e: calls.append(f"{e.action}:{e.new_value}")]}
    )
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.URGENT)
    events.publish_pending()
    assert calls == ["priority:urgent"]


def test_a_failing_event_is_retried_later_without_blocking_the_others(desk, monkeypatch):
    _, a, _, ticket = desk
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.HIGH)
    pending = _unpublished()
    delivered: list[int] = []
    failures = {"left": 1}

    def flaky(event: TicketEvent) -> None:
        if event.action == EventAction.PRIORITY and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("webhook endpoint down")
        delivered.append(event.pk)

    monkeypatch.setattr(events, "_handlers", {action: [flaky] for action in EventAction.values})

    assert events.publish_pending() == len(pending)
    failed = TicketEvent.objects.get(pk=pending[-1])
    assert delivered == pending[:-1]
    assert _unpublished() == [failed.pk]
    assert failed.publish_attempts == 1
    assert failed.publish_error == "RuntimeError: webhook endpoint down"
    assert failed.publish_not_before is not None

    assert events.publish_pending() == 0  # backing off: not due yet
    TicketEvent.objects.filter(pk=failed.pk).update(publish_not_before=None)
    assert events.publish_pending() == 1
    assert delivered == pending
    assert _unpublished() == []


def test_an_event_that_keeps_failing_is_set_aside_with_its_error(desk, monkeypatch):
    _, a, _, ticket = desk
    events.publish_all()
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.HIGH)

    def broken(event: TicketEvent) -> None:
        raise ValueError("bad payload")

    monkeypatch.setattr(events, "_handlers", {EventAction.PRIORITY: [broken]})
    for _ in range(events.MAX_PUBLISH_ATTEMPTS):
        TicketEvent.objects.filter(published_at__isnull=True).update(publish_not_before=None)
        events.publish_pending()
    event = TicketEvent.objects.get(action=EventAction.PRIORITY)
    assert event.published_at is not None
    assert event.publish_attempts == events.MAX_PUBLISH_ATTEMPTS
    assert event.publish_error == "ValueError: bad payload"


def test_publishing_is_triggered_on_commit_through_the_celery_task(desk, recorded, django_capture_on_commit_callbacks):
    _, a, _, ticket = desk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.HIGH)
    assert len(callbacks) == 1
    assert _unpublished() == []
    assert recorded[-1].action == EventAction.PRIORITY


def test_no_op_change_queues_no_publishing(desk, django_capture_on_commit_callbacks):
    _, a, _, ticket = desk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.ticket_change_priority(ticket=ticket, by=Actor.agent(a), priority=Priority.NORMAL)
    assert callbacks == []


def test_assigning_to_another_agent_emails_them_once(desk, django_capture_on_commit_callbacks):
    _, a, b, ticket = desk
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=b)

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["bert@desk.example"]
    assert email.subject == f"[{ticket.reference}] assigned to you: Server room flooded"
    assert "Anna Admin assigned" in email.body
    assert email.extra_headers["Auto-Submitted"] == "auto-generated"
    assert _unpublished() == []

    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
    assert len(mail.outbox) == 1


def test_failed_event_sends_no_assignment_email_until_it_is_delivered(
    desk, monkeypatch, django_capture_on_commit_callbacks
):
    _, a, b, ticket = desk
    events.publish_all()
    services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=b)
    mail.outbox.clear()
    failures = {"left": 1}

    def flaky(event: TicketEvent) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("later subscriber failed")

    monkeypatch.setattr(
        events, "_handlers", {EventAction.ASSIGNEE: [*events.handlers_for(EventAction.ASSIGNEE), flaky]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_pending()
    # The email queued by the first handler was discarded with the event's savepoint.
    assert mail.outbox == []
    assert len(_unpublished()) == 1

    TicketEvent.objects.filter(published_at__isnull=True).update(publish_not_before=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert events.publish_pending() == 1
    assert len(mail.outbox) == 1


def test_assigning_yourself_sends_no_email(desk, django_capture_on_commit_callbacks):
    _, a, _, ticket = desk
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=a)
    assert mail.outbox == []
    assert TicketEvent.objects.filter(ticket=ticket, action=EventAction.ASSIGNEE, published_at__isnull=False).exists()


def test_unassigning_sends_no_email(desk, django_capture_on_commit_callbacks):
    _, a, b, ticket = desk
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=b)
    assert len(mail.outbox) == 1
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=None)
    assert mail.outbox == []


def test_broker_down_does_not_fail_the_change_and_the_sweep_delivers_later(
    desk, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    _, a, b, ticket = desk
    events.publish_all()
    mail.outbox.clear()

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.publish_ticket_events_task, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.ticket_assign(ticket=ticket, by=Actor.agent(a), assignee=b)

    assert len(callbacks) == 1
    assert ticket.__class__.objects.get(pk=ticket.pk).assignee_id == b.pk
    event = TicketEvent.objects.get(ticket=ticket, action=EventAction.ASSIGNEE)
    assert event.published_at is None
    assert mail.outbox == []
    assert "periodic sweep will retry" in caplog.text

    with django_capture_on_commit_callbacks(execute=True):
        assert events.publish_all() == 1  # the beat sweep
    event.refresh_from_db()
    assert event.published_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bert@desk.example"]


def test_events_record_the_channel_of_the_change(desk):
    _, a, _, ticket = desk
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(a, Channel.API), priority=Priority.LOW)
    event = TicketEvent.objects.filter(ticket=ticket).last()
    assert (event.action, event.channel, event.actor_id) == (EventAction.PRIORITY, Channel.API, a.pk)
