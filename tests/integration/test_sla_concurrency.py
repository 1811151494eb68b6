"""Two sweepers, two email senders, a sweeper and a service at the same time: real threads, each with
its own PostgreSQL connection and transactions (no test transaction around them)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connections

from tests import factories
from tests.integration.sla_support import berlin, freeze, office_desk
from tickets import services, sla, tasks
from tickets.choices import EventAction, Priority
from tickets.models import Notification, SLAEscalation, Ticket, TicketEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _run_together(*jobs: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Start the jobs at the same moment in threads; return their results (re-raising their errors)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = job()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread hung: a lock was never released"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def desk(monkeypatch):
    clock = freeze(monkeypatch, berlin(10, 9))
    desk = office_desk()
    desk.clock = clock
    return desk


def _slow(monkeypatch: Any, name: str, seconds: float) -> None:
    """Make ``sla.<name>`` take a while, so the two sides really overlap."""
    original = getattr(sla, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(sla, name, slow)


def test_two_sweepers_at_once_fire_each_escalation_exactly_once(desk, monkeypatch):
    tickets = [factories.ticket(requester=desk.requester, team=desk.team, assignee=desk.agent) for _ in range(40)]
    desk.clock.set(berlin(10, 12, 1))  # every first-response warning is due
    _slow(monkeypatch, "_plan_firing", 0.005)

    first, second = _run_together(lambda: sla.sla_sweep(batch_size=5), lambda: sla.sla_sweep(batch_size=5))

    assert first.fired + second.fired == 40
    assert first.fired > 0 and second.fired > 0  # both took part, on different rows
    assert SLAEscalation.objects.filter(fired_at__isnull=False).count() == 40
    assert Notification.objects.count() == 40
    per_ticket = Counter(TicketEvent.objects.filter(action=EventAction.SLA).values_list("ticket_id", flat=True))
    assert per_ticket == {t.pk: 1 for t in tickets}
    assert sla.sla_sweep().fired == 0


def test_duplicate_email_tasks_at_once_send_each_email_once(desk, monkeypatch):
    for _ in range(5):
        factories.ticket(requester=desk.requester, team=desk.team, assignee=desk.agent)
    desk.clock.set(berlin(10, 12, 1))
    with monkeypatch.context() as patch:  # the after-commit task is lost; three deliveries race instead
        patch.setattr(tasks.send_notification_emails_task, "delay", lambda **kwargs: None)
        sla.sla_sweep()
    assert mail.outbox == []
    sent: list[int] = []
    original = sla._send_email

    def slow_send(notification: Notification) -> None:
        time.sleep(0.05)
        sent.append(notification.pk)
        original(notification)

    monkeypatch.setattr(sla, "_send_email", slow_send)

    counts = _run_together(sla.notifications_send_emails, sla.notifications_send_emails, sla.notifications_send_emails)

    assert sum(counts) == 5
    assert sorted(sent) == sorted(Notification.objects.values_list("pk", flat=True))
    assert len(mail.outbox) == 5
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"sent"}


def test_a_service_waits_for_the_sweeper_holding_its_ticket_and_neither_deadlocks(desk, monkeypatch):
    ticket = factories.ticket(requester=desk.requester, team=desk.team, assignee=desk.agent)
    desk.clock.set(berlin(10, 12, 1))
    holding = threading.Event()
    release = threading.Event()
    original = sla._plan_firing

    def hold(*args: Any, **kwargs: Any) -> Any:
        holding.set()
        release.wait(10)  # the sweeper holds the escalation and ticket rows here
        return original(*args, **kwargs)

    monkeypatch.setattr(sla, "_plan_firing", hold)

    def change_priority() -> Priority:
        holding.wait(10)
        started = time.monotonic()
        threading.Timer(0.3, release.set).start()
        changed = services.ticket_change_priority(
            ticket=Ticket.objects.get(pk=ticket.pk), by=desk.by_agent, priority=Priority.HIGH
        )
        assert time.monotonic() - started >= 0.25  # it waited for the sweeper's transaction
        return changed.priority

    swept, priority = _run_together(sla.sla_sweep, change_priority)

    assert (swept.fired, priority) == (1, Priority.HIGH)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.first_response_due_at == berlin(10, 10)  # recomputed for high after the sweep committed
    assert SLAEscalation.objects.filter(ticket=ticket, target="first_response", percent=75).get().fired_at
