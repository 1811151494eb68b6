"""The real path: a service change commits, its event goes through Redis to a Celery worker,
which publishes it and sends the assignment email."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail

from service_desk.celery import app
from tests import factories
from tickets import services
from tickets.models import TicketEvent


@pytest.fixture
def redis_worker():
    """A real worker thread consuming from the test broker (Redis from REDIS_URL), tasks no longer eager."""
    assert app.conf.broker_url.startswith("redis://"), "the test settings use Redis as the broker"
    app.conf.task_always_eager = False
    app.control.purge()
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=settings.WORKER_QUEUES
        ):
            yield
    finally:
        app.conf.task_always_eager = True


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_assignment_event_reaches_worker_through_redis_and_sends_one_email(redis_worker):
    team = factories.team("Consumer")
    lead = factories.agent(role="team_lead", teams=[team])
    anna = factories.agent(teams=[team], username="anna")
    ticket = factories.ticket(team=team)

    services.ticket_assign(ticket=ticket, by=services.Actor.agent(lead), assignee=anna)

    assert _wait_for(lambda: not TicketEvent.objects.filter(ticket=ticket, published_at__isnull=True).exists())
    assert _wait_for(lambda: len(mail.outbox) == 1)
    time.sleep(0.5)  # nothing else arrives late
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["anna@desk.example"]
    assert ticket.reference in mail.outbox[0].subject
