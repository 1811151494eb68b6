"""Every endpoint for every role: what each caller sees, and that out-of-scope objects are 404s."""

from __future__ import annotations

import pytest

from tests.integration.api_support import ROLES, World, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:  # noqa: ANN001
    return make_world(settings)


# Which tickets each role may read (by the world's ticket names).
TICKETS_SEEN = {
    "anonymous": set(),
    "b2c": {"b2c"},
    "b2b_plain": {"acme_plain"},
    "b2b_rights": {"acme_plain", "acme_rights"},
    "other_org": {"other"},
    # Team A's agent: Team A's tickets and unrouted ones (the B2C ticket has no team).
    "agent_a": {"acme_plain", "acme_rights", "b2c"},
    "agent_b": {"other", "b2c"},
    "admin": {"b2c", "acme_plain", "acme_rights", "other"},
}
TICKET_NAMES = ["b2c", "acme_plain", "acme_rights", "other"]


@pytest.mark.parametrize("role", ROLES)
def test_ticket_list_shows_exactly_the_callers_tickets(world, role):
    response = world.client(role).get("/api/v1/tickets/")
    if role == "anonymous":
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == "Token"
        return
    assert response.status_code == 200
    got = {row["id"] for row in response.json()["results"]}
    assert got == {world.tickets[name].pk for name in TICKETS_SEEN[role]}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", TICKET_NAMES)
def test_ticket_detail_is_404_outside_the_scope(world, role, name):
    ticket = world.tickets[name]
    response = world.client(role).get(f"/api/v1/tickets/{ticket.pk}/")
    by_reference = world.client(role).get(f"/api/v1/tickets/{ticket.reference}/")
    if role == "anonymous":
        assert response.status_code == by_reference.status_code == 401
    elif name in TICKETS_SEEN[role]:
        assert response.status_code == by_reference.status_code == 200
        assert response.json()["reference"] == ticket.reference
    else:
        assert response.status_code == by_reference.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", TICKET_NAMES)
def test_messages_and_writes_on_an_unseen_ticket_are_404(world, role, name):
    if role == "anonymous" or name in TICKETS_SEEN[role]:
        return
    client = world.client(role)
    pk = world.tickets[name].pk
    assert client.get(f"/api/v1/tickets/{pk}/messages/").status_code == 404
    assert client.post(f"/api/v1/tickets/{pk}/messages/", {"body": "hi"}, format="json").status_code == 404
    assert client.patch(f"/api/v1/tickets/{pk}/", {"status": "solved"}, format="json").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_customers_never_see_internal_notes_or_their_attachments(world, role):
    if "acme_plain" not in TICKETS_SEEN[role]:
        return
    client = world.client(role)
    response = client.get(f"/api/v1/tickets/{world.tickets['acme_plain'].pk}/messages/")
    assert response.status_code == 200
    kinds = [m["kind"] for m in response.json()["results"]]
    note_attachment = world.note.attachments.get()
    reply_attachment = world.reply.attachments.get()
    download = client.get(f"/api/v1/attachments/{note_attachment.pk}/content/")
    public = client.get(f"/api/v1/attachments/{reply_attachment.pk}/content/")
    assert public.status_code == 200
    assert b"".join(public.streaming_content) == b"1. turn it off"
    assert public["Content-Disposition"].startswith("attachment")
    assert public["X-Content-Type-Options"] == "nosniff"
    if role.startswith("agent") or role == "admin":
        assert "note" in kinds
        assert download.status_code == 200
    else:
        assert kinds == ["reply", "reply"]
        assert download.status_code == 404
        assert client.get(f"/api/v1/attachments/{note_attachment.pk}/").status_code == 404
        ticket = client.get(f"/api/v1/tickets/{world.tickets['acme_plain'].pk}/").json()
        assert ticket["team"] is None and ticket["assignee"] is None and ticket["tags"] == []


ORGS_SEEN = {
    "b2c": set(),
    "b2b_plain": {"acme"},
    "b2b_rights": {"acme"},
    "other_org": {"other"},
    "agent_a": {"acme", "other"},
    "agent_b": {"acme", "other"},
    "admin": {"acme", "other"},
}
CONTACTS_SEEN = {
    "b2c": {"b2c"},
    "b2b_plain": {"b2b_plain"},
    "b2b_rights": {"b2b_rights", "b2b_plain"},
    "other_org": {"other_org"},
}


@pytest.mark.parametrize("role", ROLES)
def test_organizations_and_contacts_are_scoped(world, role):
    client = world.client(role)
    orgs = client.get("/api/v1/organizations/")
    contacts = client.get("/api/v1/contacts/")
    if role == "anonymous":
        assert orgs.status_code == contacts.status_code == 401
        return
    assert {o["id"] for o in orgs.json()["results"]} == {world.orgs[n].pk for n in ORGS_SEEN[role]}
    for name, org in world.orgs.items():
        status = client.get(f"/api/v1/organizations/{org.pk}/").status_code
        assert status == (200 if name in ORGS_SEEN[role] else 404)
    got = {c["id"] for c in contacts.json()["results"]}
    if role in CONTACTS_SEEN:
        assert got == {world.contacts[n].pk for n in CONTACTS_SEEN[role]}
        for name, contact in world.contacts.items():
            status = client.get(f"/api/v1/contacts/{contact.pk}/").status_code
            assert status == (200 if name in CONTACTS_SEEN[role] else 404)
        for org in orgs.json()["results"]:
            assert org["notes"] is None and org["annual_contract_value"] is None and org["account_manager"] is None
    else:
        assert {world.contacts[n].pk for n in world.contacts} <= got


AGENT_ONLY = ["agents", "teams", "tags", "sla-policies"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("resource", [*AGENT_ONLY, "ticket-types"])
def test_agent_only_resources(world, role, resource):
    response = world.client(role).get(f"/api/v1/{resource}/")
    if role == "anonymous":
        assert response.status_code == 401
    elif role.startswith("agent") or role == "admin" or resource == "ticket-types":
        assert response.status_code == 200
        assert "results" in response.json()
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("role", ROLES)
def test_who_may_create_tickets_and_what_they_may_set(world, role):
    client = world.client(role)
    if role == "anonymous":
        assert client.post("/api/v1/tickets/", {"subject": "x", "body": "y"}, format="json").status_code == 401
        return
    if role.startswith("agent") or role == "admin":
        body = {"subject": "Call from shop", "body": "Order 7 late", "requester": world.contacts["b2c"].pk}
        response = client.post("/api/v1/tickets/", {**body, "priority": "high", "tags": ["Shop"]}, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["priority"] == "high" and response.json()["tags"] == ["shop"]
        assert response.json()["channel"] == "api"
        return
    # Customers: as in the portal. Anything the desk decides is refused by name, never ignored.
    for field, value in [
        ("priority", "urgent"),
        ("assignee", world.users["admin"].pk),
        ("team", world.teams["b"].pk),
        ("tags", ["vip"]),
        ("requester", world.contacts["other_org"].pk),
        ("channel", "phone"),
        ("sla_due_at", "2030-01-01T00:00:00Z"),
        ("organization", world.orgs["other"].pk),
    ]:
        response = client.post("/api/v1/tickets/", {"subject": "x", "body": "y", field: value}, format="json")
        assert response.status_code == 400, field
        assert field in response.json()["error"]["fields"], field
    response = client.post("/api/v1/tickets/", {"subject": "My own", "body": "Please"}, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["requester"]["id"] == world.contacts[role].pk
    assert created["channel"] == "api"
    assert client.get(f"/api/v1/tickets/{created['id']}/").status_code == 200
