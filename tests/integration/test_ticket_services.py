"""The ticket service layer against real PostgreSQL: what each change writes, and what it refuses."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db.models import Max, Q
from django.utils import timezone

from accounts.choices import AgentRole, CustomFieldEntity
from accounts.models import AgentProfile, CustomFieldDefinition
from tests import factories
from tickets import services
from tickets.choices import Channel, EventAction, LinkKind, MessageKind, Priority, Status
from tickets.models import Message, Tag, Ticket, TicketCC, TicketEvent, TicketLink, TicketType
from tickets.services import Actor, NewMessage, NewTicket, PermissionDenied, TicketError

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------


def _totals() -> dict[str, int]:
    return {
        "tickets": Ticket.objects.count(),
        "messages": Message.objects.count(),
        "events": TicketEvent.objects.count(),
        "cc": TicketCC.objects.count(),
        "links": TicketLink.objects.count(),
        "tags": Tag.objects.count(),
    }


def _state(ticket: Ticket) -> dict[str, object]:
    """Everything a change could touch, read back from the database."""
    fresh = Ticket.objects.get(pk=ticket.pk)
    return {
        "row": Ticket.objects.filter(pk=ticket.pk).values().get(),
        "tags": sorted(fresh.tags.values_list("name", flat=True)),
        "cc": sorted(TicketCC.objects.filter(ticket_id=ticket.pk).values_list("contact_id", flat=True)),
        "messages": sorted(Message.objects.filter(ticket_id=ticket.pk).values_list("pk", "kind")),
        "events": TicketEvent.objects.filter(ticket_id=ticket.pk).count(),
        "links": TicketLink.objects.filter(Q(source_id=ticket.pk) | Q(target_id=ticket.pk)).count(),
    }


def _mark() -> int:
    return TicketEvent.objects.aggregate(m=Max("id"))["m"] or 0


def _events_since(mark: int) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(pk__gt=mark).order_by("id"))


def _rows(events: list[TicketEvent]) -> list[tuple]:
    return [
        (e.ticket_id, e.action, e.field, e.old_value, e.new_value, e.actor_id, e.actor_contact_id, e.channel)
        for e in events
    ]


def _fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def w():
    """A small desk: two teams, agents in each, a requester and a logged-in customer."""
    team = factories.team("First line")
    other_team = factories.team("Second line")
    agent = factories.agent(teams=[team], username="alice")
    colleague = factories.agent(teams=[team], username="bob")
    outsider = factories.agent(teams=[other_team], username="olga")
    requester = factories.contact(name="Rita Requester", email="rita@consumer.example")
    customer_user = factories.customer_user(requester)
    return SimpleNamespace(
        team=team,
        other_team=other_team,
        agent=agent,
        colleague=colleague,
        outsider=outsider,
        requester=requester,
        customer_user=customer_user,
        by_agent=Actor.agent(agent),
        by_customer=Actor.customer(requester, Channel.PORTAL, user=customer_user),
    )


@pytest.fixture
def ticket(w):
    return factories.ticket(requester=w.requester, team=w.team, subject="Printer on fire")


@pytest.fixture
def ticket_fields(db):
    """Ticket custom fields of several types."""
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="order_number", label="Order", field_type="integer", min_value=1
    )
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="severity", label="Severity", field_type="choice", choices=["s1", "s2"]
    )


@pytest.fixture
def spares(w, ticket_fields):
    """Objects the permission tests hand to services, made before anything is counted."""
    w.spare_type = TicketType.objects.create(name="Question")
    w.spare_contact = factories.contact(name="Spare")
    w.other_ticket = factories.ticket(requester=w.requester, team=w.team)
    return w


# --- creating -----------------------------------------------------------------------------------


def test_customer_created_ticket_takes_organization_from_requester_and_records_creation():
    org = factories.organization("Acme", domains=("acme.example",))
    requester = factories.contact(email="jane@acme.example")
    mark = _mark()

    ticket = factories.ticket(requester=requester, subject="VPN down", channel=Channel.EMAIL, body="It is down.")

    ticket = _fresh(ticket)
    assert ticket.organization_id == org.pk
    assert ticket.status == Status.NEW
    message = Message.objects.get(ticket=ticket)
    assert (message.kind, message.author_contact_id, message.author_user_id, message.body_text) == (
        MessageKind.REPLY,
        requester.pk,
        None,
        "It is down.",
    )
    assert ticket.last_customer_message_at == message.created_at
    assert ticket.first_responded_at is None
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.CREATED, "", "", "VPN down", None, requester.pk, Channel.EMAIL),
        (ticket.pk, EventAction.MESSAGE_ADDED, MessageKind.REPLY, "", "", None, requester.pk, Channel.EMAIL),
    ]
    assert TicketEvent.objects.get(pk__gt=mark, action=EventAction.MESSAGE_ADDED).message_id == message.pk


def test_b2c_ticket_has_no_organization(w):
    ticket = factories.ticket(requester=w.requester)
    assert _fresh(ticket).organization_id is None


def test_ticket_create_strips_line_breaks_from_subject(w):
    ticket = factories.ticket(requester=w.requester, subject="Invoice\r\nBcc: victim@example.com\n  wrong")
    assert _fresh(ticket).subject == "Invoice Bcc: victim@example.com wrong"


def test_ticket_create_shortens_overlong_subject_to_column_size(w):
    ticket = factories.ticket(requester=w.requester, subject="x" * 400)
    assert len(_fresh(ticket).subject) == 255
    assert _fresh(ticket).subject.endswith("…")


def test_ticket_created_by_agent_for_customer_records_agent_and_sets_team_assignee_tags_cc(w):
    cc = factories.contact(name="Carl Copy")
    mark = _mark()
    ticket = services.ticket_create(
        subject="Called in",
        requester=w.requester,
        channel=Channel.PHONE,
        body_text="Customer called about X.",
        by=Actor.agent(w.agent, Channel.PHONE),
        team=w.team,
        assignee=w.colleague,
        priority=Priority.HIGH,
        tags=["Billing Issue", "billing issue"],
        cc=[cc, w.requester],
    )
    ticket = _fresh(ticket)
    assert (ticket.team_id, ticket.assignee_id, ticket.priority) == (w.team.pk, w.colleague.pk, Priority.HIGH)
    assert list(ticket.tags.values_list("name", flat=True)) == ["billing-issue"]
    assert list(TicketCC.objects.filter(ticket=ticket).values_list("contact_id", flat=True)) == [cc.pk]
    assert Message.objects.get(ticket=ticket).author_user_id == w.agent.pk
    created = _events_since(mark)[0]
    assert (created.action, created.actor_id, created.actor_contact_id, created.channel) == (
        EventAction.CREATED,
        w.agent.pk,
        None,
        Channel.PHONE,
    )


def _reject_cases():
    return [
        pytest.param(lambda w: {"channel": "fax"}, "channel", id="unknown-channel"),
        pytest.param(lambda w: {"channel": Channel.SYSTEM}, "channel", id="system-channel"),
        pytest.param(lambda w: {"priority": "critical"}, "priority", id="unknown-priority"),
        pytest.param(lambda w: {"status": "archived"}, "status", id="unknown-status"),
        pytest.param(lambda w: {"assignee": w.customer_user}, "assignee", id="assignee-not-an-agent"),
        pytest.param(lambda w: {"team": w.team, "assignee": w.outsider}, "assignee", id="assignee-not-in-team"),
        pytest.param(lambda w: {"assignee": w.inactive}, "assignee", id="assignee-inactive-agent"),
        pytest.param(
            lambda w: {"custom_fields": {"order_number": "abc"}}, "custom_fields.order_number", id="bad-custom-field"
        ),
        pytest.param(lambda w: {"custom_fields": {"colour": "red"}}, "custom_fields.colour", id="unknown-custom-field"),
        pytest.param(lambda w: {"subject": " \r\n "}, "subject", id="blank-subject"),
        pytest.param(lambda w: {"body_text": "   "}, "body_text", id="blank-first-message"),
        pytest.param(lambda w: {"type": w.retired_type}, "type", id="retired-type"),
        pytest.param(lambda w: {"tags": ["ok", "a,b"]}, "tags", id="bad-tag"),
    ]


@pytest.mark.parametrize(("make", "error_key"), _reject_cases())
def test_ticket_create_rejects_invalid_input_and_writes_nothing(w, ticket_fields, make, error_key):
    w.inactive = factories.agent(teams=[w.team])
    AgentProfile.objects.filter(user=w.inactive).update(is_active=False)
    w.retired_type = TicketType.objects.create(name="Legacy", is_active=False)
    kwargs = {
        "subject": "Help",
        "requester": w.requester,
        "channel": Channel.EMAIL,
        "body_text": "Please help.",
        "by": Actor.agent(w.agent, Channel.EMAIL),
        "tags": ["brand-new-tag"],
    }
    kwargs.update(make(w))
    before = _totals()

    with pytest.raises(TicketError) as excinfo:
        services.ticket_create(**kwargs)

    assert error_key in excinfo.value.errors
    assert str(excinfo.value)
    assert _totals() == before
    assert not Tag.objects.filter(name="brand-new-tag").exists()


def test_bulk_create_opens_every_ticket_with_its_own_events(w):
    org = factories.organization(domains=("globex.example",))
    b2b = factories.contact(email="hank@globex.example")
    specs = [
        NewTicket(subject=f"Import {i}", requester=r, channel=Channel.API, messages=[NewMessage(body_text="hi")])
        for i, r in enumerate([w.requester, b2b, w.requester])
    ]
    tickets = services.tickets_create_bulk(specs)
    assert [t.organization_id for t in tickets] == [None, org.pk, None]
    for t in tickets:
        assert list(TicketEvent.objects.filter(ticket=t).values_list("action", flat=True)) == [
            EventAction.CREATED,
            EventAction.MESSAGE_ADDED,
        ]
        assert Message.objects.filter(ticket=t).count() == 1


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"priority": "critical"}, id="bad-priority-checked-before-insert"),
        pytest.param({"messages": [NewMessage(body_text="")]}, id="bad-message-checked-after-insert"),
    ],
)
def test_bulk_create_with_one_bad_spec_writes_nothing(w, bad):
    good = {"requester": w.requester, "channel": Channel.API, "messages": [NewMessage(body_text="hi")]}
    specs = [
        NewTicket(subject="One", **good),
        NewTicket(subject="Two", **{**good, **bad}),
        NewTicket(subject="Three", **good, tags=["imported"]),
    ]
    before = _totals()
    with pytest.raises(TicketError) as excinfo:
        services.tickets_create_bulk(specs)
    if "priority" in bad:
        assert "(ticket 2 of 3)" in str(excinfo.value)
    assert _totals() == before


def test_ticket_created_as_solved_for_an_import_has_solved_at(w):
    ticket = factories.ticket(requester=w.requester, status=Status.SOLVED)
    ticket = _fresh(ticket)
    assert ticket.solved_at == ticket.created_at
    assert ticket.closed_at is None


# --- status -------------------------------------------------------------------------------------


def test_agent_status_change_records_event_and_moves_ticket(w, ticket):
    mark = _mark()
    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.PENDING)
    assert _fresh(ticket).status == Status.PENDING
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.STATUS, "status", "new", "pending", w.agent.pk, None, Channel.AGENT_UI)
    ]


def test_solving_sets_solved_at_and_reopening_clears_it(w, ticket):
    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.SOLVED)
    solved = _fresh(ticket)
    assert solved.status == Status.SOLVED
    assert solved.solved_at is not None
    assert solved.closed_at is None

    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.OPEN)
    reopened = _fresh(ticket)
    assert reopened.status == Status.OPEN
    assert reopened.solved_at is None


def test_closing_sets_closed_at_and_keeps_solved_at(w, ticket):
    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.SOLVED)
    solved_at = _fresh(ticket).solved_at
    services.ticket_change_status(ticket=ticket, by=Actor.system(), status=Status.CLOSED)
    closed = _fresh(ticket)
    assert closed.status == Status.CLOSED
    assert closed.closed_at is not None
    assert closed.solved_at == solved_at
    event = TicketEvent.objects.filter(ticket=ticket).last()
    assert (event.old_value, event.new_value, event.actor_id, event.channel) == ("solved", "closed", None, "system")


def test_closing_an_unsolved_ticket_sets_solved_at_too(w, ticket):
    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.CLOSED)
    closed = _fresh(ticket)
    assert closed.closed_at is not None
    assert closed.solved_at == closed.closed_at


@pytest.mark.parametrize(
    ("start", "target", "reason"),
    [
        (Status.CLOSED, Status.OPEN, "a closed ticket is final; a new message opens a follow-up ticket instead"),
        (Status.CLOSED, Status.SOLVED, "a closed ticket is final; a new message opens a follow-up ticket instead"),
        (Status.SOLVED, Status.PENDING, "allowed from solved: closed, open"),
        (Status.SOLVED, Status.ON_HOLD, "allowed from solved: closed, open"),
        (Status.OPEN, Status.NEW, "'new' is only the status a ticket starts in"),
        (Status.PENDING, Status.NEW, "'new' is only the status a ticket starts in"),
        (Status.SOLVED, Status.NEW, "'new' is only the status a ticket starts in"),
    ],
)
def test_illegal_status_transition_is_refused_with_reason_and_changes_nothing(w, start, target, reason):
    ticket = factories.ticket(requester=w.requester, status=start)
    before, totals = _state(ticket), _totals()
    with pytest.raises(TicketError) as excinfo:
        services.ticket_change_status(ticket=ticket, by=w.by_agent, status=target)
    assert str(excinfo.value) == f"Cannot change status from {start.value} to {target.value}: {reason}."
    assert excinfo.value.field == "status"
    assert _state(ticket) == before
    assert _totals() == totals


def test_unknown_status_is_refused(w, ticket):
    before = _state(ticket)
    with pytest.raises(TicketError, match="Unknown status"):
        services.ticket_change_status(ticket=ticket, by=w.by_agent, status="archived")
    assert _state(ticket) == before


def test_changing_to_the_current_status_writes_no_event(w, ticket):
    before = _state(ticket)
    services.ticket_change_status(ticket=ticket, by=w.by_agent, status=Status.NEW)
    assert _state(ticket) == before


def test_customer_may_solve_their_ticket(w, ticket):
    mark = _mark()
    services.ticket_change_status(ticket=ticket, by=w.by_customer, status=Status.SOLVED)
    assert _fresh(ticket).status == Status.SOLVED
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.STATUS, "status", "new", "solved", w.customer_user.pk, w.requester.pk, Channel.PORTAL)
    ]


@pytest.mark.parametrize("target", [Status.PENDING, Status.ON_HOLD])
def test_customer_cannot_set_agent_statuses(w, ticket, target):
    before = _state(ticket)
    with pytest.raises(PermissionDenied, match="Customers can only close or reopen"):
        services.ticket_change_status(ticket=ticket, by=w.by_customer, status=target)
    assert _state(ticket) == before


# --- the agent-only changes ---------------------------------------------------------------------


def test_priority_change_records_old_and_new(w, ticket):
    mark = _mark()
    services.ticket_change_priority(ticket=ticket, by=w.by_agent, priority=Priority.URGENT)
    assert _fresh(ticket).priority == Priority.URGENT
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.PRIORITY, "priority", "normal", "urgent", w.agent.pk, None, Channel.AGENT_UI)
    ]


def test_priority_unchanged_writes_no_event(w, ticket):
    before = _state(ticket)
    services.ticket_change_priority(ticket=ticket, by=w.by_agent, priority=Priority.NORMAL)
    assert _state(ticket) == before


def test_unknown_priority_is_refused(w, ticket):
    before = _state(ticket)
    with pytest.raises(TicketError, match="Unknown priority"):
        services.ticket_change_priority(ticket=ticket, by=w.by_agent, priority="critical")
    assert _state(ticket) == before


def test_assign_records_usernames_and_sets_assignee(w, ticket):
    mark = _mark()
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.colleague)
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.agent)
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=None)
    assert _fresh(ticket).assignee_id is None
    assert [(e.action, e.field, e.old_value, e.new_value, e.actor_id) for e in _events_since(mark)] == [
        (EventAction.ASSIGNEE, "assignee", "", "bob", w.agent.pk),
        (EventAction.ASSIGNEE, "assignee", "bob", "alice", w.agent.pk),
        (EventAction.ASSIGNEE, "assignee", "alice", "", w.agent.pk),
    ]


def test_assigning_the_current_assignee_writes_no_event(w, ticket):
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.colleague)
    before = _state(ticket)
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.colleague)
    assert _state(ticket) == before


def test_unrouted_ticket_can_be_assigned_to_any_agent(w):
    ticket = factories.ticket(requester=w.requester)
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.outsider)
    assert _fresh(ticket).assignee_id == w.outsider.pk


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("outsider", "is not a member of the ticket's team"),
        ("customer_user", "is not an active agent"),
        ("inactive", "is not an active agent"),
    ],
)
def test_assign_refuses_non_members_and_non_agents(w, ticket, who, message):
    w.inactive = factories.agent(teams=[w.team])
    AgentProfile.objects.filter(user=w.inactive).update(is_active=False)
    before = _state(ticket)
    with pytest.raises(TicketError, match=message) as excinfo:
        services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=getattr(w, who))
    assert excinfo.value.field == "assignee"
    assert _state(ticket) == before


def test_team_change_drops_assignee_who_is_not_a_member_and_records_it(w, ticket):
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.colleague)
    mark = _mark()
    services.ticket_set_team(ticket=ticket, by=w.by_agent, team=w.other_team)
    ticket = _fresh(ticket)
    assert (ticket.team_id, ticket.assignee_id) == (w.other_team.pk, None)
    assert [(e.action, e.field, e.old_value, e.new_value, e.actor_id) for e in _events_since(mark)] == [
        (EventAction.TEAM, "team", "First line", "Second line", w.agent.pk),
        (EventAction.ASSIGNEE, "assignee", "bob", "", w.agent.pk),
    ]


def test_team_change_keeps_assignee_who_is_a_member(w, ticket):
    services.ticket_assign(ticket=ticket, by=w.by_agent, assignee=w.colleague)
    AgentProfile.objects.get(user=w.colleague).teams.add(w.other_team)
    mark = _mark()
    services.ticket_set_team(ticket=ticket, by=w.by_agent, team=w.other_team)
    assert _fresh(ticket).assignee_id == w.colleague.pk
    assert [e.action for e in _events_since(mark)] == [EventAction.TEAM]


def test_unrouting_a_ticket_records_empty_team(w, ticket):
    mark = _mark()
    services.ticket_set_team(ticket=ticket, by=w.by_agent, team=None)
    assert _fresh(ticket).team_id is None
    assert [(e.old_value, e.new_value) for e in _events_since(mark)] == [("First line", "")]


def test_same_team_writes_no_event(w, ticket):
    before = _state(ticket)
    services.ticket_set_team(ticket=ticket, by=w.by_agent, team=w.team)
    assert _state(ticket) == before


def test_type_change_records_names_and_refuses_retired_type(w, ticket):
    incident = TicketType.objects.create(name="Incident")
    retired = TicketType.objects.create(name="Legacy", is_active=False)
    mark = _mark()
    services.ticket_set_type(ticket=ticket, by=w.by_agent, type=incident)
    assert _fresh(ticket).type_id == incident.pk
    assert [(e.action, e.field, e.old_value, e.new_value) for e in _events_since(mark)] == [
        (EventAction.TYPE, "type", "", "Incident")
    ]

    before = _state(ticket)
    services.ticket_set_type(ticket=ticket, by=w.by_agent, type=incident)
    assert _state(ticket) == before
    with pytest.raises(TicketError, match="retired"):
        services.ticket_set_type(ticket=ticket, by=w.by_agent, type=retired)
    assert _state(ticket) == before


def test_tags_are_normalised_added_and_removed_with_events(w, ticket):
    mark = _mark()
    services.ticket_update_tags(ticket=ticket, by=w.by_agent, add=["VIP", "Billing Issue"])
    assert sorted(_fresh(ticket).tags.values_list("name", flat=True)) == ["billing-issue", "vip"]
    services.ticket_update_tags(ticket=ticket, by=w.by_agent, remove=["vip"])
    assert list(_fresh(ticket).tags.values_list("name", flat=True)) == ["billing-issue"]
    assert [(e.action, e.field, e.old_value, e.new_value) for e in _events_since(mark)] == [
        (EventAction.TAGS, "tags", "", "billing-issue, vip"),
        (EventAction.TAGS, "tags", "billing-issue, vip", "billing-issue"),
    ]


def test_adding_a_tag_already_there_or_removing_one_absent_writes_no_event(w, ticket):
    services.ticket_update_tags(ticket=ticket, by=w.by_agent, add=["vip"])
    before = _state(ticket)
    services.ticket_update_tags(ticket=ticket, by=w.by_agent, add=["VIP"], remove=["absent"])
    assert _state(ticket) == before


def test_invalid_tag_is_refused_and_creates_no_tag(w, ticket):
    before, tags = _state(ticket), Tag.objects.count()
    with pytest.raises(TicketError) as excinfo:
        services.ticket_update_tags(ticket=ticket, by=w.by_agent, add=["fine", "not,fine"])
    assert excinfo.value.field == "tags"
    assert _state(ticket) == before
    assert Tag.objects.count() == tags


def test_cc_add_and_remove_record_names(w, ticket):
    anna = factories.contact(name="Anna")
    ben = factories.contact(name="Ben")
    mark = _mark()
    services.ticket_update_cc(ticket=ticket, by=w.by_agent, add=[anna, ben, w.requester])
    assert set(TicketCC.objects.filter(ticket=ticket).values_list("contact_id", flat=True)) == {anna.pk, ben.pk}
    services.ticket_update_cc(ticket=ticket, by=w.by_agent, remove=[anna])
    assert list(TicketCC.objects.filter(ticket=ticket).values_list("contact_id", flat=True)) == [ben.pk]
    assert [(e.action, e.field, e.old_value, e.new_value) for e in _events_since(mark)] == [
        (EventAction.CC, "cc", "", "Anna, Ben"),
        (EventAction.CC, "cc", "Anna, Ben", "Ben"),
    ]


def test_cc_of_requester_or_existing_cc_writes_no_event(w, ticket):
    anna = factories.contact(name="Anna")
    services.ticket_update_cc(ticket=ticket, by=w.by_agent, add=[anna])
    before = _state(ticket)
    services.ticket_update_cc(ticket=ticket, by=w.by_agent, add=[anna, w.requester], remove=[factories.contact()])
    assert _state(ticket) == before


def test_custom_fields_write_one_event_per_changed_field(w, ticket, ticket_fields):
    mark = _mark()
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"order_number": "42", "severity": "s1"})
    assert _fresh(ticket).custom_fields == {"order_number": 42, "severity": "s1"}
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"order_number": 42, "severity": "s2"})
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"severity": ""})
    assert _fresh(ticket).custom_fields == {"order_number": 42}
    assert [(e.action, e.field, e.old_value, e.new_value) for e in _events_since(mark)] == [
        (EventAction.CUSTOM_FIELD, "order_number", "", "42"),
        (EventAction.CUSTOM_FIELD, "severity", "", "s1"),
        (EventAction.CUSTOM_FIELD, "severity", "s1", "s2"),
        (EventAction.CUSTOM_FIELD, "severity", "s2", ""),
    ]


def test_custom_fields_unchanged_write_no_event(w, ticket, ticket_fields):
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"order_number": 7})
    before = _state(ticket)
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"order_number": "7"})
    assert _state(ticket) == before


def test_invalid_custom_fields_are_refused_with_every_error(w, ticket, ticket_fields):
    services.ticket_set_custom_fields(ticket=ticket, by=w.by_agent, values={"order_number": 7})
    before = _state(ticket)
    with pytest.raises(TicketError) as excinfo:
        services.ticket_set_custom_fields(
            ticket=ticket, by=w.by_agent, values={"order_number": "0", "severity": "s9", "colour": "red"}
        )
    assert set(excinfo.value.errors) == {
        "custom_fields.order_number",
        "custom_fields.severity",
        "custom_fields.colour",
    }
    assert _state(ticket) == before


# --- who may do what ----------------------------------------------------------------------------


def _agent_only_calls():
    return [
        pytest.param(lambda w, t, by: services.ticket_assign(ticket=t, by=by, assignee=w.agent), "assign", id="assign"),
        pytest.param(
            lambda w, t, by: services.ticket_change_priority(ticket=t, by=by, priority=Priority.URGENT),
            "priority",
            id="priority",
        ),
        pytest.param(lambda w, t, by: services.ticket_set_team(ticket=t, by=by, team=w.other_team), "route", id="team"),
        pytest.param(
            lambda w, t, by: services.ticket_set_type(ticket=t, by=by, type=w.spare_type),
            "type",
            id="type",
        ),
        pytest.param(lambda w, t, by: services.ticket_update_tags(ticket=t, by=by, add=["vip"]), "tag", id="tags"),
        pytest.param(
            lambda w, t, by: services.ticket_update_cc(ticket=t, by=by, add=[w.spare_contact]), "copied", id="cc"
        ),
        pytest.param(
            lambda w, t, by: services.ticket_set_custom_fields(ticket=t, by=by, values={"order_number": 1}),
            "custom fields",
            id="custom-fields",
        ),
        pytest.param(lambda w, t, by: services.ticket_add_note(ticket=t, by=by, body_text="psst"), "notes", id="note"),
        pytest.param(
            lambda w, t, by: services.ticket_log_interaction(
                ticket=t, by=by, kind=MessageKind.PHONE_CALL, body_text="called"
            ),
            "log calls",
            id="log-call",
        ),
        pytest.param(
            lambda w, t, by: services.ticket_merge(source=t, target=w.other_ticket, by=by),
            "merge",
            id="merge",
        ),
        pytest.param(
            lambda w, t, by: services.ticket_link(source=t, target=w.other_ticket, by=by),
            "link",
            id="link",
        ),
    ]


@pytest.mark.parametrize(("call", "what"), _agent_only_calls())
def test_customer_attempting_agent_only_action_is_denied_and_nothing_changes(w, ticket, spares, call, what):
    before, totals = _state(ticket), _totals()
    with pytest.raises(PermissionDenied, match=f"Customers cannot .*{what}"):
        call(w, ticket, w.by_customer)
    assert _state(ticket) == before
    assert _totals() == totals


@pytest.mark.parametrize(("call", "what"), _agent_only_calls())
def test_user_without_active_agent_profile_acting_as_agent_is_denied(w, ticket, spares, call, what):
    AgentProfile.objects.filter(user=w.colleague).update(is_active=False)
    before, totals = _state(ticket), _totals()
    with pytest.raises(PermissionDenied, match=f"Only agents can .*{what}"):
        call(w, ticket, Actor.agent(w.colleague))
    assert _state(ticket) == before
    assert _totals() == totals


def test_user_without_agent_profile_cannot_change_status(w, ticket):
    before = _state(ticket)
    with pytest.raises(PermissionDenied, match="Only agents can change the status"):
        services.ticket_change_status(ticket=ticket, by=Actor.agent(w.customer_user), status=Status.PENDING)
    assert _state(ticket) == before


def _closed_refusals():
    return [
        pytest.param(lambda w, t: services.ticket_change_priority(ticket=t, by=w.by_agent, priority="high"), id="prio"),
        pytest.param(lambda w, t: services.ticket_assign(ticket=t, by=w.by_agent, assignee=w.agent), id="assign"),
        pytest.param(lambda w, t: services.ticket_set_team(ticket=t, by=w.by_agent, team=None), id="team"),
        pytest.param(lambda w, t: services.ticket_update_tags(ticket=t, by=w.by_agent, add=["x"]), id="tags"),
        pytest.param(
            lambda w, t: services.ticket_update_cc(ticket=t, by=w.by_agent, add=[factories.contact()]), id="cc"
        ),
        pytest.param(lambda w, t: services.ticket_reply(ticket=t, by=w.by_agent, body_text="hi"), id="agent-reply"),
        pytest.param(
            lambda w, t: services.ticket_reply(ticket=t, by=w.by_customer, body_text="hi"), id="customer-reply"
        ),
    ]


@pytest.mark.parametrize("call", _closed_refusals())
def test_closed_ticket_refuses_changes_and_replies(w, call):
    ticket = factories.ticket(requester=w.requester, team=w.team, status=Status.CLOSED)
    before, totals = _state(ticket), _totals()
    with pytest.raises(TicketError, match="is closed; you cannot") as excinfo:
        call(w, ticket)
    assert excinfo.value.field == "status"
    assert _state(ticket) == before
    assert _totals() == totals


# --- the conversation ---------------------------------------------------------------------------


def test_agent_reply_moves_new_ticket_to_open_and_sets_first_response(w, ticket):
    mark = _mark()
    message = services.ticket_reply(ticket=ticket, by=w.by_agent, body_text="On it.")
    fresh = _fresh(ticket)
    assert fresh.status == Status.OPEN
    assert fresh.first_responded_at == message.created_at
    assert fresh.last_agent_message_at == message.created_at
    assert (message.kind, message.author_user_id, message.author_contact_id) == (MessageKind.REPLY, w.agent.pk, None)
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.MESSAGE_ADDED, "reply", "", "", w.agent.pk, None, Channel.AGENT_UI),
        (ticket.pk, EventAction.STATUS, "status", "new", "open", w.agent.pk, None, Channel.AGENT_UI),
    ]
    assert _events_since(mark)[0].message_id == message.pk


def test_only_the_first_agent_reply_sets_first_responded_at(w, ticket):
    first = services.ticket_reply(ticket=ticket, by=w.by_agent, body_text="One")
    second = services.ticket_reply(ticket=ticket, by=Actor.agent(w.colleague), body_text="Two")
    fresh = _fresh(ticket)
    assert fresh.first_responded_at == first.created_at
    assert fresh.last_agent_message_at == second.created_at


def test_internal_note_neither_responds_nor_moves_status(w, ticket):
    mark = _mark()
    note = services.ticket_add_note(ticket=ticket, by=w.by_agent, body_text="Customer sounds upset.")
    fresh = _fresh(ticket)
    assert note.kind == MessageKind.NOTE
    assert (fresh.status, fresh.first_responded_at, fresh.last_agent_message_at) == (Status.NEW, None, None)
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.MESSAGE_ADDED, "note", "", "", w.agent.pk, None, Channel.AGENT_UI)
    ]


@pytest.mark.parametrize("start", [Status.PENDING, Status.SOLVED])
def test_customer_reply_reopens_pending_and_solved_tickets(w, start):
    ticket = factories.ticket(requester=w.requester, status=start)
    mark = _mark()
    message = services.ticket_reply(ticket=ticket, by=w.by_customer, body_text="Still broken.")
    fresh = _fresh(ticket)
    assert fresh.status == Status.OPEN
    assert fresh.solved_at is None
    assert fresh.last_customer_message_at == message.created_at
    assert fresh.first_responded_at is None
    assert (message.author_contact_id, message.author_user_id) == (w.requester.pk, None)
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.MESSAGE_ADDED, "reply", "", "", w.customer_user.pk, w.requester.pk, Channel.PORTAL),
        (ticket.pk, EventAction.STATUS, "status", start.value, "open", w.customer_user.pk, w.requester.pk, "portal"),
    ]


@pytest.mark.parametrize("start", [Status.NEW, Status.OPEN, Status.ON_HOLD])
def test_customer_reply_leaves_other_statuses_alone(w, start):
    ticket = factories.ticket(requester=w.requester, status=start)
    mark = _mark()
    services.ticket_reply(ticket=ticket, by=w.by_customer, body_text="More detail.")
    assert _fresh(ticket).status == start
    assert [e.action for e in _events_since(mark)] == [EventAction.MESSAGE_ADDED]


def test_agent_reply_with_status_solves_ticket(w, ticket):
    services.ticket_reply(ticket=ticket, by=w.by_agent, body_text="Fixed.", status=Status.SOLVED)
    fresh = _fresh(ticket)
    assert fresh.status == Status.SOLVED
    assert fresh.solved_at is not None


def test_agent_reply_with_illegal_status_writes_nothing(w):
    ticket = factories.ticket(requester=w.requester, status=Status.SOLVED)
    before, totals = _state(ticket), _totals()
    with pytest.raises(TicketError, match="Cannot change status from solved to pending"):
        services.ticket_reply(ticket=ticket, by=w.by_agent, body_text="Hm.", status=Status.PENDING)
    assert _state(ticket) == before
    assert _totals() == totals


def test_customer_cannot_set_status_while_replying(w, ticket):
    before = _state(ticket)
    with pytest.raises(PermissionDenied, match="Customers cannot set a status"):
        services.ticket_reply(ticket=ticket, by=w.by_customer, body_text="Done", status=Status.SOLVED)
    assert _state(ticket) == before


def test_empty_reply_is_refused(w, ticket):
    before = _state(ticket)
    with pytest.raises(TicketError, match="needs text or an attachment") as excinfo:
        services.ticket_reply(ticket=ticket, by=w.by_agent, body_text="  ", body_html="")
    assert excinfo.value.field == "body_text"
    assert _state(ticket) == before


@pytest.mark.parametrize("kind", [MessageKind.PHONE_CALL, MessageKind.MEETING])
def test_logging_a_call_or_meeting_adds_it_to_the_timeline(w, ticket, kind):
    occurred = timezone.now() - timedelta(hours=2)
    mark = _mark()
    message = services.ticket_log_interaction(
        ticket=ticket,
        by=w.by_agent,
        kind=kind,
        body_text="Talked it through.",
        occurred_at=occurred,
        duration_minutes=15,
    )
    message.refresh_from_db()
    assert (message.kind, message.occurred_at, message.duration_minutes) == (kind, occurred, 15)
    fresh = _fresh(ticket)
    assert (fresh.status, fresh.first_responded_at) == (Status.NEW, None)
    assert _rows(_events_since(mark)) == [
        (ticket.pk, EventAction.MESSAGE_ADDED, kind.value, "", "", w.agent.pk, None, Channel.AGENT_UI)
    ]


def test_logged_call_without_time_happened_now(w, ticket):
    message = services.ticket_log_interaction(ticket=ticket, by=w.by_agent, kind="phone_call", body_text="Quick call")
    message.refresh_from_db()
    assert message.occurred_at == message.created_at


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "occurred_at", "cannot lie in the future"),
        ({"kind": MessageKind.REPLY}, "kind", "phone_call or a meeting"),
        ({"duration_minutes": 24 * 60 + 1}, "duration_minutes", "between 0 and 1440"),
        ({"duration_minutes": -1}, "duration_minutes", "between 0 and 1440"),
    ],
)
def test_invalid_logged_interaction_is_refused(w, ticket, kwargs, field, match):
    before = _state(ticket)
    args = {"ticket": ticket, "by": w.by_agent, "kind": MessageKind.PHONE_CALL, "body_text": "call", **kwargs}
    with pytest.raises(TicketError, match=match) as excinfo:
        services.ticket_log_interaction(**args)
    assert excinfo.value.field == field
    assert _state(ticket) == before


def test_logging_a_call_in_the_future_is_refused_even_by_a_minute(w, ticket):
    before = _state(ticket)
    with pytest.raises(TicketError, match="future"):
        services.ticket_log_interaction(
            ticket=ticket,
            by=w.by_agent,
            kind=MessageKind.PHONE_CALL,
            body_text="call",
            occurred_at=timezone.now() + timedelta(minutes=1),
        )
    assert _state(ticket) == before


# --- merging, linking, follow-ups ---------------------------------------------------------------


def test_merge_moves_messages_copies_people_and_closes_source(w):
    anna = factories.contact(name="Anna")
    other_requester = factories.contact(name="Otto")
    target = factories.ticket(requester=w.requester, subject="Original")
    source = factories.ticket(requester=other_requester, subject="Dup", cc=[anna], tags=["printer"])
    services.ticket_reply(ticket=source, by=Actor.customer(other_requester, Channel.EMAIL), body_text="Also this")
    assert _fresh(target).last_customer_message_at < _fresh(source).last_customer_message_at
    source_messages = set(Message.objects.filter(ticket=source).values_list("pk", flat=True))
    last_source_reply = Message.objects.filter(ticket=source).order_by("-created_at").first()
    mark = _mark()

    services.ticket_merge(source=source, target=target, by=w.by_agent)

    source, target = _fresh(source), _fresh(target)
    assert source_messages <= set(Message.objects.filter(ticket=target).values_list("pk", flat=True))
    assert not Message.objects.filter(ticket=source).exists()
    assert set(TicketCC.objects.filter(ticket=target).values_list("contact_id", flat=True)) == {
        other_requester.pk,
        anna.pk,
    }
    assert list(target.tags.values_list("name", flat=True)) == ["printer"]
    assert (source.status, source.merged_into_id) == (Status.CLOSED, target.pk)
    assert source.closed_at is not None
    assert target.status == Status.NEW
    assert target.last_customer_message_at == last_source_reply.created_at
    assert _rows(_events_since(mark)) == [
        (source.pk, EventAction.MERGED_INTO, "merged_into", "", target.reference, w.agent.pk, None, "agent_ui"),
        (source.pk, EventAction.STATUS, "status", "new", "closed", w.agent.pk, None, "agent_ui"),
        (target.pk, EventAction.MERGED_FROM, "merged_from", "", f"{source.reference} (2 messages)", w.agent.pk, None,
         "agent_ui"),
    ]  # fmt: skip


def _merge_refusals():
    def itself(w):
        t = factories.ticket(requester=w.requester)
        return t, t

    def into_closed(w):
        return factories.ticket(requester=w.requester), factories.ticket(requester=w.requester, status=Status.CLOSED)

    def already_merged(w):
        source, first = factories.ticket(requester=w.requester), factories.ticket(requester=w.requester)
        services.ticket_merge(source=source, target=first, by=w.by_agent)
        return source, factories.ticket(requester=w.requester)

    def into_merged(w):
        merged, first = factories.ticket(requester=w.requester), factories.ticket(requester=w.requester)
        services.ticket_merge(source=merged, target=first, by=w.by_agent)
        return factories.ticket(requester=w.requester), merged

    def closed_source(w):
        return factories.ticket(requester=w.requester, status=Status.CLOSED), factories.ticket(requester=w.requester)

    return [
        pytest.param(itself, "cannot be merged into itself", id="into-itself"),
        pytest.param(into_closed, "is closed; merge into an open ticket", id="into-closed"),
        pytest.param(already_merged, "was already merged", id="already-merged"),
        pytest.param(into_merged, "was merged into another ticket", id="into-merged"),
        pytest.param(closed_source, "is closed; you cannot merge it", id="closed-source"),
    ]


@pytest.mark.parametrize(("make", "match"), _merge_refusals())
def test_invalid_merge_is_refused_and_changes_nothing(w, make, match):
    source, target = make(w)
    before, totals = (_state(source), _state(target)), _totals()
    with pytest.raises(TicketError, match=match):
        services.ticket_merge(source=source, target=target, by=w.by_agent)
    assert (_state(source), _state(target)) == before
    assert _totals() == totals


def test_link_records_an_event_on_both_tickets_once(w):
    a = factories.ticket(requester=w.requester)
    b = factories.ticket(requester=w.requester)
    mark = _mark()
    link = services.ticket_link(source=a, target=b, by=w.by_agent)
    assert (link.source_id, link.target_id, link.kind) == (a.pk, b.pk, LinkKind.RELATED)
    assert _rows(_events_since(mark)) == [
        (a.pk, EventAction.LINKED, "related", "", b.reference, w.agent.pk, None, Channel.AGENT_UI),
        (b.pk, EventAction.LINKED, "related_of", "", a.reference, w.agent.pk, None, Channel.AGENT_UI),
    ]
    mark = _mark()
    assert services.ticket_link(source=a, target=b, by=w.by_agent) == link
    assert _events_since(mark) == []


@pytest.mark.parametrize(
    ("kind", "same", "match"),
    [("related", True, "linked to itself"), ("duplicate", False, "Unknown kind")],
)
def test_invalid_link_is_refused(w, kind, same, match):
    a = factories.ticket(requester=w.requester)
    b = a if same else factories.ticket(requester=w.requester)
    totals = _totals()
    with pytest.raises(TicketError, match=match):
        services.ticket_link(source=a, target=b, by=w.by_agent, kind=kind)
    assert _totals() == totals


def test_customer_message_about_closed_ticket_opens_linked_follow_up(w):
    closed = factories.ticket(requester=w.requester, status=Status.CLOSED)
    by = Actor.customer(w.requester, Channel.EMAIL)
    spec = NewTicket(
        subject="Re: it broke again",
        requester=w.requester,
        channel=Channel.EMAIL,
        messages=[NewMessage(body_text="Broken again.", author_contact=w.requester)],
    )
    mark = _mark()

    follow_up = services.ticket_create_linked(related=closed, spec=spec, by=by)

    assert TicketLink.objects.filter(source=follow_up, target=closed, kind=LinkKind.FOLLOW_UP).exists()
    assert _fresh(closed).status == Status.CLOSED
    assert _rows(_events_since(mark)) == [
        (follow_up.pk, EventAction.CREATED, "", "", "Re: it broke again", None, w.requester.pk, Channel.EMAIL),
        (follow_up.pk, EventAction.MESSAGE_ADDED, "reply", "", "", None, w.requester.pk, Channel.EMAIL),
        # The desk links (no actor), recorded in the channel the message came through.
        (follow_up.pk, EventAction.LINKED, "follow_up", "", closed.reference, None, None, Channel.EMAIL),
        (closed.pk, EventAction.LINKED, "follow_up_of", "", follow_up.reference, None, None, Channel.EMAIL),
    ]


def test_agent_opened_follow_up_is_linked_by_the_agent(w):
    closed = factories.ticket(requester=w.requester, status=Status.CLOSED)
    spec = NewTicket(
        subject="Follow-up",
        requester=w.requester,
        channel=Channel.PHONE,
        messages=[NewMessage(body_text="Called again.", author_user=w.agent)],
    )
    follow_up = services.ticket_create_linked(related=closed, spec=spec, by=Actor.agent(w.agent, Channel.PHONE))
    linked = TicketEvent.objects.filter(ticket=follow_up, action=EventAction.LINKED).get()
    assert (linked.actor_id, linked.channel) == (w.agent.pk, Channel.PHONE)


def test_admin_role_agent_may_work_any_ticket(w):
    admin = factories.agent(role=AgentRole.ADMIN)
    ticket = factories.ticket(requester=w.requester, team=w.other_team)
    services.ticket_change_priority(ticket=ticket, by=Actor.agent(admin), priority=Priority.LOW)
    assert _fresh(ticket).priority == Priority.LOW
