"""Webhooks end to end against a real HTTP receiver on 127.0.0.1: outbox, signature, retries, SSRF."""

from __future__ import annotations

import ipaddress
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections import deque
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.choices import AgentRole
from tests import factories
from tickets import events
from tickets import services as ticket_services
from tickets import tasks as ticket_tasks
from tickets.choices import Channel, EventAction, Priority, SatisfactionRating
from tickets.models import SatisfactionSurvey, TicketEvent
from tickets.services import Actor
from webhooks import delivery, services
from webhooks import tasks as webhook_tasks
from webhooks.domain.signing import verify_signature
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


# --- A real receiver -------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script (default 200)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.server_names: list[str | None] = []
        self.script: deque[tuple[int, dict[str, str], bytes]] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                status, headers, reply = receiver.script.popleft() if receiver.script else (200, {}, b"ok")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/desk"

    def answer(self, *responses: int | tuple[int, dict[str, str]]) -> None:
        for response in responses:
            status, headers = response if isinstance(response, tuple) else (response, {})
            self.script.append((status, headers, f"status {status}".encode()))

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_ALLOWED_HOSTS = []
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def desk():
    team = factories.team(name="Support")
    admin = factories.agent(role=AgentRole.ADMIN, username="ada", first_name="Ada", last_name="Admin")
    agent = factories.agent(teams=[team], username="bob")
    return team, admin, agent


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish the pending ticket events (what the worker does); delivery tasks run on commit (eager)."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return events.publish_all()

    return run


def subscribe(owner, url: str, events_: list[str], **options: object):
    return services.subscription_create(owner=owner, name="CRM", url=url, events=events_, **options)


ALL = ["ticket.created", "ticket.updated", "message.created", "sla.warning", "sla.breached", "csat.received"]


def make_due(*deliveries: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def sweep(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return webhook_tasks.requeue_due_webhook_deliveries_task()


# --- Delivery, shape and signature -----------------------------------------------------------------


def test_a_new_ticket_is_delivered_signed_with_the_subscription_secret(desk, receiver, publish):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created", "message.created"])
    secret = subscription.secret
    ticket = factories.ticket(team=team, subject="Printer on fire", body="Smoke everywhere.")

    publish()

    assert [r["headers"]["x-servicedesk-event"] for r in receiver.requests] == ["ticket.created", "message.created"]
    for request in receiver.requests:
        headers = request["headers"]
        assert request["path"] == "/hooks/desk"
        assert headers["content-type"] == "application/json"
        assert headers["host"] == f"127.0.0.1:{receiver.port}"
        assert verify_signature(secret, headers["x-servicedesk-signature"], request["body"], now=time.time())
        assert not verify_signature("whsec_wrong", headers["x-servicedesk-signature"], request["body"], now=time.time())
        assert json.loads(request["body"])["id"] == headers["x-servicedesk-delivery"]
    created, message = receiver.payloads()
    assert created["type"] == "ticket.created"
    assert created["version"] == 1
    data = created["data"]
    assert data["ticket"]["reference"] == ticket.reference
    assert data["ticket"]["subject"] == "Printer on fire"
    assert data["ticket"]["team"] == {"id": team.pk, "name": "Support"}
    assert data["ticket"]["status"] == ticket.status
    assert data["ticket"]["url"].endswith(f"/desk/tickets/{ticket.reference}/")
    assert data["actor"]["type"] == "customer"
    assert message["data"]["message"]["body_text"] == "Smoke everywhere."
    assert message["data"]["message"]["public"] is True
    assert created["id"] != message["id"]

    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [(d.status, d.attempts, d.response_status) for d in rows] == [(DeliveryStatus.DELIVERED, 1, 200)] * 2
    assert rows[0].ticket_reference == ticket.reference
    subscription.refresh_from_db()
    assert subscription.delivered_count == 2
    assert subscription.last_success_at is not None


def test_changes_are_delivered_as_ticket_updated_with_what_changed(desk, receiver, publish):
    team, admin, agent = desk
    ticket = factories.ticket(team=team)
    publish()
    subscribe(admin, receiver.url, ["ticket.updated"])

    ticket_services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.URGENT)
    publish()

    (payload,) = receiver.payloads()
    assert payload["type"] == "ticket.updated"
    assert payload["data"]["changes"] == [{"kind": "priority", "field": "priority", "old": "normal", "new": "urgent"}]
    assert payload["data"]["ticket"]["priority"] == "urgent"
    assert payload["data"]["actor"]["username"] == "bob"


def test_only_the_subscribed_events_are_delivered(desk, receiver, publish):
    team, admin, agent = desk
    subscribe(admin, receiver.url, ["sla.breached"])
    ticket = factories.ticket(team=team)
    ticket_services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.HIGH)
    publish()
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


# --- The outbox: same transaction, idempotent -------------------------------------------------------


def test_deliveries_are_written_in_the_transaction_of_the_change_and_roll_back_with_it(
    desk, receiver, django_capture_on_commit_callbacks
):
    team, admin, agent = desk
    subscribe(admin, receiver.url, ALL)
    ticket = factories.ticket(team=team)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
    receiver.requests.clear()

    class Undo(Exception):
        pass

    def change_publish_and_undo() -> None:
        with transaction.atomic():
            ticket_services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.URGENT)
            events.publish_all()
            assert WebhookDelivery.objects.filter(event_type="ticket.updated").count() == 1
            raise Undo

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Undo):
        change_publish_and_undo()

    assert not WebhookDelivery.objects.filter(event_type="ticket.updated").exists()
    assert not TicketEvent.objects.filter(action=EventAction.PRIORITY).exists()
    assert receiver.requests == []


def test_a_failing_subscriber_rolls_back_the_deliveries_of_its_event_and_the_retry_writes_them_once(
    desk, receiver, publish, monkeypatch
):
    team, admin, agent = desk
    subscribe(admin, receiver.url, ["ticket.updated"])
    ticket = factories.ticket(team=team)
    publish()
    ticket_services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.HIGH)
    failures = {"left": 1}

    def flaky(event: TicketEvent) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("later subscriber failed")

    handlers = {a: list(events.handlers_for(a)) for a in EventAction.values}
    handlers[EventAction.PRIORITY].append(flaky)
    monkeypatch.setattr(events, "_handlers", handlers)

    publish()
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []

    TicketEvent.objects.filter(published_at__isnull=True).update(publish_not_before=None)
    publish()
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_writing_the_deliveries_of_an_event_twice_writes_them_once_with_one_event_id(desk, receiver):
    team, admin, _ = desk
    first_subscription = subscribe(admin, receiver.url, ["ticket.created"])
    second_subscription = subscribe(admin, receiver.url, ["ticket.created"])
    factories.ticket(team=team)
    event = TicketEvent.objects.get(action=EventAction.CREATED)

    assert len(services.deliveries_for_event(event)) == 2
    assert services.deliveries_for_event(event) == []  # a repeated publishing writes nothing new
    rows = list(WebhookDelivery.objects.filter(source_event=event))
    assert {r.subscription_id for r in rows} == {first_subscription.pk, second_subscription.pk}
    assert len({r.event_id for r in rows}) == 1  # one event, one id, whichever endpoint

    # A row missing for one subscription (e.g. written by an older run) is added with the same id.
    WebhookDelivery.objects.filter(subscription=second_subscription).delete()
    (added,) = services.deliveries_for_event(event)
    assert WebhookDelivery.objects.get(pk=added).event_id == rows[0].event_id
    assert WebhookDelivery.objects.filter(source_event=event).count() == 2


def test_writing_deliveries_costs_a_bounded_number_of_queries(desk, receiver, django_assert_max_num_queries):
    team, admin, _ = desk
    factories.ticket(team=team)
    event = TicketEvent.objects.get(action=EventAction.CREATED)
    with django_assert_max_num_queries(1):  # no subscription: one look at the (small) subscription table
        assert services.deliveries_for_event(event) == []
    for n in range(12):
        subscribe(admin, f"{receiver.url}?n={n}", ["ticket.created"])
    with django_assert_max_num_queries(10):
        assert len(services.deliveries_for_event(event)) == 12


# --- Retries --------------------------------------------------------------------------------------


def test_a_failing_receiver_is_retried_with_backoff_and_the_event_id_stays_the_same(
    desk, receiver, publish, django_capture_on_commit_callbacks
):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer(500, 502)
    factories.ticket(team=team)

    before = timezone.now()
    publish()
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.response_status, row.error) == (DeliveryStatus.PENDING, 1, 500, "HTTP 500")
    assert row.response_body == "status 500"
    assert before + timedelta(seconds=26) < row.next_attempt_at < timezone.now() + timedelta(seconds=34)
    assert sweep(django_capture_on_commit_callbacks) == 0  # not due yet
    assert len(receiver.requests) == 1

    make_due(row)
    assert sweep(django_capture_on_commit_callbacks) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status) == (DeliveryStatus.PENDING, 2, 502)
    assert timezone.now() + timedelta(seconds=100) < row.next_attempt_at < timezone.now() + timedelta(seconds=135)
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 2

    make_due(row)
    sweep(django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status, row.error) == (DeliveryStatus.DELIVERED, 3, 200, "")
    assert row.delivered_at is not None

    assert len(receiver.requests) == 3
    assert len({r["headers"]["x-servicedesk-delivery"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1  # the same bytes every time
    assert [r["headers"]["x-servicedesk-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    subscription.refresh_from_db()
    assert (subscription.consecutive_failures, subscription.delivered_count) == (0, 1)

    make_due(row)
    assert sweep(django_capture_on_commit_callbacks) == 0  # delivered rows are never sent again


def test_a_delivery_fails_for_good_after_the_last_attempt(
    desk, receiver, publish, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer(503, 503, 503, 503)
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    for _ in range(2):
        make_due(row)
        sweep(django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status) == (DeliveryStatus.FAILED, 3, 503)
    make_due(row)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert len(receiver.requests) == 3
    subscription.refresh_from_db()
    assert (subscription.failed_count, subscription.consecutive_failures) == (1, 3)


def test_whatever_a_receiver_answers_is_stored(desk, receiver, publish):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    receiver.script.append((500, {"Content-Type": "application/octet-stream"}, b"\x00\xff\xfe binary" * 1000))
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert (row.status, row.response_status) == (DeliveryStatus.PENDING, 500)
    assert "\x00" not in row.response_body
    assert len(row.response_body) <= 2048


def test_a_delivery_whose_attempts_never_finished_is_given_up(desk, receiver, publish, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer(500)
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    # Two workers were killed mid-send since: attempts counted, no outcome recorded.
    WebhookDelivery.objects.filter(pk=row.pk).update(attempts=3, next_attempt_at=timezone.now())
    assert delivery.delivery_attempt(row.pk).status == "skipped"
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED
    assert "given up after 3 attempts" in row.error
    assert len(receiver.requests) == 1


def test_a_receiver_that_is_down_counts_as_a_failed_attempt(desk, receiver, publish):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"])
    receiver.close()
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.response_status) == (DeliveryStatus.PENDING, 1, None)
    assert "Connection" in row.error or "refused" in row.error.lower()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1


@pytest.mark.django_db(transaction=True)
def test_a_locked_delivery_is_skipped_by_another_worker(desk, receiver):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"])
    factories.ticket(team=team)
    events.publish_all()  # autocommit: the delivery task ran on commit (eager) and delivered it
    row = WebhookDelivery.objects.get(subscription=subscription)
    assert row.status == DeliveryStatus.DELIVERED
    WebhookDelivery.objects.filter(pk=row.pk).update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())

    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                list(WebhookDelivery.objects.select_for_update().filter(pk=row.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert delivery.delivery_claim(row.pk) is None  # SKIP LOCKED: no waiting, no second send
        assert time.monotonic() - started < 2
    finally:
        release.set()
        thread.join(10)
    claimed = delivery.delivery_claim(row.pk)
    assert claimed is not None and claimed.attempts == 2
    assert delivery.delivery_claim(row.pk) is None  # leased: the claim pushed it a lease ahead


# --- Broker outage ---------------------------------------------------------------------------------


def test_a_broker_outage_delays_deliveries_and_the_sweeps_deliver_them_later(
    desk, receiver, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    team, admin, agent = desk
    subscribe(admin, receiver.url, ["ticket.created", "ticket.updated"])

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(ticket_tasks.publish_ticket_events_task, "delay", broker_down)
    monkeypatch.setattr(webhook_tasks.deliver_webhook_task, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        ticket = factories.ticket(team=team)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.HIGH)
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()  # events not published yet

    with django_capture_on_commit_callbacks(execute=True):
        assert events.publish_all() == 3  # the beat sweep of ticket events (created, message, priority)
    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [(r.event_type, r.status, r.queued_at) for r in rows] == [
        ("ticket.created", DeliveryStatus.PENDING, None),
        ("ticket.updated", DeliveryStatus.PENDING, None),
    ]
    assert "the sweep will queue them" in caplog.text
    assert receiver.requests == []

    monkeypatch.undo()  # the broker is back
    assert sweep(django_capture_on_commit_callbacks) == 2
    assert [r["headers"]["x-servicedesk-event"] for r in receiver.requests] == ["ticket.created", "ticket.updated"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_queued_delivery_whose_task_was_lost_is_queued_again_after_a_while(
    desk, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    factories.ticket(team=team)
    lost: list[int] = []
    monkeypatch.setattr(webhook_tasks.deliver_webhook_task, "delay", lost.append)  # accepted, then lost
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
    row = WebhookDelivery.objects.get()
    assert lost == [row.pk]
    assert sweep(django_capture_on_commit_callbacks) == 0  # queued a moment ago: not yet
    WebhookDelivery.objects.filter(pk=row.pk).update(queued_at=timezone.now() - delivery.REQUEUE_AFTER)
    monkeypatch.undo()
    assert sweep(django_capture_on_commit_callbacks) == 1
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DELIVERED


# --- SSRF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://127.0.0.1:8000/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://100.64.1.1/hook",
        "http://0.0.0.0/",
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ],
)
def test_subscriptions_to_internal_addresses_are_refused_without_the_allowlist(desk, settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.WEBHOOK_ALLOWED_HOSTS = []
    _, admin, _ = desk
    with pytest.raises(ValidationError) as refused:
        subscribe(admin, url, ["ticket.created"])
    assert "url" in refused.value.message_dict


def test_the_allowlist_admits_exactly_what_it_names(desk, settings):
    _, admin, _ = desk
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert subscribe(admin, "http://127.0.0.1:9/hook", ["ticket.created"]).pk
    with pytest.raises(ValidationError):
        subscribe(admin, "http://10.0.0.1/hook", ["ticket.created"])
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    assert subscribe(admin, "http://localhost:9/hook", ["ticket.created"]).pk


def test_https_only_when_required(desk, settings):
    _, admin, _ = desk
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_REQUIRE_HTTPS = True
    with pytest.raises(ValidationError) as refused:
        subscribe(admin, "http://127.0.0.1:9/hook", ["ticket.created"])
    assert "https://" in str(refused.value.message_dict["url"])


def test_a_redirect_to_a_private_address_is_refused_and_not_followed(desk, receiver, publish):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer((302, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1
    assert row.status == DeliveryStatus.PENDING
    assert row.response_status == 302
    assert row.error.startswith("Redirect refused")
    assert "link-local" in row.error


def test_redirects_on_allowed_addresses_are_followed_with_the_same_signed_body(desk, receiver, publish):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer((307, {"Location": "/moved"}), (308, {"Location": f"http://127.0.0.1:{receiver.port}/final"}))
    factories.ticket(team=team)
    publish()
    assert [r["path"] for r in receiver.requests] == ["/hooks/desk", "/moved", "/final"]
    assert len({r["body"] for r in receiver.requests}) == 1
    last = receiver.requests[-1]
    assert verify_signature(
        subscription.secret, last["headers"]["x-servicedesk-signature"], last["body"], now=time.time()
    )
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_more_than_three_redirects_fail_the_attempt(desk, receiver, publish):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    receiver.answer(*[(302, {"Location": f"/loop{n}"}) for n in range(5)])
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 4
    assert row.error.startswith("Too many redirects")
    assert row.status == DeliveryStatus.PENDING


def test_the_address_is_checked_again_at_delivery(desk, receiver, publish, settings):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # the allowlist changed after the subscription was saved
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert receiver.requests == []
    assert row.error.startswith("Refused")
    assert row.attempts == 1


def test_the_connection_goes_to_the_checked_address_and_a_rebound_name_is_refused(
    desk, receiver, publish, monkeypatch, django_capture_on_commit_callbacks
):
    """The name below does not exist in DNS: the delivery reaches the receiver only because the
    connection is made to the address the check resolved (pinned), with the name as Host."""
    from webhooks import targets

    team, admin, _ = desk
    answers = {"hooks.rebind.test": ["127.0.0.1"]}
    real_resolve = targets.resolve

    def resolve(host: str, port: int):  # noqa: ANN202
        if host in answers:
            return [ipaddress.ip_address(a) for a in answers[host]]
        return real_resolve(host, port)

    monkeypatch.setattr(targets, "resolve", resolve)
    subscribe(admin, f"http://hooks.rebind.test:{receiver.port}/pinned", ["ticket.created"])
    factories.ticket(team=team)
    publish()
    row = WebhookDelivery.objects.get()
    assert row.status == DeliveryStatus.DELIVERED, row.error
    assert receiver.requests[0]["headers"]["host"] == f"hooks.rebind.test:{receiver.port}"

    answers["hooks.rebind.test"] = ["10.0.0.1"]  # the name now points inside the network
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.delivery_redeliver(delivery=row, by=admin)
    copy.refresh_from_db()
    assert copy.status == DeliveryStatus.PENDING
    assert copy.error.startswith("Refused")
    assert "10.0.0.1" in copy.error
    assert len(receiver.requests) == 1


def _certificate(folder, name: str):  # noqa: ANN001, ANN202
    """A self-signed certificate for ``name`` (its own CA), or skip without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
        "-keyout", str(folder / f"{name}.key"), "-out", str(folder / f"{name}.pem"),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, check=True)  # noqa: S603
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / f"{name}.pem", folder / f"{name}.key")
    return folder / f"{name}.pem", context


def test_https_connects_to_the_checked_address_with_the_host_name_for_sni_and_the_certificate(
    desk, settings, tmp_path, publish, django_capture_on_commit_callbacks
):
    team, admin, _ = desk
    ca, context = _certificate(tmp_path, "localhost")
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    receiver = Receiver(tls=context)
    try:
        subscribe(admin, f"https://localhost:{receiver.port}/tls", ["ticket.created"])
        factories.ticket(team=team)

        publish()  # the system trust store does not know this certificate: refused
        row = WebhookDelivery.objects.get()
        assert row.status == DeliveryStatus.PENDING
        assert "CERTIFICATE_VERIFY_FAILED" in row.error or "certificate" in row.error.lower()
        assert receiver.requests == []

        settings.WEBHOOK_CA_BUNDLE = str(ca)
        make_due(row)
        sweep(django_capture_on_commit_callbacks)
        row.refresh_from_db()
        assert row.status == DeliveryStatus.DELIVERED, row.error
        assert receiver.requests[0]["headers"]["host"] == f"localhost:{receiver.port}"
        assert "localhost" in receiver.server_names
    finally:
        receiver.close()


def test_https_refuses_a_certificate_for_another_name(desk, settings, tmp_path, publish):
    team, admin, _ = desk
    ca, context = _certificate(tmp_path, "other.example")
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    settings.WEBHOOK_CA_BUNDLE = str(ca)
    receiver = Receiver(tls=context)
    try:
        subscribe(admin, f"https://localhost:{receiver.port}/tls", ["ticket.created"])
        factories.ticket(team=team)
        publish()
        row = WebhookDelivery.objects.get()
        assert row.status == DeliveryStatus.PENDING
        assert "hostname" in row.error.lower() or "match" in row.error.lower(), row.error
        assert receiver.requests == []
    finally:
        receiver.close()


# --- Who receives what -----------------------------------------------------------------------------


def test_internal_notes_go_only_to_subscriptions_that_opted_in(desk, receiver, publish):
    team, admin, agent = desk
    plain = subscribe(admin, receiver.url, ["message.created"])
    with_notes = subscribe(admin, receiver.url + "?notes=1", ["message.created"], include_internal_notes=True)
    ticket = factories.ticket(team=team)
    publish()
    receiver.requests.clear()

    ticket_services.ticket_add_note(ticket=ticket, by=Actor.agent(agent), body_text="Customer is a known fraudster.")
    publish()

    rows = list(WebhookDelivery.objects.filter(event_type="message.created").order_by("id"))
    assert [r.subscription_id for r in rows][-1] == with_notes.pk
    assert not WebhookDelivery.objects.filter(subscription=plain, payload__contains="fraudster").exists()
    assert [r["path"] for r in receiver.requests] == ["/hooks/desk?notes=1"]
    (payload,) = receiver.payloads()
    assert payload["data"]["message"]["kind"] == "note"
    assert payload["data"]["message"]["public"] is False


def test_an_agent_subscription_receives_only_tickets_the_agent_may_see(desk, receiver, publish):
    team, _, agent = desk
    other_team = factories.team(name="Billing")
    subscribe(agent, receiver.url, ["ticket.created"])
    mine = factories.ticket(team=team, subject="Mine")
    factories.ticket(team=other_team, subject="Not mine")
    publish()
    assert [p["data"]["ticket"]["reference"] for p in receiver.payloads()] == [mine.reference]


def test_customers_cannot_own_subscriptions(desk, receiver):
    customer = factories.customer_user(factories.contact())
    with pytest.raises(services.PermissionDenied):
        subscribe(customer, receiver.url, ["ticket.created"])


def test_inactive_subscriptions_receive_nothing(desk, receiver, publish):
    team, admin, _ = desk
    subscription = subscribe(admin, receiver.url, ["ticket.created"], is_active=False)
    factories.ticket(team=team)
    publish()
    assert not WebhookDelivery.objects.filter(subscription=subscription).exists()


# --- SLA and CSAT ----------------------------------------------------------------------------------


def test_sla_warnings_and_breaches_are_delivered(desk, receiver, publish):
    team, admin, _ = desk
    ticket = factories.ticket(team=team)
    publish()
    subscribe(admin, receiver.url, ["sla.warning", "sla.breached"])
    now = timezone.now()
    for value in ("warning at 80 %", "breached", "met late", "escalated at 150 %"):
        TicketEvent.objects.create(
            ticket=ticket, action=EventAction.SLA, field="first_response", new_value=value,
            channel=Channel.SYSTEM, created_at=now,
        )  # fmt: skip
    publish()
    payloads = receiver.payloads()
    assert [p["type"] for p in payloads] == ["sla.warning", "sla.breached"]
    assert payloads[0]["data"]["sla"] == {"target": "first_response", "outcome": "warning", "percent": 80}
    assert payloads[1]["data"]["sla"] == {"target": "first_response", "outcome": "breached", "percent": 100}
    assert payloads[1]["data"]["actor"] == {"type": "system"}


def test_a_satisfaction_rating_is_delivered_as_csat_received(desk, receiver, publish):
    team, admin, _ = desk
    ticket = factories.ticket(team=team)
    publish()
    subscribe(admin, receiver.url, ["csat.received"])
    now = timezone.now()
    survey = SatisfactionSurvey.objects.create(
        ticket=ticket, solve_number=1, contact=ticket.requester, rating=SatisfactionRating.BAD,
        comment="Took a week.", created_at=now, answered_at=now,
    )  # fmt: skip
    TicketEvent.objects.create(
        ticket=ticket, action=EventAction.CSAT, field="rating", old_value="", new_value="bad",
        actor_contact=ticket.requester, channel=Channel.PORTAL, created_at=now,
    )  # fmt: skip
    publish()
    (payload,) = receiver.payloads()
    assert payload["type"] == "csat.received"
    assert payload["data"]["csat"] == {
        "rating": "bad",
        "previous_rating": None,
        "comment": "Took a week.",
        "survey_id": survey.pk,
        "solve_number": 1,
    }
    assert payload["data"]["actor"]["type"] == "customer"


# --- Redelivery ------------------------------------------------------------------------------------


def test_redelivery_sends_the_same_event_again_as_a_new_delivery(
    desk, receiver, publish, django_capture_on_commit_callbacks
):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    factories.ticket(team=team)
    publish()
    original = WebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        copy = services.delivery_redeliver(delivery=original, by=admin)

    copy.refresh_from_db()
    assert copy.pk != original.pk
    assert (copy.event_id, copy.payload, copy.redelivery_of_id) == (original.event_id, original.payload, original.pk)
    assert copy.status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert receiver.requests[1]["headers"]["x-servicedesk-delivery"] == str(original.event_id)


def test_only_the_owner_or_an_admin_may_redeliver(desk, receiver, publish):
    team, admin, agent = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    factories.ticket(team=team)
    publish()
    with pytest.raises(services.PermissionDenied):
        services.delivery_redeliver(delivery=WebhookDelivery.objects.get(), by=agent)


def test_the_admin_redeliver_action_and_delivery_log(
    admin_client, desk, receiver, publish, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created", "message.created"])
    factories.ticket(team=team)
    receiver.answer(500)
    publish()
    failed = WebhookDelivery.objects.get(event_type="ticket.created")
    assert failed.response_status == 500

    changelist = reverse("admin:webhooks_webhookdelivery_changelist")
    with django_assert_max_num_queries(12):
        response = admin_client.get(changelist, {"status": "pending"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [failed]
    detail = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[failed.pk]))
    assert detail.status_code == 200
    assert "status 500" in detail.content.decode()
    assert "&quot;ticket.created&quot;" in detail.content.decode() or "ticket.created" in detail.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(changelist, {"action": "redeliver", "_selected_action": [failed.pk]})
    assert response.status_code == 302
    copy = WebhookDelivery.objects.get(redelivery_of=failed)
    assert copy.status == DeliveryStatus.DELIVERED
    assert copy.event_id == failed.event_id
    assert receiver.requests[-1]["headers"]["x-servicedesk-delivery"] == str(failed.event_id)


def test_the_admin_shows_the_secret_once_at_creation(admin_client, desk, receiver):
    response = admin_client.post(
        reverse("admin:webhooks_webhooksubscription_add"),
        {"name": "ERP", "url": receiver.url, "events": ["ticket.created"], "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    from webhooks.models import WebhookSubscription

    subscription = WebhookSubscription.objects.get(name="ERP")
    assert subscription.secret in response.content.decode()
    listed = admin_client.get(reverse("admin:webhooks_webhooksubscription_changelist"))
    assert listed.status_code == 200
    assert subscription.secret not in listed.content.decode()
    page = admin_client.get(reverse("admin:webhooks_webhooksubscription_change", args=[subscription.pk]))
    assert subscription.secret not in page.content.decode()
    assert subscription.masked_secret in page.content.decode()

    refused = admin_client.post(
        reverse("admin:webhooks_webhooksubscription_add"),
        {"name": "Metadata", "url": "http://169.254.169.254/", "events": ["ticket.created"], "is_active": "on"},
    )
    assert refused.status_code == 200
    assert "internal address" in refused.content.decode()
    assert not WebhookSubscription.objects.filter(name="Metadata").exists()


# --- The real broker path ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consuming_the_worker_queues_delivers_through_redis(desk, receiver):
    """Through Redis: the publish task (queue default) writes the delivery, whose task is routed
    to the webhooks queue, which the deployment's worker consumes (WORKER_QUEUES)."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings as django_settings

    from service_desk.celery import app

    assert "webhooks" in django_settings.WORKER_QUEUES
    assert app.amqp.router.route({}, "webhooks.tasks.deliver_webhook_task")["queue"].name == "webhooks"
    team, admin, _ = desk
    subscribe(admin, receiver.url, ["ticket.created"])
    app.conf.task_always_eager = False
    app.control.purge()
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=django_settings.WORKER_QUEUES
        ):
            ticket = factories.ticket(team=team)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not receiver.requests:
                time.sleep(0.1)
    finally:
        app.conf.task_always_eager = True
    assert [p["data"]["ticket"]["reference"] for p in receiver.payloads()] == [ticket.reference]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
