"""``manage.py seed_demo`` builds a believable desk through the service layer, and only once."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Exists, F, OuterRef
from django.test import RequestFactory

from accounts.models import AgentProfile, Contact, Contract, Organization, Team
from service_desk import demo
from tickets.choices import EventAction, MessageKind
from tickets.models import Macro, Message, SavedView, SLAPolicy, Ticket, TicketEvent

SMALL = {"tickets": 200, "customers": 50, "organizations": 3}


@pytest.fixture
def seeded(db: None) -> str:
    out = StringIO()
    call_command("seed_demo", seed=7, stdout=out, **SMALL)
    return out.getvalue()


def _table_counts() -> dict[str, int]:
    return {
        "tickets": Ticket.objects.count(),
        "messages": Message.objects.count(),
        "events": TicketEvent.objects.count(),
        "contacts": Contact.objects.count(),
        "organizations": Organization.objects.count(),
        "agents": AgentProfile.objects.count(),
    }


def test_seed_creates_desk_people_and_tickets_in_the_requested_sizes(db: None) -> None:
    call_command("seed_demo", quiet=True, **SMALL)

    assert Ticket.objects.count() == 200
    assert Organization.objects.count() == 3
    assert Contact.objects.filter(organization__isnull=True).count() == 50
    b2b_contacts = Contact.objects.filter(organization__isnull=False)
    assert all(3 <= n <= 8 for n in Organization.objects.annotate(n=Count("contacts")).values_list("n", flat=True))
    assert b2b_contacts.filter(is_primary=True).count() == 3
    assert Team.objects.filter(is_escalation_team=True).exists()
    assert 8 <= AgentProfile.objects.count() <= 12
    assert SLAPolicy.objects.filter(is_default=True).count() == 1
    assert Contract.objects.filter(entitlements__isnull=False).exists()
    assert Macro.objects.filter(name="Password reset", set_status="solved").exists()
    assert SavedView.objects.filter(visibility="shared").exists()
    assert Organization.objects.filter(parent__isnull=False).exists()


def test_every_ticket_has_a_conversation_and_a_created_event(db: None) -> None:
    call_command("seed_demo", quiet=True, **SMALL)

    has_message = Exists(Message.objects.filter(ticket=OuterRef("pk")))
    has_created = Exists(TicketEvent.objects.filter(ticket=OuterRef("pk"), action=EventAction.CREATED))
    assert not Ticket.objects.exclude(has_message).exists()
    assert not Ticket.objects.exclude(has_created).exists()
    assert not TicketEvent.objects.filter(published_at__isnull=True).exists()  # history notifies nobody
    assert Message.objects.filter(kind=MessageKind.NOTE).exists()
    assert Message.objects.filter(kind=MessageKind.REPLY, author_user__isnull=False).exists()
    assert not Message.objects.filter(kind=MessageKind.PHONE_CALL, author_user__isnull=True).exists()
    counts = Ticket.objects.annotate(n=Count("messages")).values_list("n", flat=True)
    assert min(counts) >= 1
    assert max(counts) <= 5
    for ticket in Ticket.objects.prefetch_related("messages")[:50]:
        times = [m.created_at for m in ticket.messages.all()]
        assert times == sorted(times)
        assert len(set(times)) == len(times)


def test_assignees_belong_to_the_ticket_team_and_b2b_tickets_have_their_organization(db: None) -> None:
    call_command("seed_demo", quiet=True, **SMALL)

    assigned = Ticket.objects.filter(assignee__isnull=False).select_related("assignee__agent_profile")
    assert assigned.exists()
    for ticket in assigned:
        assert ticket.team_id in {t.pk for t in ticket.assignee.agent_profile.teams.all()}
    b2b = Ticket.objects.filter(requester__organization__isnull=False)
    assert b2b.exists()
    assert not b2b.exclude(organization_id=F("requester__organization_id")).exists()
    assert not Ticket.objects.filter(requester__organization__isnull=True, organization__isnull=False).exists()
    assert set(Ticket.objects.values_list("status", flat=True)) >= {"new", "open", "solved", "closed"}
    assert Ticket.objects.filter(cc__isnull=False).exists()


def test_printed_logins_authenticate_and_the_b2b_portal_contact_sees_its_organization(seeded: str) -> None:
    logins = re.findall(r"^\s+(.+?)\s{2,}(\S+)\s+password: (\S+)", seeded, flags=re.MULTILINE)
    assert len(logins) == 6
    # Login throttling (django-axes) needs the request a real login has.
    request = RequestFactory().post("/desk/login/")
    for role, username, password in logins:
        user = authenticate(request, username=username, password=password)
        assert user is not None, f"{role} {username} cannot log in"
    admin = authenticate(request, username=logins[0][1], password=logins[0][2])
    assert admin.is_staff
    assert admin.is_superuser
    b2b = Contact.objects.get(user__username=logins[-1][1])
    assert b2b.organization_id is not None
    assert b2b.can_see_organization_tickets
    b2c = Contact.objects.get(user__username=logins[-2][1])
    assert b2c.organization_id is None


def test_running_again_without_append_refuses_and_changes_nothing(seeded: str) -> None:
    before = _table_counts()

    with pytest.raises(CommandError, match="--append"):
        call_command("seed_demo", quiet=True, **SMALL)

    assert _table_counts() == before


def test_append_adds_tickets_and_reuses_the_desk(seeded: str) -> None:
    before = _table_counts()

    call_command("seed_demo", quiet=True, append=True, seed=7, tickets=20, customers=50, organizations=3)

    after = _table_counts()
    assert after["tickets"] == before["tickets"] + 20
    assert after["contacts"] == before["contacts"]
    assert after["organizations"] == before["organizations"]
    assert after["agents"] == before["agents"]


def test_the_same_seed_gives_the_same_tickets_at_any_time_of_day(db: None) -> None:
    desk = demo.build_desk(demo.SeedOptions(customers=20, organizations=2, seed=3))

    def shape(now: datetime) -> list[tuple]:
        builder = demo.TicketBuilder(desk, random.Random("3:tickets:0"), now, key="3-0")
        specs = [builder.build(i) for i in range(300)]
        return [(s.subject, s.status, s.priority, s.channel, s.requester.pk, len(s.messages)) for s in specs]

    morning = datetime(2026, 3, 2, 0, 20, tzinfo=UTC)
    assert shape(morning) == shape(morning.replace(hour=23, minute=50))
    assert shape(morning) == shape(morning + timedelta(days=40, hours=13))
