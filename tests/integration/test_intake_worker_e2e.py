"""End to end with a real Celery worker process on the real Redis broker: raw mail in over HTTP,
the ticket visible through the service layer's selectors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from channels_intake.models import InboundMessage, Mailbox, Outcome
from service_desk.celery import app
from tests import factories
from tests.integration.mail import raw_mail
from tickets.selectors import tickets_visible_to

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_process(tmp_path):
    """`celery worker` as its own process, on the test database and the Redis broker."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "service_desk.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    app.conf.task_always_eager = False
    app.control.purge()
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "service_desk", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--queues", ",".join(settings.WORKER_QUEUES), "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield tmp_path / "worker.log"
    finally:
        app.conf.task_always_eager = True
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_raw_mail_posted_over_http_becomes_a_visible_ticket_via_the_worker(client, worker_process):
    team = factories.team("Consumer Support")
    agent = factories.agent(teams=[team])
    mailbox = Mailbox.objects.create(name="Pipe", email_address="support@desk.example", default_team=team)
    token = mailbox.rotate_ingest_token()
    mailbox.save()

    response = client.post(
        f"/intake/mailboxes/{mailbox.pk}/raw/",
        raw_mail(subject="Parcel lost", message_id="<e2e-1@consumer.example>"),
        content_type="message/rfc822",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202
    inbound_id = response.json()["id"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = InboundMessage.objects.get(pk=inbound_id)
        if row.outcome != Outcome.PENDING:
            break
        time.sleep(0.2)
    assert row.outcome == Outcome.TICKET_CREATED, worker_process.read_text()[-3000:]
    visible = tickets_visible_to(agent).get(pk=row.ticket_id)
    assert visible.subject == "Parcel lost"
    assert visible.team == team
    assert visible.messages.get().message_id == "<e2e-1@consumer.example>"
