"""The escalation sweeper: due escalations fire once, in due order, with their notifications, timeline
events and actions; emails go out exactly once even when a worker dies between the two."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError

from accounts.choices import Tier
from tests import factories
from tests.integration.sla_support import berlin, freeze, office_desk, policy
from tickets import events, services, sla, tasks
from tickets.choices import EventAction, MessageKind, Priority, Status
from tickets.models import (
    EscalationLevel,
    Message,
    Notification,
    SLAEscalation,
    Ticket,
    TicketEvent,
    TicketSLAClock,
)
from tickets.models.sla import EmailStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, berlin(10, 9))


@pytest.fixture
def desk(clock):
    return office_desk()


def _ticket(desk, **options) -> Ticket:
    options.setdefault("assignee", desk.agent)
    return factories.ticket(requester=desk.requester, team=desk.team, **options)


def _fired(ticket: Ticket | None = None) -> list[tuple[str, int]]:
    qs = SLAEscalation.objects.filter(fired_at__isnull=False)
    if ticket is not None:
        qs = qs.filter(ticket=ticket)
    return list(qs.order_by("due_at", "id").values_list("target", "percent"))


def _notified(ticket: Ticket) -> list[tuple[str, str, int]]:
    rows = Notification.objects.filter(ticket=ticket).select_related("recipient", "escalation")
    return sorted((n.recipient.username, n.kind, n.escalation.percent if n.escalation else 0) for n in rows)


def _sla_events(ticket: Ticket) -> list[tuple[str, str]]:
    qs = TicketEvent.objects.filter(ticket=ticket, action=EventAction.SLA).order_by("id")
    return list(qs.values_list("field", "new_value"))


# --- firing -----------------------------------------------------------------------------------------


def test_warning_then_breach_fire_once_with_notifications_and_timeline_events(desk, clock):
    ticket = _ticket(desk)  # Monday 09:00: first response due 13:00, warning at 12:00
    clock.set(berlin(10, 11, 59))
    assert sla.sla_sweep().fired == 0

    clock.set(berlin(10, 12, 0, second=10))
    result = sla.sla_sweep()

    assert (result.fired, result.notifications) == (1, 1)
    assert result.max_lateness == 10.0
    assert _notified(ticket) == [("alice", "sla_warning", 75)]

    clock.set(berlin(10, 13, 0, second=5))
    assert sla.sla_sweep().fired == 1
    assert sla.sla_sweep().fired == 0  # nothing fires twice

    assert _fired(ticket) == [("first_response", 75), ("first_response", 100)]
    assert _notified(ticket) == [
        ("alice", "sla_breach", 100),
        ("alice", "sla_warning", 75),
        ("lena", "sla_breach", 100),
    ]
    assert _sla_events(ticket) == [("first_response", "warning at 75 %"), ("first_response", "breached")]
    first = TicketSLAClock.objects.get(ticket=ticket, target="first_response")
    assert (first.state, first.breached_at) == ("running", berlin(10, 13))
    assert Ticket.objects.get(pk=ticket.pk).sla_due_at == berlin(10, 13)  # overdue stays first in line
    note = Notification.objects.get(ticket=ticket, kind="sla_breach", recipient=desk.agent)
    assert note.title == f"{ticket.reference}: First response target breached - Help needed"
    assert note.body == "First response due Mon 10 Mar 2025 13:00."


def test_unassigned_ticket_warns_the_team_lead(desk, clock):
    ticket = _ticket(desk, assignee=None)
    clock.set(berlin(10, 12))

    sla.sla_sweep()

    assert _notified(ticket) == [("lena", "sla_warning", 75)]


def test_a_target_met_in_time_never_escalates(desk, clock):
    ticket = _ticket(desk)
    clock.set(berlin(10, 10))
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="On it")
    clock.set(berlin(10, 14))

    sla.sla_sweep()

    assert _fired(ticket) == []  # resolution is due Tuesday; the first response was met


def test_level_actions_raise_priority_move_to_the_escalation_team_and_add_a_note(desk, clock):
    escalation_team = factories.team("Escalations", is_escalation_team=True)
    EscalationLevel.objects.create(policy=desk.policy, target="first_response", percent=75, notify_assignee=True)
    EscalationLevel.objects.create(
        policy=desk.policy,
        target="first_response",
        percent=100,
        notify_assignee=False,
        notify_team_lead=True,
        raise_priority=True,
        move_to_team=escalation_team,
        add_note=True,
    )
    sla.policy_changed(desk.policy)
    ticket = _ticket(desk)
    clock.set(berlin(10, 13, 1))

    result = sla.sla_sweep()

    assert (result.fired, result.action_errors) == (2, 0)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.priority, fresh.team_id, fresh.assignee_id) == (Priority.HIGH, escalation_team.pk, None)
    note = Message.objects.get(ticket=ticket, kind=MessageKind.NOTE)
    assert note.body_text.endswith("First response target breached - Help needed")
    changes = TicketEvent.objects.filter(ticket=ticket, action__in=[EventAction.PRIORITY, EventAction.TEAM])
    assert {(e.action, e.actor_id, e.channel) for e in changes} == {
        (EventAction.PRIORITY, None, "system"),
        (EventAction.TEAM, None, "system"),
    }
    breach = SLAEscalation.objects.get(ticket=ticket, target="first_response", percent=100)
    assert breach.outcome == "Notified: lena. priority raised to High; moved to Escalations; note added"
    # The raise recomputed the clocks for high priority; what already fired stays fired, once.
    assert sla.sla_sweep().fired == 0
    assert _fired(ticket) == [("first_response", 75), ("first_response", 100)]
    assert ("resolution", 75, berlin(10, 15)) in [
        (r.target, r.percent, r.due_at) for r in SLAEscalation.objects.filter(ticket=ticket, fired_at=None)
    ]


def test_failing_action_is_recorded_and_does_not_undo_the_batch(desk, clock, monkeypatch):
    EscalationLevel.objects.create(policy=desk.policy, percent=100, notify_assignee=True, raise_priority=True)
    sla.policy_changed(desk.policy)
    ticket = _ticket(desk)
    clock.set(berlin(10, 13, 1))

    def refuse(**kwargs):
        raise services.TicketError("not today")

    monkeypatch.setattr(services, "ticket_change_priority", refuse)
    result = sla.sla_sweep()

    assert result.action_errors == 1
    assert _notified(ticket) == [("alice", "sla_breach", 100)]
    breach = SLAEscalation.objects.get(ticket=ticket, target="first_response", percent=100)
    assert "action failed: not today" in breach.outcome


def test_strategic_account_manager_hears_of_urgent_tickets_at_once_and_of_every_breach(
    desk, clock, django_capture_on_commit_callbacks
):
    manager = factories.agent(username="marta")
    strategic = policy("Strategic", notify_account_manager_on_urgent=True)
    EscalationLevel.objects.create(
        policy=strategic, percent=100, notify_assignee=True, notify_team_lead=True, notify_account_manager=True
    )
    org = factories.organization(
        "Bigco", tier=Tier.STRATEGIC, account_manager=manager, sla_policy=strategic, domains=("bigco.example",)
    )
    contact = factories.contact(email="cio@bigco.example")

    with django_capture_on_commit_callbacks(execute=True):
        urgent = factories.ticket(requester=contact, priority=Priority.URGENT, team=desk.team)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()  # an event delivered twice notifies once
        TicketEvent.objects.filter(ticket=urgent).update(published_at=None)
        events.publish_all()

    assert _notified(urgent) == [("marta", "urgent_ticket", 0)]
    assert [m.to for m in mail.outbox] == [["marta@desk.example"]]
    assert "new urgent ticket from Bigco" in mail.outbox[0].subject

    normal = factories.ticket(requester=contact, team=desk.team)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
        services.ticket_change_priority(ticket=normal, by=desk.by_agent, priority=Priority.URGENT)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
    assert _notified(normal) == [("marta", "urgent_ticket", 0)]

    clock.set(berlin(10, 9, 31))  # urgent first response: 30 min round the clock
    sla.sla_sweep()
    assert ("marta", "sla_breach", 100) in _notified(urgent)
    assert org.pk


# --- timers that can be trusted ---------------------------------------------------------------------


def test_crash_after_the_escalation_was_written_but_before_the_email_sends_exactly_one_email_later(
    desk, clock, monkeypatch, django_capture_on_commit_callbacks
):
    ticket = _ticket(desk)
    clock.set(berlin(10, 12, 1))

    def broker_down(*args, **kwargs):
        raise OperationalError("connection refused")

    # The sweep commits, then the worker that would send the email never gets the task.
    monkeypatch.setattr(tasks.send_notification_emails_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sla_sweep().fired == 1
    assert mail.outbox == []
    pending = Notification.objects.get(ticket=ticket)
    assert (pending.email_status, pending.email_sent_at) == (EmailStatus.PENDING, None)
    monkeypatch.undo()
    freeze(monkeypatch, berlin(10, 12, 2))

    # The beat catch-up runs, and the task is delivered twice on top of it.
    tasks.send_notification_emails_task()
    tasks.send_notification_emails_task(escalation_ids=[pending.escalation_id])
    tasks.send_notification_emails_task()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@desk.example"]
    assert mail.outbox[0].extra_headers["X-Service-Desk-Notification"] == str(pending.pk)
    sent = Notification.objects.get(pk=pending.pk)
    assert (sent.email_status, sent.email_attempts) == (EmailStatus.SENT, 1)
    assert sla.sla_sweep().fired == 0


def test_email_that_fails_is_retried_until_sent_once(desk, clock, monkeypatch):
    _ticket(desk)
    clock.set(berlin(10, 12, 1))
    sla.sla_sweep()
    calls = []

    def flaky(notification):
        calls.append(notification.pk)
        if len(calls) == 1:
            raise OSError("SMTP server went away")
        mail.outbox.append(notification)

    monkeypatch.setattr(sla, "_send_email", flaky)
    assert sla.notifications_send_emails() == 0
    assert sla.notifications_send_emails() == 1
    assert sla.notifications_send_emails() == 0

    notification = Notification.objects.get()
    assert (notification.email_status, notification.email_attempts, len(mail.outbox)) == ("sent", 2, 1)


def test_crash_in_the_middle_of_a_sweep_leaves_nothing_and_the_next_sweep_fires_once(desk, clock, monkeypatch):
    ticket = _ticket(desk)
    clock.set(berlin(10, 12, 1))

    class WorkerKilled(BaseException):
        pass

    def killed(*args):
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(sla, "_run_ticket_actions", killed)
        with pytest.raises(WorkerKilled):
            sla.sla_sweep()

    assert _fired(ticket) == []
    assert Notification.objects.count() == 0
    assert _sla_events(ticket) == []
    assert sla.sla_sweep().fired == 1
    assert _notified(ticket) == [("alice", "sla_warning", 75)]
    assert _sla_events(ticket) == [("first_response", "warning at 75 %")]


def test_workers_down_for_days_catch_up_with_everything_in_due_order(desk, clock):
    tickets = []
    for hour, priority in ((9, Priority.NORMAL), (10, Priority.HIGH), (11, Priority.URGENT), (12, Priority.LOW)):
        clock.set(berlin(10, hour))
        tickets.append(_ticket(desk, priority=priority))
    due = list(
        SLAEscalation.objects.filter(due_at__lte=berlin(14, 17)).order_by("due_at", "id").values_list("pk", flat=True)
    )
    clock.set(berlin(14, 17))  # Friday evening: nothing ran since Monday

    result = sla.sla_sweep(batch_size=3)

    assert result.fired == len(due) == 15
    assert result.batches == 6  # five full batches, then one that finds nothing
    fired_events = TicketEvent.objects.filter(action=EventAction.SLA).order_by("id")
    in_fired_order = [(e.ticket_id, e.field, e.new_value) for e in fired_events]
    in_due_order = [
        (r.ticket_id, r.target, sla._escalation_text(r.percent))
        for r in SLAEscalation.objects.filter(pk__in=due).order_by("due_at", "id")
    ]
    assert in_fired_order == in_due_order
    assert result.max_lateness > 3 * 24 * 3600  # they were late, and none was lost


def test_sweep_queries_do_not_grow_with_the_batch(desk, clock, django_assert_max_num_queries):
    for _ in range(3):
        _ticket(desk)
    clock.set(berlin(10, 13, 1))  # warnings and breaches of three first responses
    with django_assert_max_num_queries(12) as few:
        assert sla.sla_sweep(batch_size=100).fired == 6

    for _ in range(30):
        _ticket(desk)
    clock.set(berlin(11, 9, 30))  # the same for thirty more
    due = SLAEscalation.objects.filter(fired_at=None, due_at__lte=clock.now).count()
    assert due == 60
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert sla.sla_sweep(batch_size=100).fired == due


def test_escalation_and_notification_are_unique_in_the_database(desk, clock):
    ticket = _ticket(desk)
    row = SLAEscalation.objects.filter(ticket=ticket).first()

    with pytest.raises(IntegrityError), transaction.atomic():
        SLAEscalation.objects.create(
            ticket=ticket, clock=row.clock, target=row.target, percent=row.percent, due_at=row.due_at
        )
    Notification.objects.create(
        recipient=desk.agent, ticket=ticket, escalation=row, kind="sla_warning", title="x", created_at=berlin(10, 9)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            recipient=desk.agent, ticket=ticket, escalation=row, kind="sla_warning", title="x", created_at=berlin(10, 9)
        )


def test_solved_ticket_escalates_nothing_even_if_a_row_was_left_due(desk, clock):
    ticket = _ticket(desk)
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.SOLVED)
    clock_row = TicketSLAClock.objects.get(ticket=ticket, target="resolution")
    SLAEscalation.objects.create(ticket=ticket, clock=clock_row, target="resolution", percent=100, due_at=berlin(10, 9))

    assert sla.sla_sweep().fired == 1
    assert Notification.objects.count() == 0
    assert SLAEscalation.objects.get(clock=clock_row).outcome == "The clock had stopped; nothing to do."


# --- the workspace side of notifications --------------------------------------------------------


def test_notifications_for_a_user_newest_first_and_marked_read(desk, clock):
    ticket = _ticket(desk)
    clock.set(berlin(10, 12, 1))
    sla.sla_sweep()
    clock.set(berlin(10, 13, 1))
    sla.sla_sweep()

    mine = list(sla.notifications_for(desk.agent))
    assert [n.kind for n in mine] == ["sla_breach", "sla_warning"]
    assert sla.notifications_mark_read(user=desk.agent, ids=[mine[1].pk]) == 1
    assert [n.kind for n in sla.notifications_for(desk.agent, unread_only=True)] == ["sla_breach"]
    assert list(sla.notifications_for(factories.agent())) == []
    assert mine[0].ticket_id == ticket.pk


def test_sweep_task_is_thin_and_reports_what_it_fired(desk, clock):
    _ticket(desk)
    clock.set(berlin(10, 12) + timedelta(seconds=1))

    assert tasks.sla_sweep_task() == 1
    assert tasks.sla_sweep_task() == 0
