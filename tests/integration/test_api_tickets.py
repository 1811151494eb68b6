"""Tickets through the API: create (JSON, multipart, base64), update through the services, messages,
filters, ordering, cursor pagination and query counts."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import ApiToken
from tests import factories
from tests.integration.api_support import World, make_world
from tickets.choices import Channel, EventAction
from tickets.models import Ticket, TicketEvent, TicketType

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


def test_agent_creates_a_ticket_for_a_new_address_through_the_service_layer(world):
    client = world.client("agent_a")
    response = client.post(
        "/api/v1/tickets/",
        {
            "subject": "Phone: router broken",
            "body": "Customer called",
            "requester_email": "New.Person@Shop.example",
            "requester_name": "New Person",
            "channel": "phone",
            "team": world.teams["a"].pk,
            "assignee": world.users["agent_a"].pk,
            "attachments": [{"filename": "log.txt", "content_base64": base64.b64encode(b"boom").decode()}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert response["Location"].endswith(f"/api/v1/tickets/{data['id']}/")
    ticket = Ticket.objects.get(pk=data["id"])
    assert ticket.channel == Channel.PHONE and ticket.team_id == world.teams["a"].pk
    assert ticket.requester.name == "New Person"
    event = TicketEvent.objects.get(ticket=ticket, action=EventAction.CREATED)
    assert event.channel == Channel.API and event.actor_id == world.users["agent_a"].pk
    message = ticket.messages.get()
    assert message.attachments.get().filename == "log.txt"


def test_customer_creates_with_multipart_files_and_sees_them(world):
    client = world.client("b2b_plain")
    upload = SimpleUploadedFile("screen.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20, content_type="image/png")
    response = client.post(
        "/api/v1/tickets/", {"subject": "Screen", "body": "See file", "attachments": [upload]}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.organization_id == world.orgs["acme"].pk
    assert ticket.team_id == world.teams["a"].pk  # the organization's default team, as in the portal
    messages = client.get(f"/api/v1/tickets/{ticket.pk}/messages/").json()["results"]
    attachment = messages[0]["attachments"][0]
    assert attachment["content_type"] == "image/png"
    download = client.get(attachment["content_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")


def test_invalid_input_is_400_naming_the_field(world):
    client = world.client("admin")
    cases = [
        ({"body": "no subject", "requester": world.contacts["b2c"].pk}, "subject"),
        ({"subject": "s", "body": "", "requester": world.contacts["b2c"].pk}, "body"),
        ({"subject": "s", "body": "b"}, "requester"),
        ({"subject": "s", "body": "b", "requester": 99999999}, "requester"),
        ({"subject": "s", "body": "b", "requester_email": "not-an-address"}, "requester_email"),
        ({"subject": "s", "body": "b", "requester": world.contacts["b2c"].pk, "type": 424242}, "type"),
        ({"subject": "s", "body": "b", "requester": world.contacts["b2c"].pk, "priority": "asap"}, "priority"),
        ({"subject": "s", "body": "b", "requester": world.contacts["b2c"].pk, "status": "open"}, "status"),
        (
            {
                "subject": "s",
                "requester": world.contacts["b2c"].pk,
                "attachments": [{"filename": "a", "content_base64": "@@"}],
            },
            "attachments.0.content_base64",
        ),
        (
            {"subject": "s", "body": "b", "requester": world.contacts["b2c"].pk, "custom_fields": "nope"},
            "custom_fields",
        ),
    ]
    for body, field in cases:
        response = client.post("/api/v1/tickets/", body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert field in response.json()["error"]["fields"], (field, response.json())


def test_agent_updates_each_field_through_its_service(world):
    TicketType.objects.create(name="Incident")
    kind = TicketType.objects.get(name="Incident")
    client = world.client("agent_a")
    ticket = world.tickets["acme_rights"]
    response = client.patch(
        f"/api/v1/tickets/{ticket.pk}/",
        {
            "priority": "urgent",
            "assignee": world.users["agent_a"].pk,
            "tags": ["VPN", "network"],
            "type": kind.pk,
            "status": "pending",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["priority"] == "urgent" and data["status"] == "pending"
    assert data["assignee"]["id"] == world.users["agent_a"].pk
    assert data["tags"] == ["network", "vpn"] and data["type"]["name"] == "Incident"
    actions = set(TicketEvent.objects.filter(ticket=ticket, channel=Channel.API).values_list("action", flat=True))
    assert {"priority", "assignee", "tags", "type", "status"} <= actions
    response = client.patch(f"/api/v1/tickets/{ticket.pk}/", {"tags": ["vpn"]}, format="json")
    assert response.json()["tags"] == ["vpn"]


def test_a_failing_change_rolls_back_the_whole_patch(world):
    client = world.client("admin")
    ticket = world.tickets["other"]
    response = client.patch(
        f"/api/v1/tickets/{ticket.pk}/", {"priority": "high", "assignee": world.users["agent_a"].pk}, format="json"
    )
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_customers_solve_and_reopen_but_set_nothing_else(world):
    client = world.client("b2c")
    pk = world.tickets["b2c"].pk
    for field, value in [("priority", "high"), ("assignee", 1), ("tags", ["x"]), ("custom_fields", {})]:
        response = client.patch(f"/api/v1/tickets/{pk}/", {field: value}, format="json")
        assert response.status_code == 400 and field in response.json()["error"]["fields"]
    response = client.patch(f"/api/v1/tickets/{pk}/", {"status": "pending"}, format="json")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]
    assert client.patch(f"/api/v1/tickets/{pk}/", {"status": "solved"}, format="json").json()["status"] == "solved"
    assert client.patch(f"/api/v1/tickets/{pk}/", {"status": "open"}, format="json").json()["status"] == "open"


def test_messages_replies_and_notes(world):
    agent, customer = world.client("agent_a"), world.client("b2b_plain")
    url = f"/api/v1/tickets/{world.tickets['acme_plain'].pk}/messages/"
    note = agent.post(url, {"kind": "note", "body": "Looks like hardware"}, format="json")
    assert note.status_code == 201 and note.json()["kind"] == "note"
    reply = agent.post(url, {"body": "Please restart", "status": "pending"}, format="json")
    assert reply.status_code == 201
    assert (
        world.client("agent_a").get(f"/api/v1/tickets/{world.tickets['acme_plain'].pk}/").json()["status"] == "pending"
    )
    refused = customer.post(url, {"kind": "note", "body": "sneaky"}, format="json")
    assert refused.status_code == 400 and "kind" in refused.json()["error"]["fields"]
    refused = customer.post(url, {"body": "x", "status": "closed"}, format="json")
    assert refused.status_code == 400 and "status" in refused.json()["error"]["fields"]
    answer = customer.post(url, {"body": "Restarted, still broken"}, format="json")
    assert answer.status_code == 201 and answer.json()["author"]["type"] == "customer"
    seen = [m["body_text"] for m in customer.get(url).json()["results"]]
    assert "Looks like hardware" not in seen and "Restarted, still broken" in seen


def test_filters_search_and_ordering(world):
    client = world.client("admin")
    client.patch(
        f"/api/v1/tickets/{world.tickets['other'].pk}/", {"tags": ["billing"], "priority": "high"}, format="json"
    )
    client.patch(f"/api/v1/tickets/{world.tickets['b2c'].pk}/", {"assignee": world.users["admin"].pk}, format="json")

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/v1/tickets/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    t = world.tickets
    assert ids("tag=billing") == {t["other"].pk}
    assert ids("priority=high") == {t["other"].pk}
    assert ids("status=new&status=open") == {x.pk for x in t.values()}
    assert ids(f"organization={world.orgs['acme'].pk}") == {t["acme_plain"].pk, t["acme_rights"].pk}
    assert ids(f"requester={world.contacts['b2c'].pk}") == {t["b2c"].pk}
    assert ids("assignee=me") == {t["b2c"].pk}
    assert t["b2c"].pk not in ids("assignee=none")
    assert ids(f"team={world.teams['b'].pk}") == {t["other"].pk}
    assert ids("channel=email") == {x.pk for x in t.values()}
    assert ids("search=printer") == {t["acme_plain"].pk}
    assert ids(f"search={t['other'].reference}") == {t["other"].pk}
    assert ids("sla=none") == {x.pk for x in t.values()}
    assert ids("created_after=2000-01-01T00:00:00Z&updated_before=2100-01-01T00:00:00Z") == {x.pk for x in t.values()}
    assert ids("created_before=2000-01-01T00:00:00Z") == set()
    newest = client.get("/api/v1/tickets/?ordering=created").json()["results"]
    assert [r["id"] for r in newest] == sorted((x.pk for x in t.values()), reverse=True)
    urgent_first = client.get("/api/v1/tickets/?ordering=priority").json()["results"]
    assert urgent_first[0]["id"] == t["other"].pk


def test_cursor_pagination_walks_every_ticket_once(world):
    from tests.integration.sla_support import policy

    client = world.client("admin")
    policy(is_default=True)  # so that the "sla" order has running targets to walk
    for n in range(7):
        factories.ticket(requester=world.contacts["b2c"], subject=f"Bulk {n}")
    for ordering in ("updated", "created", "sla", "priority"):
        seen: list[int] = []
        url = f"/api/v1/tickets/?page_size=2&ordering={ordering}"
        while url:
            page = client.get(url).json()
            assert len(page["results"]) <= 2
            seen += [row["id"] for row in page["results"]]
            url = page["next"]
        active = Ticket.objects.filter(status__in=["new", "open", "pending", "on_hold"])
        expected = {
            "priority": active.count(),
            "sla": active.filter(sla_due_at__isnull=False).count(),
        }.get(ordering, Ticket.objects.count())
        assert len(seen) == len(set(seen)) == expected, ordering
        assert expected >= 7


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets/",
        "/api/v1/tickets/?status=new&tag=x&ordering=created",
        "/api/v1/organizations/",
        "/api/v1/contacts/",
        "/api/v1/agents/",
        "/api/v1/teams/",
        "/api/v1/tags/",
        "/api/v1/sla-policies/",
        "/api/v1/ticket-types/",
        "messages",
    ],
)
@pytest.mark.parametrize("role", ["admin", "b2b_rights"])
def test_list_endpoints_use_a_fixed_number_of_queries(world, role, path, django_assert_max_num_queries):
    for n in range(6):
        factories.ticket(requester=world.contacts["b2b_rights"], subject=f"More {n}")
        factories.contact(organization=world.orgs["acme"])
    if path == "messages":
        path = f"/api/v1/tickets/{world.tickets['acme_plain'].pk}/messages/"
    client = world.client(role)
    ApiToken.objects.update(last_used_at=None)
    client.get(path)  # warm: last_used_at is written once a minute
    with django_assert_max_num_queries(9):
        response = client.get(path)
    assert response.status_code in (200, 403)


def test_agents_manage_their_own_tokens_in_the_workspace(world, client):
    user = world.users["agent_a"]
    client.force_login(user)
    page = client.get(reverse("desk:api_tokens"))
    assert page.status_code == 200
    assert reverse("desk:api_tokens") in client.get(reverse("desk:preferences")).content.decode()
    response = client.post(reverse("desk:api_tokens"), {"name": "Zapier", "expires_in": "30"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = response.context["new_token"]
    row = ApiToken.objects.get(user=user, name="Zapier")
    assert row.expires_at is not None and token.startswith(row.prefix)
    assert world.client("anonymous").get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    # Another agent's token cannot be revoked from here (404), one's own can.
    other = ApiToken.objects.get(user=world.users["agent_b"])
    assert client.post(reverse("desk:api_token_revoke", args=[other.pk])).status_code == 404
    assert client.post(reverse("desk:api_token_revoke", args=[row.pk])).status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert world.client("anonymous").get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    client.force_login(world.users["b2c"])
    assert client.get(reverse("desk:api_tokens")).status_code == 404


def test_session_authentication_needs_csrf(world):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(world.users["agent_a"])
    assert browser.get("/api/v1/tickets/").status_code == 200
    refused = browser.post("/api/v1/tickets/", {"subject": "x", "body": "y", "requester": 1}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
