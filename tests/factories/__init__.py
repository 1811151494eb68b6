"""Factories that build valid objects through the service layer where one exists."""

from __future__ import annotations

import itertools

from accounts import services as account_services
from accounts.choices import AgentRole, Tier
from accounts.models import Contact, Organization, Team
from tickets import services as ticket_services
from tickets.choices import Channel
from tickets.models import Ticket

_seq = itertools.count(1)


def team(name: str | None = None, **kwargs: object) -> Team:
    return Team.objects.create(name=name or f"Team {next(_seq)}", **kwargs)


def agent(
    *, role: str = AgentRole.AGENT, teams: list[Team] | tuple[Team, ...] = (), username: str | None = None, **kwargs
):  # noqa: ANN201
    n = next(_seq)
    username = username or f"agent{n}"
    return account_services.agent_create(
        username=username, email=f"{username}@desk.example", role=role, teams=teams, password="pw", **kwargs
    )


def organization(
    name: str | None = None, *, domains: tuple[str, ...] = (), tier: str = Tier.STANDARD, **kwargs: object
) -> Organization:
    return account_services.organization_create(name=name or f"Org {next(_seq)}", domains=domains, tier=tier, **kwargs)


def contact(
    *,
    email: str | None = None,
    name: str | None = None,
    organization: Organization | None = None,
    user=None,
    **kwargs: object,
) -> Contact:  # noqa: ANN001
    n = next(_seq)
    created = account_services.contact_create(
        email=email or f"person{n}@consumer.example", name=name or f"Person {n}", organization=organization, **kwargs
    )
    if user is not None:
        created.user = user
        created.save(update_fields=["user"])
    return created


def customer_user(contact_obj: Contact, username: str | None = None):  # noqa: ANN201
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=username or f"customer{next(_seq)}", password="pw")
    contact_obj.user = user
    contact_obj.save(update_fields=["user"])
    return user


def ticket(
    *,
    requester: Contact | None = None,
    subject: str = "Help needed",
    channel: str = Channel.EMAIL,
    body: str = "Please help.",
    **options: object,
) -> Ticket:
    requester = requester or contact()
    return ticket_services.ticket_create(
        subject=subject,
        requester=requester,
        channel=channel,
        body_text=body,
        by=ticket_services.Actor.customer(requester, channel),
        **options,
    )
