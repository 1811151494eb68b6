"""People the scenarios open tickets for: a team with agents and a pool of consumers (kept between runs)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from accounts import services as account_services
from accounts.models import Contact, ContactEmail, Team

TEAM_NAME = "Bench Team"
AGENTS = ("bench.agent1", "bench.agent2", "bench.agent3")
EMAIL_DOMAIN = "bench.example"


@dataclass(frozen=True)
class People:
    team: Team
    agents: list[AbstractUser]
    customers: list[Contact]


@transaction.atomic
def people(customers: int = 2_000) -> People:
    """The bench team, its agents and ``customers`` consumers, creating whatever is missing."""
    from django.contrib.auth import get_user_model

    team, _ = Team.objects.get_or_create(name=TEAM_NAME)
    user_model = get_user_model()
    agents = []
    for username in AGENTS:
        user = user_model.objects.filter(username=username).first() or account_services.agent_create(
            username=username, email=f"{username}@{EMAIL_DOMAIN}", teams=[team]
        )
        agents.append(user)
    return People(team=team, agents=agents, customers=_customers(customers))


def _customers(count: int) -> list[Contact]:
    emails = [f"customer{i}@{EMAIL_DOMAIN}" for i in range(count)]
    existing = set(ContactEmail.objects.filter(email__in=emails).values_list("email", flat=True))
    missing = [e for e in emails if e not in existing]
    contacts = Contact.objects.bulk_create([Contact(name=f"Bench Customer {e.split('@')[0][8:]}") for e in missing])
    ContactEmail.objects.bulk_create(
        [ContactEmail(contact=c, email=e, is_primary=True) for c, e in zip(contacts, missing, strict=True)]
    )
    by_email = {
        row.email: row.contact for row in ContactEmail.objects.filter(email__in=emails).select_related("contact")
    }
    return [by_email[e] for e in emails]
