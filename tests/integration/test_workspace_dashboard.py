"""The dashboard: figures on a known small data set (days in the agent's time zone), scope, cost, page."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.choices import AgentRole
from tests import factories
from tests.integration.sla_support import berlin, freeze, policy
from tickets import reports, sla
from tickets.choices import Channel, Priority, Status
from tickets.services import Actor, ticket_change_status, ticket_reply

pytestmark = pytest.mark.django_db

NOW = berlin(31, 10)  # Monday 31 March 2025, 10:00 CEST; clocks went forward on Sunday the 30th
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def desk(monkeypatch):
    """Round-the-clock targets (normal: answer 60 min, fix 240 min; high: 30 / 120), warnings at 75 %.

    Support (Ana, Berlin; Nina, New York) sees A-E; Billing holds F and G.
    A  email  high    Acme   31 Mar 00:30 Berlin (30 Mar 22:30 UTC), answered 02:30, open: fix breached 02:30
    B  web    normal  -      29 Mar 23:59 Berlin, answered 1 h later, then pending
    C  email  normal  Acme   29 Mar 10:00, answered 3 h later (first response breached), solved
    D  email  normal  -      2 Mar 00:10, never answered, new: both targets breached
    E  phone  normal  -      1 Mar 23:50: one day before the window
    F  email  normal  -      Billing, 30 Mar 12:00
    G  email  normal  Beta   Billing, 31 Mar 09:10: first-response warning fired at 09:55, not breached
    """
    clock = freeze(monkeypatch, berlin(1, 12))
    policy(
        "Round the clock",
        is_default=True,
        targets={Priority.NORMAL: (60, 60, 240), Priority.HIGH: (30, 30, 120)},
    )
    support, billing = factories.team("Support"), factories.team("Billing")
    ana = factories.agent(teams=[support], username="ana")
    nina = factories.agent(teams=[support], username="nina", time_zone="America/New_York")
    admin = factories.agent(role=AgentRole.ADMIN, username="root")
    acme = factories.organization("Acme", domains=("acme.example",))
    beta = factories.organization("Beta", domains=("beta.example",))
    at_acme = factories.contact(email="it@acme.example", organization=acme)
    at_beta = factories.contact(email="it@beta.example", organization=beta)
    by_ana = Actor.agent(ana)

    def at(moment: datetime, **kwargs):
        clock.set(moment)
        return factories.ticket(**kwargs)

    e = at(berlin(1, 23, 50), subject="E", channel=Channel.PHONE, team=support)
    d = at(berlin(2, 0, 10), subject="D", team=support)
    c = at(berlin(29, 10), subject="C", requester=at_acme, team=support)
    clock.set(berlin(29, 13))
    ticket_reply(ticket=c, by=by_ana, body_text="Sorry", status=Status.SOLVED)
    b = at(berlin(29, 23, 59), subject="B", channel=Channel.WEB, team=support)
    clock.set(berlin(30, 0, 59))  # 1 h later (23:59 CET -> 00:59 CET)
    ticket_reply(ticket=b, by=by_ana, body_text="Which model?", status=Status.PENDING)
    f = at(berlin(30, 12), subject="F", team=billing)
    a = at(berlin(31, 0, 30), subject="A", requester=at_acme, team=support, priority=Priority.HIGH)
    clock.set(berlin(31, 2, 30))
    ticket_reply(ticket=a, by=by_ana, body_text="Looking", status=Status.OPEN)
    g = at(berlin(31, 9, 10), subject="G", requester=at_beta, team=billing)
    clock.set(NOW)
    sla.sla_sweep()
    return SimpleNamespace(
        clock=clock, support=support, ana=ana, nina=nina, admin=admin, acme=acme, beta=beta,
        a=a, b=b, c=c, d=d, e=e, f=f, g=g,
    )  # fmt: skip


def _series(figure) -> dict[str, list[int]]:
    return {s["key"]: s["data"] for s in figure["series"]}


def test_intake_counts_days_in_the_agents_time_zone(desk):
    berlin_days = reports.dashboard_figures(desk.ana, now=NOW)["intake"]
    new_york_days = reports.dashboard_figures(desk.nina, now=NOW)["intake"]

    assert berlin_days["days"][0] == "2025-03-02" and berlin_days["days"][-1] == "2025-03-31"
    assert len(berlin_days["days"]) == 30
    email, web = _series(berlin_days)["email"], _series(berlin_days)["web"]
    assert email[-1] == 1  # A: 00:30 on the 31st in Berlin
    assert email[0] == 1  # D: 00:10 on the 2nd, the window's first minutes
    assert email[27] == 1 and web[27] == 1  # C and B (23:59) on the 29th
    assert "phone" not in _series(berlin_days)  # E came a day too early
    assert berlin_days["total"] == 4  # F and G belong to Billing

    # In New York A arrived on the evening of the 30th, and the window starts at midnight there.
    assert new_york_days["days"][-1] == "2025-03-31"
    ny_email = _series(new_york_days)["email"]
    assert ny_email[-1] == 0 and ny_email[-2] == 1
    assert new_york_days["rows"][-2] == {"day": "2025-03-30", "counts": [1, 0], "total": 1}


def test_admin_sees_every_team(desk):
    figures = reports.dashboard_figures(desk.admin, now=NOW)
    assert figures["intake"]["total"] == 6
    assert figures["scope"] == "all"
    assert reports.dashboard_figures(desk.ana, now=NOW)["scope"] == "visible"


def test_backlog_by_status_and_priority(desk):
    backlog = reports.dashboard_figures(desk.ana, now=NOW)["backlog"]
    assert [s["key"] for s in backlog["statuses"]] == ["new", "open", "pending", "on_hold"]
    assert _series(backlog) == {
        "urgent": [0, 0, 0, 0],
        "high": [0, 1, 0, 0],
        "normal": [2, 0, 1, 0],
        "low": [0, 0, 0, 0],
    }
    assert backlog["totals"] == [2, 1, 1, 0] and backlog["total"] == 4
    assert reports.dashboard_figures(desk.admin, now=NOW)["backlog"]["totals"] == [4, 1, 1, 0]


def test_sla_compliance_per_target_over_the_window(desk):
    targets = {t["key"]: t for t in reports.dashboard_figures(desk.ana, now=NOW)["sla"]["targets"]}
    # First response: B met; C late; A late; D breached (2 Mar 01:10). E's breach (2 Mar 00:50)
    # falls in the window too: the window holds decisions, whenever the ticket came in.
    assert (targets["first_response"]["met"], targets["first_response"]["breached"]) == (1, 4)
    # Resolution: C solved in time (3 h of 4); A breached at 02:30; D and E breached on the 2nd.
    assert (targets["resolution"]["met"], targets["resolution"]["breached"]) == (1, 3)
    assert targets["resolution"]["compliance"] == 25.0
    assert targets["next_response"]["total"] == 0 and targets["next_response"]["compliance"] is None


def test_first_response_median_and_p90_per_creation_day_in_wall_hours(desk):
    frt = reports.dashboard_figures(desk.ana, now=NOW)["first_response"]
    rows = {r["day"]: r for r in frt["rows"]}
    assert frt["unit"] == "wall_hours"
    # The 29th: B (1 h, across midnight) and C (3 h): median 2 h, p90 1 + 0.9 * 2 = 2.8 h.
    assert rows["2025-03-29"] == {"day": "2025-03-29", "answered": 2, "waiting": 0, "median": 2.0, "p90": 2.8}
    assert rows["2025-03-31"] == {"day": "2025-03-31", "answered": 1, "waiting": 0, "median": 2.0, "p90": 2.0}
    assert rows["2025-03-02"] == {"day": "2025-03-02", "answered": 0, "waiting": 1, "median": None, "p90": None}
    assert rows["2025-03-15"]["median"] is None and rows["2025-03-15"]["answered"] == 0


def test_python_percentile_matches_postgresql(desk):
    # The SQLite fallback computes in Python: it must agree with percentile_cont.
    assert reports._percentile([3600.0, 10800.0], 0.9) == pytest.approx(2.8 * 3600)
    assert reports._percentile([5.0], 0.5) == 5.0
    assert reports._percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert reports._percentile([], 0.5) is None


def test_organizations_with_open_escalations(desk):
    admin = reports.dashboard_figures(desk.admin, now=NOW)["escalations"]["organizations"]
    assert [(o["name"], o["escalated"], o["breached"]) for o in admin] == [("Acme", 1, 1), ("Beta", 1, 0)]
    assert admin[0]["id"] == desk.acme.pk
    # Ana does not see Billing's ticket G, so Beta is not hers to worry about; C (solved) never counts.
    ana = reports.dashboard_figures(desk.ana, now=NOW)["escalations"]["organizations"]
    assert [(o["name"], o["escalated"], o["breached"]) for o in ana] == [("Acme", 1, 1)]


def test_a_solved_ticket_is_no_longer_an_open_escalation(desk):
    ticket_change_status(ticket=desk.a, by=Actor.agent(desk.ana), status=Status.SOLVED)
    ana = reports.dashboard_figures(desk.ana, now=NOW)["escalations"]["organizations"]
    assert ana == []


def test_figures_are_cached_per_scope_for_a_minute(desk, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(reports.timezone, "now", lambda: NOW)
    first = reports.dashboard_figures(desk.ana)
    with django_assert_num_queries(0):
        assert reports.dashboard_figures(desk.ana) == first
    nina = factories.agent(teams=[desk.support], username="nina2")
    assert reports.scope_key(nina, reports.user_time_zone(nina)) != reports.scope_key(
        desk.ana, reports.user_time_zone(desk.ana)
    )
    assert reports.dashboard_figures(desk.admin)["intake"]["total"] == 6  # not Ana's cached figures


def test_dashboard_page_draws_charts_from_json_with_tables(client, desk, django_assert_max_num_queries):
    client.force_login(desk.ana)
    # session, user, profile, teams; intake, backlog, SLA, first response, escalations, CSAT;
    # the brand (desk name), read once after the cache was cleared
    with django_assert_max_num_queries(11):
        response = client.get(reverse("desk:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/chartjs-4.6.1/chart.umd.min.js" in html and "js/dashboard.js" in html
    assert "cdn" not in html.lower()
    data = json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert data["intake"]["total"] == 4
    for canvas in ("chart-intake", "chart-backlog", "chart-sla", "chart-frt", "chart-escalations"):
        assert f'id="{canvas}"' in html
    assert html.count("<details>") == 5
    assert reverse("desk:organization", args=[desk.acme.pk]) in html
    # The second view within the minute reads the cache.
    with django_assert_max_num_queries(4):
        assert client.get(reverse("desk:dashboard")).status_code == 200


def test_names_in_the_figures_are_escaped_in_the_page(client, desk):
    desk.acme.name = "</script><script>alert(1)</script>"
    desk.acme.save(update_fields=["name"])
    client.force_login(desk.ana)
    html = client.get(reverse("desk:dashboard")).content.decode()
    assert "<script>alert(1)</script>" not in html


def test_dashboard_needs_an_agent(client):
    assert client.get(reverse("desk:dashboard")).status_code == 302
    person = factories.contact()
    client.force_login(factories.customer_user(person))
    assert client.get(reverse("desk:dashboard")).status_code == 404
