"""Shared world for the API tests: every role of the issue, with a token each, and tickets between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.choices import AgentRole
from tests import factories
from tickets import services as ticket_services
from tickets.choices import Channel

ROLES = ["anonymous", "b2c", "b2b_rights", "b2b_plain", "other_org", "agent_a", "agent_b", "admin"]


@dataclass
class World:
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    contacts: dict = field(default_factory=dict)
    tickets: dict = field(default_factory=dict)
    orgs: dict = field(default_factory=dict)
    teams: dict = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[role]}")
        return client


def no_throttle(settings) -> None:  # noqa: ANN001
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None, "ip": None}}


def build_world() -> World:
    w = World()
    w.teams["a"] = factories.team("Team A")
    w.teams["b"] = factories.team("Team B")
    w.users["agent_a"] = factories.agent(teams=[w.teams["a"]], username="agent_a")
    w.users["agent_b"] = factories.agent(teams=[w.teams["b"]], username="agent_b")
    w.users["admin"] = factories.agent(role=AgentRole.ADMIN, username="boss")
    w.orgs["acme"] = factories.organization("Acme", default_team=w.teams["a"])
    w.orgs["other"] = factories.organization("Other Corp")
    w.contacts["b2c"] = factories.contact(name="Bea Consumer")
    w.contacts["b2b_rights"] = factories.contact(
        name="Rita Rights", organization=w.orgs["acme"], can_see_organization_tickets=True
    )
    w.contacts["b2b_plain"] = factories.contact(name="Paul Plain", organization=w.orgs["acme"])
    w.contacts["other_org"] = factories.contact(
        name="Olga Other", organization=w.orgs["other"], can_see_organization_tickets=True
    )
    for role in ("b2c", "b2b_rights", "b2b_plain", "other_org"):
        w.users[role] = factories.customer_user(w.contacts[role], username=f"cust_{role}")
    for role, user in w.users.items():
        w.tokens[role] = account_services.api_token_create(user=user, name=f"{role} token")[1]
    w.tickets["b2c"] = factories.ticket(requester=w.contacts["b2c"], subject="Consumer parcel lost")
    w.tickets["acme_plain"] = factories.ticket(
        requester=w.contacts["b2b_plain"], subject="Printer jam", team=w.teams["a"]
    )
    w.tickets["acme_rights"] = factories.ticket(
        requester=w.contacts["b2b_rights"], subject="VPN down", team=w.teams["a"]
    )
    w.tickets["other"] = factories.ticket(requester=w.contacts["other_org"], subject="Invoice", team=w.teams["b"])
    # An internal note with an attachment and a public reply with one, on the Acme ticket.
    agent = ticket_services.Actor.agent(w.users["admin"], Channel.AGENT_UI)
    w.note = ticket_services.ticket_add_note(
        ticket=w.tickets["acme_plain"],
        by=agent,
        body_text="Internal: customer is grumpy",
        attachments=[ticket_services.NewAttachment("internal.txt", b"secret notes")],
    )
    w.reply = ticket_services.ticket_reply(
        ticket=w.tickets["acme_plain"],
        by=agent,
        body_text="We are on it",
        attachments=[ticket_services.NewAttachment("steps.txt", b"1. turn it off")],
    )
    return w


def make_world(settings) -> World:  # noqa: ANN001
    """What each API test module's ``world`` fixture returns (a fixture here would be imported by name)."""
    no_throttle(settings)
    return build_world()


def clear_throttle_counters() -> None:
    """Forget the API's rate-limit windows in Redis (ids repeat between test runs)."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)  # Django's RedisCache: the redis-py client
    keys = list(client.scan_iter(match="*api-throttle:*"))
    if keys:
        client.delete(*keys)
