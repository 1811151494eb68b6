"""SLA compliance per organization, team, priority and period, on a small data set made through the services."""

from __future__ import annotations

import pytest

from accounts.choices import AgentRole
from tests import factories
from tests.integration.sla_support import berlin, freeze, policy
from tickets import services, sla
from tickets.choices import Priority, Status
from tickets.services import Actor

pytestmark = pytest.mark.django_db

MARCH = {"since": berlin(1, 0), "until": berlin(1, 0, month=4)}
SPRING = {"since": berlin(1, 0), "until": berlin(1, 0, month=5)}


@pytest.fixture
def record(monkeypatch):
    """Four tickets, round-the-clock targets (normal: 1 h answer, 4 h fix; high: 30 min, 2 h).

    T1 Acme/Team X normal: answered and solved in time.          T2 Acme/Team X high: answered late, fix breached.
    T3 Beta/Team Y normal: solved in time without an answer.     T4 Beta/Team Y normal, April: answered in time.
    """
    clock = freeze(monkeypatch, berlin(3, 10))
    policy("Round the clock", is_default=True, targets={Priority.NORMAL: (60, 60, 240), Priority.HIGH: (30, 30, 120)})
    team_x, team_y = factories.team("Team X"), factories.team("Team Y")
    xavier = factories.agent(teams=[team_x], username="xavier")
    yvonne = factories.agent(teams=[team_y], username="yvonne")
    acme = factories.organization("Acme", domains=("acme.example",))
    beta = factories.organization("Beta", domains=("beta.example",))
    at_acme = factories.contact(email="a@acme.example")
    at_beta = factories.contact(email="b@beta.example")
    by_x, by_y = Actor.agent(xavier), Actor.agent(yvonne)

    t1 = factories.ticket(requester=at_acme, team=team_x)
    t2 = factories.ticket(requester=at_acme, team=team_x, priority=Priority.HIGH)
    clock.set(berlin(3, 10, 30))
    services.ticket_reply(ticket=t1, by=by_x, body_text="On it")
    clock.set(berlin(3, 11))
    services.ticket_reply(ticket=t2, by=by_x, body_text="Sorry for the wait")
    clock.set(berlin(3, 12))
    services.ticket_change_status(ticket=t1, by=by_x, status=Status.SOLVED)
    clock.set(berlin(3, 13))
    sla.sla_sweep()  # T2's resolution breached at 12:00

    clock.set(berlin(4, 9))
    t3 = factories.ticket(requester=at_beta, team=team_y)
    clock.set(berlin(4, 9, 30))
    services.ticket_change_status(ticket=t3, by=by_y, status=Status.SOLVED)

    clock.set(berlin(1, 9, month=4))
    t4 = factories.ticket(requester=at_beta, team=team_y)
    clock.set(berlin(1, 9, 10, month=4))
    services.ticket_reply(ticket=t4, by=by_y, body_text="Hello")
    clock.set(berlin(2, 9, month=4))
    return {"admin": factories.agent(role=AgentRole.ADMIN), "yvonne": yvonne, "acme": acme, "beta": beta}


def _rows(rows) -> list[tuple]:
    return [(*r.labels, r.target, r.met, r.breached) for r in rows]


def test_compliance_per_organization_for_march(record):
    rows = sla.sla_compliance(record["admin"], group_by=["organization"], **MARCH)

    assert _rows(rows) == [
        ("Acme", "first_response", 1, 1),
        ("Acme", "resolution", 1, 1),
        ("Beta", "resolution", 1, 0),  # T3's first response stopped unanswered: neither met nor breached
    ]
    assert [r.compliance for r in rows] == [0.5, 0.5, 1.0]


def test_compliance_per_team_and_priority(record):
    by_team = sla.sla_compliance(record["admin"], group_by=["team"], **MARCH)
    by_priority = sla.sla_compliance(record["admin"], group_by=["priority"], **SPRING)

    assert _rows(by_team) == [
        ("Team X", "first_response", 1, 1),
        ("Team X", "resolution", 1, 1),
        ("Team Y", "resolution", 1, 0),
    ]
    assert _rows(by_priority) == [
        ("High", "first_response", 0, 1),
        ("High", "resolution", 0, 1),
        ("Normal", "first_response", 2, 0),
        ("Normal", "resolution", 2, 0),
    ]


def test_compliance_per_month_and_in_total(record):
    by_month = sla.sla_compliance(record["admin"], group_by=["period"], period="month", **SPRING)
    total = sla.sla_compliance(record["admin"], **SPRING)

    assert _rows(by_month) == [
        ("2025-03-01", "first_response", 1, 1),
        ("2025-03-01", "resolution", 2, 1),
        ("2025-04-01", "first_response", 1, 0),
    ]
    assert _rows(total) == [("first_response", 2, 1), ("resolution", 2, 1)]


def test_compliance_filters_and_scope(record):
    acme_only = sla.sla_compliance(record["admin"], organization_id=record["acme"].pk, **SPRING)
    team_y_agent = sla.sla_compliance(record["yvonne"], group_by=["organization"], **SPRING)

    assert _rows(acme_only) == [("first_response", 1, 1), ("resolution", 1, 1)]
    assert _rows(team_y_agent) == [("Beta", "first_response", 1, 0), ("Beta", "resolution", 1, 0)]


def test_compliance_is_one_query(record, django_assert_num_queries):
    admin = record["admin"]
    admin.agent_profile  # noqa: B018 - loaded before counting, as a request would have it

    with django_assert_num_queries(3):  # the principal (user, agent profile) and the report
        sla.sla_compliance(admin, group_by=["organization", "period"], **SPRING)


def test_unknown_grouping_is_refused(record):
    with pytest.raises(ValueError, match="Group by"):
        sla.sla_compliance(record["admin"], group_by=["colour"], **SPRING)
