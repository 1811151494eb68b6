"""Tokens (hashed, revocable, expiring), the create_api_token command, throttling, the error format."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.api.tokens import hash_token
from accounts.models import ApiToken
from tests import factories
from tests.integration.api_support import World, clear_throttle_counters, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_database_never_holds_the_token(world):
    token = world.tokens["admin"]
    row = ApiToken.objects.get(user=world.users["admin"])
    assert row.key_hash == hash_token(token) and len(row.key_hash) == 64
    assert token.startswith(row.prefix) and len(row.prefix) < len(token)
    assert not ApiToken.objects.filter(key_hash=token).exists()
    for value in ApiToken.objects.values_list("name", "prefix", "key_hash"):
        assert token not in value


def test_revoked_expired_and_unknown_tokens_are_401(world):
    row = ApiToken.objects.get(user=world.users["agent_a"])
    assert _client(world.tokens["agent_a"]).get("/api/v1/tickets/").status_code == 200
    account_services.api_token_revoke(token=row)
    response = _client(world.tokens["agent_a"]).get("/api/v1/tickets/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    row = ApiToken.objects.get(user=world.users["agent_b"])
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(world.tokens["agent_b"]).get("/api/v1/tickets/").status_code == 401
    assert _client("sdk_nonsense").get("/api/v1/tickets/").status_code == 401
    bad_header = APIClient()
    bad_header.credentials(HTTP_AUTHORIZATION="Token")
    assert bad_header.get("/api/v1/tickets/").status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(world, django_assert_num_queries):
    row = ApiToken.objects.get(user=world.users["admin"])
    assert row.last_used_at is None
    client = _client(world.tokens["admin"])
    client.get("/api/v1/teams/")
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    client.get("/api/v1/teams/")
    row.refresh_from_db()
    assert row.last_used_at == first


def test_create_api_token_prints_the_token_once(db):
    user = factories.agent(username="integrator")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "integrator", "--name", "Shop", stdout=out, stderr=err)
    token = out.getvalue().strip()
    row = ApiToken.objects.get(user=user)
    assert row.name == "Shop" and row.key_hash == hash_token(token)
    assert token not in err.getvalue()
    assert _client(token).get("/api/v1/teams/").status_code == 200
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", "--name", "x", stdout=io.StringIO(), stderr=io.StringIO())


def test_throttling_answers_429_with_retry_after(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "ip": None}}
    clear_throttle_counters()
    client = _client(world.tokens["b2c"])
    statuses = [client.get("/api/v1/tickets/").status_code for _ in range(3)]
    if statuses != [200, 200, 200]:  # the minute turned over between the requests: count again
        clear_throttle_counters()
        statuses = [client.get("/api/v1/tickets/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get("/api/v1/tickets/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another token has its own budget.
    assert _client(world.tokens["b2b_plain"]).get("/api/v1/tickets/").status_code == 200


def test_the_ip_limit_covers_every_token_from_one_address(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None, "ip": "4/hour"}}
    clear_throttle_counters()
    statuses = [
        _client(world.tokens[role]).get("/api/v1/tickets/").status_code
        for role in ["b2c", "b2b_plain", "b2b_rights", "other_org", "admin", "agent_a"]
    ]
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4:] == [429, 429]
    clear_throttle_counters()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/api/v1/tickets/999999/", {}, 404, "not_found"),
        ("get", "/api/v1/tickets/99999999999999999999999/", {}, 404, "not_found"),
        ("get", "/api/v1/nothing-here/", {}, 404, "not_found"),
        ("delete", "/api/v1/tickets/", {}, 405, "method_not_allowed"),
        ("put", "/api/v1/tickets/1/", {"data": {}, "format": "json"}, 405, "method_not_allowed"),
        ("post", "/api/v1/tickets/", {"data": "{not json", "content_type": "application/json"}, 400, "parse_error"),
        ("post", "/api/v1/tickets/", {"data": "x", "content_type": "text/csv"}, 415, "unsupported_media_type"),
        ("get", "/api/v1/tickets/?status=bogus", {}, 400, "invalid"),
        ("get", "/api/v1/tickets/?cursor=garbage", {}, 400, "invalid_cursor"),
        ("get", "/api/v1/tickets/?page_size=1000", {}, 400, "invalid"),
        ("get", "/api/v1/tickets/?ordering=subject", {}, 400, "invalid"),
        ("get", "/api/v1/tickets/?created_after=yesterday", {}, 400, "invalid"),
        ("get", "/api/v1/tickets/?organization=99999999999999999999999", {}, 400, "invalid"),
    ],
)
def test_every_error_has_one_format(world, method, path, kwargs, status, code):
    response = getattr(world.client("admin"), method)(path, **kwargs)
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)


def test_service_errors_are_400_with_the_field(world):
    client = world.client("admin")
    closed = world.tickets["b2c"]
    assert client.patch(f"/api/v1/tickets/{closed.pk}/", {"status": "closed"}, format="json").status_code == 200
    response = client.patch(f"/api/v1/tickets/{closed.pk}/", {"priority": "high"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]
    response = client.patch(
        f"/api/v1/tickets/{world.tickets['other'].pk}/", {"assignee": world.users["agent_a"].pk}, format="json"
    )
    assert response.status_code == 400 and "assignee" in response.json()["error"]["fields"]


def test_schema_and_docs_are_served_without_a_cdn(world):
    client = world.client("anonymous")
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["Token"]["name"] == "Authorization"
    assert "Error" in spec["components"]["schemas"]
    create = spec["paths"]["/api/v1/tickets/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert {"201", "400", "401", "409", "422", "429"} <= set(create["responses"])
    listing = spec["paths"]["/api/v1/tickets/"]["get"]
    assert {"cursor", "page_size", "status", "search", "ordering"} <= {p["name"] for p in listing["parameters"]}
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar" in html and "cdn" not in html.lower()
    # No inline script (a CSP comes later): the page's own script is served separately.
    assert "<script>" not in html.replace(" ", "")
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_oversized_bodies_are_413(world, settings):
    settings.API_MAX_JSON_BYTES = 1000
    big = {"subject": "x", "body": "y" * 2000, "requester": world.contacts["b2c"].pk}
    response = world.client("admin").post("/api/v1/tickets/", big, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_agents_create_contacts_customers_cannot(world):
    body = {"email": "Ann@NewCo.example", "name": "Ann", "organization": world.orgs["acme"].pk, "role": "CTO"}
    response = world.client("agent_a").post("/api/v1/contacts/", body, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["emails"] == ["ann@newco.example"] and created["organization"]["id"] == world.orgs["acme"].pk
    again = world.client("agent_a").post("/api/v1/contacts/", body, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert again.status_code == 201 and again.json()["id"] == created["id"]
    taken = world.client("agent_a").post("/api/v1/contacts/", body, format="json")
    assert taken.status_code == 400 and "email" in taken.json()["error"]["fields"]
    refused = world.client("b2b_rights").post("/api/v1/contacts/", {"email": "x@y.example"}, format="json")
    assert refused.status_code == 403
    assert (
        world.client("anonymous").post("/api/v1/contacts/", {"email": "x@y.example"}, format="json").status_code == 401
    )
