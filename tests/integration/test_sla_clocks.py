"""SLA clocks through the service layer: due dates on creation, pauses, replies, priority changes,
reopening, policy selection, recomputation after a calendar change, explanations and "breaching soon"."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import Tier
from accounts.models import Contract
from tests import factories
from tests.integration.sla_support import berlin, freeze, office_desk, policy
from tickets import services, sla
from tickets.choices import Channel, EventAction, Priority, Status
from tickets.models import (
    Holiday,
    SLAEscalation,
    SLAPause,
    SLAPolicyRule,
    Ticket,
    TicketEvent,
    TicketSLAClock,
    TicketType,
)
from tickets.services import Actor, NewMessage, NewTicket

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, berlin(10, 9))


@pytest.fixture
def desk(clock):
    return office_desk()


def _ticket(desk, **options) -> Ticket:
    return factories.ticket(requester=desk.requester, team=desk.team, assignee=desk.agent, **options)


def _fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def _clocks(ticket: Ticket) -> dict[tuple[str, int], TicketSLAClock]:
    return {(c.target, c.cycle): c for c in TicketSLAClock.objects.filter(ticket=ticket)}


def _pending(ticket: Ticket) -> list[tuple[str, int, datetime]]:
    rows = SLAEscalation.objects.filter(ticket=ticket, fired_at__isnull=True).order_by("due_at", "target", "percent")
    return [(r.target, r.percent, r.due_at) for r in rows]


# --- creation -------------------------------------------------------------------------------------


def test_new_ticket_gets_business_time_due_dates_from_the_default_policy(desk, clock):
    clock.set(berlin(14, 16))  # Friday 16:00

    ticket = _fresh(_ticket(desk))

    assert ticket.sla_policy_id == desk.policy.pk
    assert ticket.first_response_due_at == berlin(17, 12)  # 1 h on Friday, 3 h on Monday
    assert ticket.resolution_due_at == berlin(18, 16)  # 1 h + 8 h + 7 h
    assert ticket.next_response_due_at is None
    assert ticket.sla_due_at == berlin(17, 12)
    clocks = _clocks(ticket)
    assert set(clocks) == {("first_response", 1), ("resolution", 1)}
    first = clocks["first_response", 1]
    assert (first.state, first.target_minutes, first.priority, first.policy_name) == (
        "running",
        240,
        "normal",
        "Standard",
    )
    assert (first.rule_kind, first.calendar_name, first.time_zone) == ("default", "Berlin office", "Europe/Berlin")
    assert _pending(ticket) == [
        ("first_response", 75, berlin(17, 11)),
        ("first_response", 100, berlin(17, 12)),
        ("resolution", 75, berlin(18, 12)),
        ("resolution", 100, berlin(18, 16)),
    ]


def test_desk_without_any_policy_writes_and_reads_nothing_for_the_sla(clock):
    requester = factories.contact()
    with CaptureQueriesContext(connection) as created:
        ticket = factories.ticket(requester=requester)
    agent = factories.agent()
    with CaptureQueriesContext(connection) as changed:
        services.ticket_change_priority(ticket=ticket, by=Actor.agent(agent), priority=Priority.HIGH)
        services.ticket_reply(ticket=ticket, by=Actor.agent(agent), body_text="On it", status=Status.PENDING)

    sla_tables = ('"tickets_sla', '"tickets_ticketsla', '"tickets_notification')
    changing = [q["sql"] for q in changed.captured_queries if any(t in q["sql"] for t in sla_tables)]
    creating = [q["sql"] for q in created.captured_queries if any(t in q["sql"] for t in sla_tables)]
    assert changing == []
    assert len(creating) == 2  # the default policy and the selection rules: both absent
    assert _fresh(ticket).sla_due_at is None


def test_imported_history_records_breaches_without_escalating_them(desk, clock):
    clock.set(berlin(17, 9))
    old = NewTicket(
        subject="Old one",
        requester=desk.requester,
        channel=Channel.EMAIL,
        messages=[NewMessage(body_text="Hello", created_at=berlin(10, 9))],
    )

    ticket = services.tickets_create_bulk([old], publish=False)[0]

    first = _clocks(ticket)["first_response", 1]
    assert first.breached_at == berlin(10, 13)
    assert _pending(ticket) == []  # everything fell due before the import
    assert set(SLAEscalation.objects.filter(ticket=ticket).values_list("target", "percent", "fired_at")) == {
        ("first_response", 75, berlin(17, 9)),
        ("first_response", 100, berlin(17, 9)),
        ("resolution", 75, berlin(17, 9)),
        ("resolution", 100, berlin(17, 9)),
    }
    assert sla.sla_sweep().fired == 0


# --- replies, pauses, priority, reopening ------------------------------------------------------


def test_pause_and_resume_across_a_weekend(desk, clock):
    clock.set(berlin(14, 14))  # Friday 14:00; first response due Monday 10:00
    ticket = _ticket(desk)

    clock.set(berlin(14, 15))  # the agent answers and waits for the customer
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="Which model?", status=Status.PENDING)

    paused = _fresh(ticket)
    clocks = _clocks(ticket)
    assert (clocks["first_response", 1].state, clocks["first_response", 1].met_at) == ("met", berlin(14, 15))
    resolution = clocks["resolution", 1]
    assert (resolution.state, resolution.due_at, resolution.remaining_seconds) == ("paused", None, 15 * 3600)
    assert (paused.first_response_due_at, paused.resolution_due_at, paused.sla_due_at) == (None, None, None)
    assert _pending(ticket) == []
    assert list(SLAPause.objects.filter(ticket=ticket).values_list("status", "started_at", "ended_at")) == [
        ("pending", berlin(14, 15), None)
    ]

    clock.set(berlin(17, 10))  # Monday 10:00 the customer replies
    services.ticket_reply(ticket=ticket, by=desk.by_customer, body_text="The X200")

    resumed = _fresh(ticket)
    clocks = _clocks(ticket)
    assert resumed.status == Status.OPEN
    assert clocks["resolution", 1].state == "running"
    assert resumed.resolution_due_at == berlin(18, 17)  # Monday 10:00 + the 15 h that were left
    assert clocks["next_response", 1].started_at == berlin(17, 10)
    assert resumed.next_response_due_at == berlin(17, 12)
    assert resumed.sla_due_at == berlin(17, 12)
    assert SLAPause.objects.get(ticket=ticket).ended_at == berlin(17, 10)


def test_on_hold_pauses_too_and_a_move_between_waiting_statuses_keeps_the_clock_paused(desk, clock):
    ticket = _ticket(desk)  # Monday 09:00
    clock.set(berlin(10, 10))
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.ON_HOLD)
    clock.set(berlin(10, 11))
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.PENDING)
    clock.set(berlin(10, 14))
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.OPEN)

    fresh = _fresh(ticket)
    assert fresh.first_response_due_at == berlin(10, 17)  # 1 h used before the hold, 3 h after 14:00
    assert list(SLAPause.objects.filter(ticket=ticket).values_list("status", "started_at", "ended_at")) == [
        ("on_hold", berlin(10, 10), berlin(10, 11)),
        ("pending", berlin(10, 11), berlin(10, 14)),
    ]


def test_priority_change_midway_keeps_the_start_and_the_time_used(desk, clock):
    ticket = _ticket(desk)  # Monday 09:00, normal: first response 4 h (13:00), resolution 16 h
    clock.set(berlin(10, 9, 30))

    services.ticket_change_priority(ticket=ticket, by=desk.by_agent, priority=Priority.HIGH)

    fresh = _fresh(ticket)
    assert fresh.first_response_due_at == berlin(10, 10)  # 1 h from 09:00
    assert fresh.resolution_due_at == berlin(10, 17)  # 8 h from 09:00
    first = _clocks(ticket)["first_response", 1]
    assert (first.target_minutes, first.priority, first.started_at) == (60, "high", berlin(10, 9))
    assert _pending(ticket)[:2] == [("first_response", 75, berlin(10, 9, 45)), ("first_response", 100, berlin(10, 10))]


def test_lowering_to_a_priority_without_a_target_stops_that_clock(desk, clock):
    desk.policy.targets.filter(priority=Priority.LOW).update(first_response_minutes=None)
    sla.policy_changed(desk.policy)
    ticket = _ticket(desk)

    services.ticket_change_priority(ticket=ticket, by=desk.by_agent, priority=Priority.LOW)

    clocks = _clocks(ticket)
    assert clocks["first_response", 1].state == "cancelled"
    assert _fresh(ticket).first_response_due_at is None
    assert {target for target, _, _ in _pending(ticket)} == {"resolution"}


def test_reopen_after_solve_starts_the_resolution_clock_again(desk, clock):
    ticket = _ticket(desk)  # Monday 09:00
    clock.set(berlin(10, 11))
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="Fixed.", status=Status.SOLVED)

    solved = _fresh(ticket)
    clocks = _clocks(ticket)
    assert (clocks["resolution", 1].state, clocks["resolution", 1].met_at) == ("met", berlin(10, 11))
    assert clocks["resolution", 1].breached_at is None
    assert (solved.resolution_due_at, solved.sla_due_at) == (None, None)
    assert _pending(ticket) == []

    clock.set(berlin(12, 10))  # Wednesday: the customer says it is broken again
    services.ticket_reply(ticket=ticket, by=desk.by_customer, body_text="Broken again")

    reopened = _fresh(ticket)
    clocks = _clocks(ticket)
    assert reopened.status == Status.OPEN
    assert clocks["resolution", 2].started_at == berlin(12, 10)
    assert reopened.resolution_due_at == berlin(14, 10)  # 7 h + 8 h + 1 h of a fresh 16 h
    assert reopened.next_response_due_at == berlin(12, 12)
    met = TicketEvent.objects.filter(ticket=ticket, action=EventAction.SLA).values_list("field", "new_value")
    assert sorted(met) == [("first_response", "met"), ("resolution", "met")]


def test_reopen_by_an_agent_restarts_resolution_without_a_next_response(desk, clock):
    ticket = _ticket(desk)
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.SOLVED)
    clock.set(berlin(11, 9))

    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.OPEN)

    assert set(_clocks(ticket)) == {("first_response", 1), ("resolution", 1), ("resolution", 2)}
    assert _clocks(ticket)["first_response", 1].state == "cancelled"  # solved without an answer


def test_customer_messages_start_one_next_response_clock_until_an_agent_answers(desk, clock):
    ticket = _ticket(desk)
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="Hello")
    clock.set(berlin(10, 10))
    services.ticket_reply(ticket=ticket, by=desk.by_customer, body_text="One more thing")
    clock.set(berlin(10, 10, 30))
    services.ticket_reply(ticket=ticket, by=desk.by_customer, body_text="And another")

    assert _fresh(ticket).next_response_due_at == berlin(10, 12)  # counted from the first unanswered message
    clock.set(berlin(10, 13))
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="Answered both")

    next_response = _clocks(ticket)["next_response", 1]
    assert (next_response.state, next_response.breached_at) == ("met", berlin(10, 12))
    late = TicketEvent.objects.filter(ticket=ticket, action=EventAction.SLA, field="next_response").get()
    assert late.new_value == "met late"
    clock.set(berlin(10, 14))
    services.ticket_reply(ticket=ticket, by=desk.by_customer, body_text="Thanks, but...")
    assert _clocks(ticket)["next_response", 2].started_at == berlin(10, 14)


def test_internal_notes_and_other_changes_leave_the_clocks_alone(desk, clock):
    ticket = _ticket(desk)
    before = _pending(ticket)
    clock.set(berlin(10, 10))

    services.ticket_add_note(ticket=ticket, by=desk.by_agent, body_text="Looking")
    services.ticket_update_tags(ticket=ticket, by=desk.by_agent, add=["printer"])

    assert _pending(ticket) == before
    assert _clocks(ticket)["first_response", 1].state == "running"


def test_merged_ticket_stops_its_clocks_unmet(desk, clock):
    source, target = _ticket(desk, subject="Duplicate"), _ticket(desk, subject="Original")
    clock.set(berlin(10, 10))

    services.ticket_merge(source=source, target=target, by=desk.by_agent)

    assert {(t, c.state, c.met_at) for (t, _), c in _clocks(source).items()} == {
        ("first_response", "cancelled", None),
        ("resolution", "cancelled", None),
    }
    assert _pending(source) == []
    assert _fresh(target).sla_due_at == berlin(10, 13)


def test_deleting_a_policy_moves_its_tickets_to_the_policy_that_now_applies(
    desk, clock, django_capture_on_commit_callbacks
):
    gold = policy("Gold", targets={Priority.NORMAL: (30, 30, 120)})
    SLAPolicyRule.objects.create(kind="channel", channel=Channel.EMAIL, policy=gold)
    ticket = _ticket(desk)
    assert _fresh(ticket).sla_policy_id == gold.pk

    with django_capture_on_commit_callbacks(execute=True):
        gold_id = gold.pk
        gold.delete()  # as the admin does: delete, then report the change
        sla.policy_changed(gold_id)

    fresh = _fresh(ticket)
    assert (fresh.sla_policy_id, fresh.first_response_due_at) == (desk.policy.pk, berlin(10, 13))
    assert _clocks(ticket)["first_response", 1].rule_kind == "default"


# --- policy selection -----------------------------------------------------------------------------


def test_policy_selection_order_contract_organization_tier_type_channel_default(desk, clock):
    contract_policy = policy("Contract")
    org_policy = policy("Organization")
    tier_policy = policy("Tier")
    type_policy = policy("Type")
    channel_policy = policy("Phone")
    incident = TicketType.objects.create(name="Incident")
    SLAPolicyRule.objects.create(kind="channel", channel=Channel.PHONE, policy=channel_policy)
    SLAPolicyRule.objects.create(kind="ticket_type", ticket_type=incident, policy=type_policy)
    SLAPolicyRule.objects.create(kind="tier", tier=Tier.STRATEGIC, policy=tier_policy)
    org = factories.organization("Acme", tier=Tier.STRATEGIC, sla_policy=org_policy, domains=("acme.example",))
    Contract.objects.create(
        organization=org, name="Premium", product="All", starts_on=date(2025, 1, 1), sla_policy=contract_policy
    )
    b2b = factories.contact(email="it@acme.example")

    def chosen(requester, **options) -> tuple[str, str, str]:
        options.setdefault("type", incident)
        ticket = factories.ticket(requester=requester, channel=Channel.PHONE, **options)
        first = _clocks(ticket)["first_response", 1]
        return _fresh(ticket).sla_policy.name, first.rule_kind, first.rule_detail

    assert chosen(b2b) == ("Contract", "contract", "Premium")
    Contract.objects.update(ends_on=date(2025, 3, 1))
    assert chosen(b2b) == ("Organization", "organization", "Acme")
    org.sla_policy = None
    org.save(update_fields=["sla_policy"])
    assert chosen(b2b) == ("Tier", "tier", "strategic")
    org.tier = Tier.STANDARD
    org.save(update_fields=["tier"])
    assert chosen(b2b) == ("Type", "ticket_type", "Incident")
    assert chosen(desk.requester, type=None)[:2] == ("Phone", "channel")
    plain = factories.ticket(requester=desk.requester, channel=Channel.EMAIL)
    assert _fresh(plain).sla_policy.name == "Standard"


def test_changing_the_type_chooses_the_policy_again_from_the_original_start(desk, clock):
    incident = TicketType.objects.create(name="Incident")
    fast = policy("Incidents", targets={Priority.NORMAL: (60, 60, 240)})
    SLAPolicyRule.objects.create(kind="ticket_type", ticket_type=incident, policy=fast)
    ticket = _ticket(desk)
    clock.set(berlin(10, 9, 20))

    services.ticket_set_type(ticket=ticket, by=desk.by_agent, type=incident)

    fresh = _fresh(ticket)
    assert fresh.sla_policy_id == fast.pk
    assert fresh.first_response_due_at == berlin(10, 10)  # 1 h round the clock from 09:00
    first = _clocks(ticket)["first_response", 1]
    assert (first.policy_name, first.rule_kind, first.calendar_name) == ("Incidents", "ticket_type", "")


# --- recomputation after configuration changes ----------------------------------------------------


def test_calendar_change_recomputes_due_dates_of_running_tickets(desk, clock, django_capture_on_commit_callbacks):
    clock.set(berlin(14, 16))
    ticket = _ticket(desk)
    assert _fresh(ticket).first_response_due_at == berlin(17, 12)

    with django_capture_on_commit_callbacks(execute=True):
        Holiday.objects.create(calendar=desk.calendar, date=date(2025, 3, 17), name="Closed Monday")
        sla.calendar_changed(desk.calendar)

    assert _fresh(ticket).first_response_due_at == berlin(18, 12)
    assert ("first_response", 100, berlin(18, 12)) in _pending(ticket)


def test_policy_change_recomputes_and_a_cached_policy_sees_new_targets(desk, clock, django_capture_on_commit_callbacks):
    ticket = _ticket(desk)

    with django_capture_on_commit_callbacks(execute=True):
        desk.policy.targets.filter(priority=Priority.NORMAL).update(first_response_minutes=120)
        sla.policy_changed(desk.policy)

    assert _fresh(ticket).first_response_due_at == berlin(10, 11)


def test_recompute_with_reselection_follows_a_new_organization_policy(desk, clock):
    org = factories.organization("Beta", domains=("beta.example",))
    ticket = factories.ticket(requester=factories.contact(email="x@beta.example"))
    assert _fresh(ticket).sla_policy_id == desk.policy.pk
    gold = policy("Gold", targets={Priority.NORMAL: (30, 30, 120)})
    org.sla_policy = gold
    org.save(update_fields=["sla_policy"])

    assert sla.sla_recompute_for(organization_id=org.pk, reselect=True) == 1

    fresh = _fresh(ticket)
    assert (fresh.sla_policy_id, fresh.first_response_due_at) == (gold.pk, berlin(10, 9, 30))


# --- explanation and breaching soon ---------------------------------------------------------------


def test_every_due_date_explains_itself(desk, clock):
    clock.set(berlin(14, 14))
    ticket = _ticket(desk)
    clock.set(berlin(14, 15))
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.PENDING)
    clock.set(berlin(17, 10))
    services.ticket_change_status(ticket=ticket, by=desk.by_agent, status=Status.OPEN)

    explained = {e.target: e for e in sla.sla_explanation(ticket, now=berlin(17, 10, 30))}

    first = explained["first_response"]
    assert first.due_at == berlin(17, 13)  # 1 h on Friday, 3 h on Monday after the pause
    assert first.lines == (
        "First response due Mon 17 Mar 2025 13:00 (Europe/Berlin).",
        "Policy “Standard” applies because no other rule matched and it is the desk's default policy.",
        "Target for Normal priority: 4 h of business time.",
        "Calendar “Berlin office” (Europe/Berlin): Mon-Fri 09:00-17:00; 0 holidays.",
        "Started Fri 14 Mar 2025 14:00 when the ticket was created.",
        "Paused Fri 14 Mar 2025 15:00 - Mon 17 Mar 2025 10:00 (Pending): 3 h of business time not counted.",
        "Business time used: 1 h 30 min; left: 2 h 30 min.",
    )
    assert (first.used, first.remaining) == (timedelta(hours=1, minutes=30), timedelta(hours=2, minutes=30))
    assert [p.counted_out for p in first.pauses] == [timedelta(hours=3)]
    assert set(explained) == {"first_response", "resolution"}


def test_explanation_of_a_paused_and_a_met_clock(desk, clock):
    ticket = _ticket(desk)
    clock.set(berlin(10, 10))
    services.ticket_reply(ticket=ticket, by=desk.by_agent, body_text="Waiting for you", status=Status.PENDING)

    explained = {e.target: e for e in sla.sla_explanation(ticket, now=berlin(10, 12))}

    assert explained["first_response"].lines[0] == "First response met Mon 10 Mar 2025 10:00, in time."
    assert explained["resolution"].lines[0] == "Resolution is paused with 15 h of business time left."
    assert explained["resolution"].lines[-2].startswith("Paused Mon 10 Mar 2025 10:00 - now (Pending)")


def test_breaching_soon_shows_overdue_first_then_soonest_with_the_target(desk, clock):
    admin = factories.agent(role="admin")
    _ticket(desk, subject="Overdue", priority=Priority.URGENT)  # first response due 09:30
    clock.set(berlin(10, 10))
    soon = _ticket(desk, subject="Soon", priority=Priority.HIGH)  # due 11:00
    later = _ticket(desk, subject="Later")  # due 14:00
    paused = _ticket(desk, subject="Paused", priority=Priority.URGENT)
    services.ticket_change_status(ticket=paused, by=desk.by_agent, status=Status.PENDING)

    rows = list(sla.tickets_breaching_soon(admin, within=timedelta(hours=2)))

    assert [(t.subject, t.sla_target) for t in rows] == [("Overdue", "first_response"), ("Soon", "first_response")]
    wider = [t.subject for t in sla.tickets_breaching_soon(admin, within=timedelta(hours=8))]
    assert wider == ["Overdue", "Soon", "Later"]
    assert later.pk and soon.pk


# --- the admin -------------------------------------------------------------------------------------


def test_holiday_added_in_the_admin_moves_due_dates(desk, clock, admin_client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    clock.set(berlin(14, 16))
    ticket = _ticket(desk)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:tickets_holiday_add"),
            {"calendar": desk.calendar.pk, "date": "2025-03-17", "name": "Closed Monday"},
        )

    assert response.status_code == 302
    assert _fresh(ticket).first_response_due_at == berlin(18, 12)


def test_target_changed_in_the_admin_moves_due_dates(desk, clock, admin_client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    ticket = _ticket(desk)
    target = desk.policy.targets.get(priority=Priority.NORMAL)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:tickets_slatarget_change", args=[target.pk]),
            {
                "policy": desk.policy.pk,
                "priority": "normal",
                "first_response_minutes": "60",
                "resolution_minutes": "960",
            },
        )

    assert response.status_code == 302
    assert _fresh(ticket).first_response_due_at == berlin(10, 10)


def test_policy_deleted_in_the_admin_moves_its_tickets(desk, clock, admin_client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    gold = policy("Gold", targets={Priority.NORMAL: (30, 30, 120)})
    SLAPolicyRule.objects.create(kind="channel", channel=Channel.EMAIL, policy=gold)
    ticket = _ticket(desk)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:tickets_slapolicy_delete", args=[gold.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert _fresh(ticket).sla_policy_id == desk.policy.pk


def _admin_post_unchanged_but(client, url: str, **changes) -> object:
    from tests.integration.test_admin import _form_data

    data = _form_data(client.get(url))
    data.update(changes)
    return client.post(url, data)


def test_changing_an_organizations_policy_in_the_admin_reselects_its_open_tickets(
    desk, clock, admin_client, django_capture_on_commit_callbacks
):
    org = factories.organization("Gamma", domains=("gamma.example",))
    ticket = factories.ticket(requester=factories.contact(email="x@gamma.example"))
    assert _fresh(ticket).sla_policy_id == desk.policy.pk
    gold = policy("Gold", targets={Priority.NORMAL: (30, 30, 120)})

    with django_capture_on_commit_callbacks(execute=True):
        response = _admin_post_unchanged_but(
            admin_client, f"/admin/accounts/organization/{org.pk}/change/", sla_policy=str(gold.pk)
        )
    assert response.status_code == 302

    fresh = _fresh(ticket)
    assert (fresh.sla_policy_id, fresh.first_response_due_at) == (gold.pk, berlin(10, 9, 30))


def test_a_new_contract_with_a_policy_reselects_the_organizations_tickets(
    desk, clock, admin_client, django_capture_on_commit_callbacks
):
    org = factories.organization("Delta", domains=("delta.example",))
    ticket = factories.ticket(requester=factories.contact(email="x@delta.example"))
    gold = policy("Contract Gold", targets={Priority.NORMAL: (15, 15, 60)})
    from accounts.models import Contract

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/accounts/contract/add/",
            {
                "organization": org.pk,
                "name": "Support 2026",
                "product": "Platform",
                "starts_on": "2025-01-01",
                "sla_policy": gold.pk,
                "entitlements-TOTAL_FORMS": "0",
                "entitlements-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    assert Contract.objects.filter(organization=org).exists()
    assert _fresh(ticket).sla_policy_id == gold.pk
