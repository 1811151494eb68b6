"""Idempotency-Key on create endpoints: replay, conflicting reuse, concurrent duplicates."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from service_desk.models import IdempotencyRecord
from tests.integration.api_support import World, build_world, make_world, no_throttle
from tickets.models import Message, Ticket


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_answer_and_creates_nothing(world):
    client = world.client("b2c")
    body = {"subject": "Parcel", "body": "Where is it?"}
    first = client.post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    before = Ticket.objects.count()
    second = client.post(
        "/api/v1/tickets/", {"body": "Where is it?", "subject": "Parcel"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert second["Location"] == first["Location"]
    assert "Idempotent-Replayed" not in first
    assert Ticket.objects.count() == before


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(world):
    client = world.client("admin")
    body = {"subject": "A", "body": "x", "requester": world.contacts["b2c"].pk}
    assert client.post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201
    response = client.post("/api/v1/tickets/", {**body, "subject": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_keys_are_per_caller_and_failed_requests_are_not_stored(world):
    body = {"subject": "Mine", "body": "x"}
    a = world.client("b2c").post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = world.client("other_org").post("/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    bad = world.client("b2c").post("/api/v1/tickets/", {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="bad").exists()
    fixed = world.client("b2c").post("/api/v1/tickets/", {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert fixed.status_code == 400


@pytest.mark.django_db
def test_message_creation_is_idempotent_too(world):
    client = world.client("admin")
    url = f"/api/v1/tickets/{world.tickets['other'].pk}/messages/"
    before = Message.objects.count()
    first = client.post(url, {"kind": "note", "body": "Checked"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    again = client.post(url, {"kind": "note", "body": "Checked"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Message.objects.count() == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_gets_409_while_the_first_runs(settings):
    """Two requests with one key at the same moment: one creates, the other is told to retry (409)."""
    no_throttle(settings)
    w = build_world()
    start = threading.Barrier(2)
    answers: list[int] = []

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {w.tokens['b2c']}")
        start.wait()
        try:
            response = client.post(
                "/api/v1/tickets/", {"subject": "Race", "body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    # Hold the first create inside its transaction long enough for the second to arrive.
    from tickets import services

    original = services.tickets_create_bulk
    gate = threading.Event()

    def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        gate.wait(5)
        return original(*args, **kwargs)

    services.tickets_create_bulk = slow
    try:
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        import time

        deadline = time.monotonic() + 5
        while len(answers) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        services.tickets_create_bulk = original
    assert sorted(answers) == [201, 409]
    assert Ticket.objects.filter(subject="Race").count() == 1
    replay = APIClient()
    replay.credentials(HTTP_AUTHORIZATION=f"Token {w.tokens['b2c']}")
    again = replay.post(
        "/api/v1/tickets/", {"subject": "Race", "body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="race"
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
