"""Shared setup for the SLA tests: a controllable clock and a small desk with a Mon-Fri calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from accounts.choices import AgentRole
from accounts.models import Contact, Team
from tests import factories
from tickets import services
from tickets.choices import Priority
from tickets.models import BusinessCalendar, BusinessHours, SLAPolicy, SLATarget

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int = 0, minute: int = 0, *, month: int = 3, second: int = 0) -> datetime:
    """March 2025 in Berlin: Monday the 10th, Friday the 14th, Monday the 17th, Monday the 24th."""
    return datetime(2025, month, day, hour, minute, second, tzinfo=BERLIN)


class FrozenClock:
    """Stands in for ``django.utils.timezone.now``: the services, auto_now fields and the sweeper read it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def freeze(monkeypatch: Any, moment: datetime) -> FrozenClock:
    clock = FrozenClock(moment)
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def office_calendar(name: str = "Berlin office") -> BusinessCalendar:
    """Mon-Fri 09:00-17:00, Europe/Berlin."""
    calendar = BusinessCalendar.objects.create(name=name, time_zone="Europe/Berlin")
    BusinessHours.objects.bulk_create(
        BusinessHours(calendar=calendar, weekday=day, opens_at=time(9), closes_at=time(17)) for day in range(5)
    )
    return calendar


# Business minutes: (first response, next response, resolution)
STANDARD_TARGETS = {
    Priority.LOW: (480, 480, 2400),
    Priority.NORMAL: (240, 120, 960),
    Priority.HIGH: (60, 60, 480),
    Priority.URGENT: (30, 30, 240),
}


def policy(
    name: str = "Standard",
    *,
    calendar: BusinessCalendar | None = None,
    targets: dict[str, tuple[int | None, int | None, int | None]] | None = None,
    **fields: Any,
) -> SLAPolicy:
    created = SLAPolicy.objects.create(name=name, calendar=calendar, **fields)
    SLATarget.objects.bulk_create(
        SLATarget(
            policy=created,
            priority=priority,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
        )
        for priority, (first, following, resolution) in (targets or STANDARD_TARGETS).items()
    )
    return created


@dataclass
class Desk:
    calendar: BusinessCalendar
    policy: SLAPolicy
    team: Team
    lead: Any
    agent: Any
    requester: Contact

    @property
    def by_agent(self) -> services.Actor:
        return services.Actor.agent(self.agent)

    @property
    def by_customer(self) -> services.Actor:
        return services.Actor.customer(self.requester, "email")


def office_desk() -> Desk:
    """A default policy on the office calendar, a team with a lead and an agent, a consumer."""
    calendar = office_calendar()
    standard = policy(calendar=calendar, is_default=True)
    team = factories.team("First line")
    lead = factories.agent(teams=[team], role=AgentRole.TEAM_LEAD, username="lena")
    team.lead = lead
    team.save(update_fields=["lead"])
    agent = factories.agent(teams=[team], username="alice")
    requester = factories.contact(name="Rita Requester", email="rita@consumer.example")
    return Desk(calendar, standard, team, lead, agent, requester)
