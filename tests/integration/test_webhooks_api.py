"""The webhooks API: subscriptions and the delivery log, for every role; secret shown once; SSRF refused."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.integration.api_support import ROLES, World, make_world
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db

SUBS = "/api/v1/webhook-subscriptions/"
DELIVERIES = "/api/v1/webhook-deliveries/"
RECEIVER = "http://127.0.0.1:9/hooks"


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


@pytest.fixture
def hooks(world, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    subs = {
        role: services.subscription_create(
            owner=world.users[role], name=f"{role} hook", url=RECEIVER, events=["ticket.created"]
        )
        for role in ("agent_a", "agent_b", "admin")
    }
    now = timezone.now()
    deliveries = {
        role: WebhookDelivery.objects.create(
            subscription=sub,
            event_id="3f2a8c9e-0000-4000-8000-00000000000" + str(n),
            event_type="ticket.created",
            payload='{"id":"x","type":"ticket.created","data":{}}',
            status="failed",
            attempts=8,
            next_attempt_at=now,
            created_at=now,
        )
        for n, (role, sub) in enumerate(subs.items())
    }
    return subs, deliveries


def ids(response) -> list[int]:  # noqa: ANN001
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("role", ROLES)
def test_subscription_list_is_scoped_by_role(world, hooks, role):
    subs, _ = hooks
    response = world.client(role).get(SUBS)
    expected = {
        "anonymous": 401,
        "admin": 200,
        "agent_a": 200,
        "agent_b": 200,
    }.get(role, 403)
    assert response.status_code == expected, response.content
    if expected != 200:
        assert response.json()["error"]["code"] in {"not_authenticated", "permission_denied"}
        return
    if role == "admin":
        assert sorted(ids(response)) == sorted(s.pk for s in subs.values())
    else:
        assert ids(response) == [subs[role].pk]
    assert all("secret" not in row for row in response.json()["results"])


@pytest.mark.parametrize("role", ROLES)
def test_delivery_log_is_scoped_by_role(world, hooks, role):
    _, deliveries = hooks
    response = world.client(role).get(DELIVERIES)
    if role in ("agent_a", "agent_b"):
        assert ids(response) == [deliveries[role].pk]
    elif role == "admin":
        assert sorted(ids(response)) == sorted(d.pk for d in deliveries.values())
    else:
        assert response.status_code in (401, 403)


def test_objects_of_other_agents_are_404(world, hooks):
    subs, deliveries = hooks
    client = world.client("agent_a")
    for url in (
        f"{SUBS}{subs['agent_b'].pk}/",
        f"{SUBS}{subs['admin'].pk}/",
        f"{DELIVERIES}{deliveries['agent_b'].pk}/",
    ):
        assert client.get(url).status_code == 404
    assert client.patch(f"{SUBS}{subs['agent_b'].pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"{SUBS}{subs['agent_b'].pk}/").status_code == 404
    assert client.post(f"{DELIVERIES}{deliveries['agent_b'].pk}/redeliver/").status_code == 404
    assert client.get(f"{SUBS}99999999999999999999999/").status_code == 404
    # The admin reads everybody's.
    assert world.client("admin").get(f"{SUBS}{subs['agent_b'].pk}/").status_code == 200


def test_create_returns_the_secret_once(world, hooks):
    client = world.client("agent_a")
    response = client.post(
        SUBS,
        {"name": "CRM", "url": RECEIVER, "events": ["message.created", "ticket.created"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert body["secret"] == subscription.secret
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["ticket.created", "message.created"]
    assert body["owner"]["username"] == "agent_a"
    assert body["include_internal_notes"] is False
    detail = client.get(f"{SUBS}{body['id']}/").json()
    assert "secret" not in detail
    assert detail["secret_hint"] == subscription.masked_secret
    assert subscription.secret not in str(client.get(SUBS).content)

    rotated = client.post(f"{SUBS}{body['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (body["secret"], None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "url": "http://169.254.169.254/latest/", "events": ["ticket.created"]}, "url"),
        ({"name": "x", "url": "http://10.0.0.1/", "events": ["ticket.created"]}, "url"),
        ({"name": "x", "url": "http://127.0.0.2:8000/", "events": ["ticket.created"]}, "url"),
        ({"name": "x", "url": "gopher://example.com/", "events": ["ticket.created"]}, "url"),
        ({"name": "x", "url": RECEIVER, "events": ["ticket.deleted"]}, "events"),
        ({"name": "x", "url": RECEIVER, "events": []}, "events"),
        ({"name": "", "url": RECEIVER, "events": ["ticket.created"]}, "name"),
        ({"name": "x", "url": RECEIVER, "events": ["ticket.created"], "secret": "mine"}, "secret"),
        ({"name": "x", "url": RECEIVER, "events": ["ticket.created"], "owner": 1}, "owner"),
    ],
)
def test_invalid_subscriptions_are_refused_with_the_field(world, hooks, settings, payload, field):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    response = world.client("admin").post(SUBS, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(key.split(".")[0] == field for key in error["fields"])


def test_update_and_delete(world, hooks):
    subs, _ = hooks
    client = world.client("agent_a")
    url = f"{SUBS}{subs['agent_a'].pk}/"
    response = client.patch(url, {"is_active": False, "events": ["sla.breached"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    assert response.json()["events"] == ["sla.breached"]
    assert response.json()["name"] == "agent_a hook"  # untouched
    refused = client.patch(url, {"url": "http://[::1]/"}, format="json")
    assert refused.status_code == 400
    assert "url" in refused.json()["error"]["fields"]
    replaced = client.put(url, {"name": "New", "url": RECEIVER, "events": ["ticket.updated"]}, format="json")
    assert replaced.status_code == 200
    assert (replaced.json()["name"], replaced.json()["is_active"]) == ("New", True)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_redeliver_queues_the_same_event_again(world, hooks, django_capture_on_commit_callbacks, monkeypatch):
    _, deliveries = hooks
    queued: list[int] = []
    monkeypatch.setattr("webhooks.tasks.deliver_webhook_task.delay", queued.append)
    original = deliveries["agent_a"]
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("agent_a").post(f"{DELIVERIES}{original.pk}/redeliver/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["event_id"] == str(original.event_id)
    assert body["redelivery_of"] == original.pk
    assert body["status"] == "pending"
    assert queued == [body["id"]]

    detail = world.client("agent_a").get(f"{DELIVERIES}{body['id']}/").json()
    assert detail["payload"] == {"id": "x", "type": "ticket.created", "data": {}}

    WebhookSubscription.objects.filter(pk=original.subscription_id).update(is_active=False)
    inactive = world.client("agent_a").post(f"{DELIVERIES}{original.pk}/redeliver/")
    assert inactive.status_code == 409
    assert inactive.json()["error"]["code"] == "subscription_inactive"


def test_delivery_filters(world, hooks):
    subs, deliveries = hooks
    client = world.client("admin")
    assert ids(client.get(DELIVERIES, {"subscription": subs["agent_b"].pk})) == [deliveries["agent_b"].pk]
    assert ids(client.get(DELIVERIES, {"status": "pending"})) == []
    assert len(ids(client.get(DELIVERIES, {"event_type": "ticket.created", "status": "failed"}))) == 3
    assert ids(client.get(DELIVERIES, {"event_id": str(deliveries["admin"].event_id)})) == [deliveries["admin"].pk]
    for bad in ({"status": "nope"}, {"subscription": "99999999999999999999999"}, {"event_id": "x"}):
        response = client.get(DELIVERIES, bad)
        assert response.status_code == 400, (bad, response.content)


def test_list_endpoints_use_a_bounded_number_of_queries(world, hooks, django_assert_max_num_queries):
    subs, _ = hooks
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subs["admin"],
            event_id=f"00000000-0000-4000-8000-{n:012d}",
            event_type="ticket.updated",
            payload="{}",
            next_attempt_at=now,
            created_at=now,
        )
        for n in range(60)
    )
    for n in range(20):
        services.subscription_create(owner=world.users["admin"], name=f"hook {n}", url=RECEIVER, events=["sla.warning"])
    client = world.client("admin")
    with django_assert_max_num_queries(8):
        first = client.get(DELIVERIES, {"page_size": 50})
    assert len(first.json()["results"]) == 50
    with django_assert_max_num_queries(8):
        second = client.get(DELIVERIES, {"page_size": 50, "cursor": first.json()["next_cursor"]})
    assert len(second.json()["results"]) == 13
    with django_assert_max_num_queries(8):
        listed = client.get(SUBS)
    assert len(listed.json()["results"]) == 23
