"""The Django admin: every model is there, every list is cheap, and tickets change only through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.forms import MultiWidget
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.admin import EstimatedCountPaginator
from accounts.choices import AgentRole, CustomFieldEntity
from accounts.models import (
    AgentProfile,
    Contact,
    ContactEmail,
    Contract,
    CustomFieldDefinition,
    Entitlement,
    Organization,
    Skill,
)
from tests import factories
from tickets import services, sla
from tickets.choices import EventAction, Priority, Status, ViewVisibility
from tickets.models import (
    Attachment,
    BulkJob,
    BusinessCalendar,
    BusinessHours,
    EscalationLevel,
    Holiday,
    Macro,
    Message,
    Notification,
    SavedView,
    SLAEscalation,
    SLAPause,
    SLAPolicy,
    SLAPolicyRule,
    SLATarget,
    Tag,
    Ticket,
    TicketEvent,
    TicketType,
)

pytestmark = pytest.mark.django_db

ROWS = 10  # per model; more than the query budget leaves room for, so an N+1 cannot hide
MAX_CHANGELIST_QUERIES = 12
User = get_user_model()


@pytest.fixture
def desk(admin_user):
    """Several rows of every model, built through the services where they exist."""
    teams = [factories.team() for _ in range(ROWS)]
    skills = [Skill.objects.create(name=f"Skill {i}") for i in range(ROWS)]
    agents = [factories.agent(teams=[team]) for team in teams]
    for agent, skill in zip(agents, skills, strict=True):
        agent.agent_profile.skills.add(skill)
    for team, agent in zip(teams, agents, strict=True):
        team.lead = agent
        team.save(update_fields=["lead"])
    policies = [SLAPolicy.objects.create(name=f"Policy {i}", is_default=i == 0) for i in range(ROWS)]
    for policy in policies:
        SLATarget.objects.create(policy=policy, priority=Priority.HIGH, first_response_minutes=60)
    for i in range(ROWS):
        entity = list(CustomFieldEntity)[i % len(CustomFieldEntity)]
        CustomFieldDefinition.objects.create(entity=entity, key=f"field_{i}", label=f"Field {i}", field_type="text")
    organizations = []
    for i in range(ROWS):
        org = factories.organization(
            domains=(f"org{i}.example",),
            account_manager=agents[i],
            parent=organizations[0] if organizations else None,
            sla_policy=policies[i],
            default_team=teams[i],
        )
        contract = Contract.objects.create(
            organization=org,
            name=f"Contract {i}",
            product="Hosting",
            starts_on=dt.date(2025, 1, 1),
            sla_policy=policies[i],
        )
        Entitlement.objects.create(contract=contract, name="Remote hours", unit="hours", quantity=Decimal(10))
        organizations.append(org)
    contacts = [factories.contact(email=f"person{i}@org{i}.example") for i in range(ROWS)]
    for contact in contacts:
        factories.customer_user(contact)
    for agent in agents:
        BulkJob.objects.create(created_by=agent, action="status", params={"status": "open"})
    types = [TicketType.objects.create(name=f"Type {i}") for i in range(ROWS)]
    tags = [Tag.objects.create(name=f"tag-{i}") for i in range(ROWS)]
    for i in range(ROWS):
        macro = Macro.objects.create(
            name=f"Macro {i}", reply_text="Hello {{ customer.name }}", set_team=teams[i], owner=agents[i], team=teams[i]
        )
        macro.add_tags.add(tags[i])
        SavedView.objects.create(
            name=f"View {i}", visibility=ViewVisibility.TEAM, owner=agents[i], team=teams[i], filters={"status": "open"}
        )
    tickets = [
        factories.ticket(
            requester=contacts[i],
            subject=f"Printer {i} is on fire",
            team=teams[i],
            assignee=agents[i],
            type=types[i],
            tags=[tags[i].name],
            cc=[contacts[(i + 1) % ROWS]],
        )
        for i in range(ROWS)
    ]
    by = services.Actor.agent(agents[0])
    for i, ticket in enumerate(tickets):
        note = services.ticket_add_note(ticket=ticket, by=services.Actor.agent(agents[i]), body_text="Looking")
        Attachment.objects.create(
            message=note,
            file=f"attachments/ab/{i:064d}",
            filename=f"log{i}.txt",
            content_type="text/plain",
            size=10,
            sha256=f"{i:064d}",
        )
        services.ticket_link(source=ticket, target=tickets[(i + 1) % ROWS], by=by)
    _sla_rows(policies, teams, types, tickets)
    # --- CSAT: one survey per ticket, as the solve subscriber writes them ---
    from tickets.models import SatisfactionSurvey

    for i, ticket in enumerate(tickets):
        SatisfactionSurvey.objects.create(
            ticket=ticket,
            solve_number=1,
            contact=contacts[i],
            agent=agents[i],
            team=teams[i],
            organization=organizations[i],
            created_at=timezone.now(),
        )
    # --- API tokens: one per agent, as create_api_token writes them ---
    from accounts.models import ApiToken

    ApiToken.objects.bulk_create(
        ApiToken(user=agents[i], name=f"Integration {i}", prefix=f"p{i:05d}", key_hash=f"{i:064x}") for i in range(ROWS)
    )
    return {"teams": teams, "agents": agents, "tickets": tickets, "contacts": contacts, "tags": tags}


def _sla_rows(policies: list, teams: list, types: list, tickets: list) -> None:
    """SLA configuration rows, the tickets' clocks and escalations from the SLA service, and pauses and
    notifications as it writes them (without moving the tickets' status, which other tests count)."""
    for i, policy in enumerate(policies):
        calendar = BusinessCalendar.objects.create(name=f"Calendar {i}")
        BusinessHours.objects.create(calendar=calendar, weekday=i % 5, opens_at=dt.time(9), closes_at=dt.time(17))
        Holiday.objects.create(calendar=calendar, date=dt.date(2025, 12, 1 + i), name=f"Holiday {i}")
        policy.calendar = calendar
        policy.save(update_fields=["calendar"])
        SLATarget.objects.create(
            policy=policy, priority=Priority.NORMAL, first_response_minutes=60, resolution_minutes=480
        )
        SLAPolicyRule.objects.create(position=i, policy=policy, kind="ticket_type", ticket_type=types[i])
        EscalationLevel.objects.create(policy=policy, percent=50 + i, notify_team_lead=True, move_to_team=teams[i])
        sla.policy_changed(policy)
    sla.sla_recompute([t.pk for t in tickets])
    now = timezone.now()
    for ticket in tickets:
        SLAPause.objects.create(ticket=ticket, status=Status.PENDING, started_at=now, ended_at=now)
        Notification.objects.create(
            recipient=ticket.assignee,
            ticket=ticket,
            escalation=SLAEscalation.objects.filter(ticket=ticket).first(),
            kind="sla_warning",
            title=f"{ticket.reference}: warning",
            created_at=now,
        )


def _registered_models() -> list[type]:
    local = [m for label in ("accounts", "tickets") for m in apps.get_app_config(label).get_models()]
    return [*local, User]


def _form_data(response) -> dict:
    """What a browser would post back unchanged: the admin form's values and every inline's forms."""
    data: dict = {}
    _put_form(data, response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _put_form(data, formset.management_form)
        for form in formset.forms:
            _put_form(data, form)
    return data


def _put_form(data: dict, form) -> None:
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if value is None or value is False:
            continue
        widget = form.fields[name].widget
        if isinstance(widget, MultiWidget):  # e.g. a date and a time input
            for suffix, part in zip(widget.widgets_names, widget.decompress(value), strict=True):
                data[key + suffix] = str(part)
        elif value is True:
            data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        else:
            data[key] = str(value)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _form_errors(response) -> str:
    form = response.context["adminform"].form
    errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
    for inline in response.context["inline_admin_formsets"]:
        errors += [str(e) for e in inline.formset.non_form_errors()]
        errors += [str(e) for form_errors in inline.formset.errors for errs in form_errors.values() for e in errs]
    return " | ".join(errors)


# --- Registration and lists -----------------------------------------------------------------------


def test_every_model_of_accounts_and_tickets_is_registered_in_the_admin():
    missing = [m.__name__ for m in _registered_models() if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.parametrize("model", _registered_models(), ids=lambda m: m._meta.label)
def test_changelist_shows_rows_in_a_bounded_number_of_queries(admin_client, desk, model, django_assert_max_num_queries):
    assert model._default_manager.count() >= ROWS
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= ROWS


def test_whole_big_table_is_counted_from_the_planner_estimate_and_filtered_lists_exactly(desk, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")  # sets pg_class.reltuples, as autovacuum does
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", ROWS - 1)

    with CaptureQueriesContext(connection) as whole:
        whole_count = EstimatedCountPaginator(Ticket.objects.all(), 100).count
    with CaptureQueriesContext(connection) as filtered:
        filtered_count = EstimatedCountPaginator(Ticket.objects.filter(status=Status.NEW), 100).count

    assert whole_count == ROWS
    assert "COUNT(" not in " ".join(q["sql"] for q in whole.captured_queries)
    assert filtered_count == ROWS
    assert "COUNT(" in " ".join(q["sql"] for q in filtered.captured_queries)


def test_ticket_changelist_finds_a_ticket_by_its_reference(admin_client, desk):
    ticket = desk["tickets"][3]

    response = admin_client.get(reverse("admin:tickets_ticket_changelist"), {"q": ticket.reference.lower()})

    assert [t.pk for t in response.context["cl"].result_list] == [ticket.pk]


def test_ticket_changelist_filters_by_agent_assignee(admin_client, desk):
    agent = desk["agents"][2]

    response = admin_client.get(reverse("admin:tickets_ticket_changelist"), {"assignee": agent.pk})

    assert [t.assignee_id for t in response.context["cl"].result_list] == [agent.pk]


def test_user_changelist_shows_agent_role(admin_client, desk):
    response = admin_client.get(reverse("admin:auth_user_changelist"), {"agent": "yes"})

    users = list(response.context["cl"].result_list)
    assert len(users) == ROWS
    assert "Agent" in response.content.decode()


# --- Ticket change page ---------------------------------------------------------------------------


@pytest.fixture
def team_ticket():
    """A new ticket in a team with two members; one agent outside it."""
    team = factories.team()
    member, other_member = factories.agent(teams=[team]), factories.agent(teams=[team])
    outsider = factories.agent()
    ticket = factories.ticket(team=team, subject="VPN drops every hour")
    return {"ticket": ticket, "team": team, "member": member, "other_member": other_member, "outsider": outsider}


def test_ticket_change_page_shows_conversation_and_timeline(admin_client, desk, django_assert_max_num_queries):
    ticket = desk["tickets"][0]

    with django_assert_max_num_queries(20):
        response = admin_client.get(_change_url(ticket))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Please help." in page  # the first message
    assert "Looking" in page  # the internal note
    assert "Message added" in page  # its timeline event
    form = response.context["adminform"].form
    assert set(form.fields) == {"status", "priority", "team", "assignee", "type", "tags"}


def test_ticket_custom_fields_are_shown_read_only_with_their_labels(admin_client):
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.TICKET, key="serial_number", label="Serial number", field_type="text"
    )
    ticket = factories.ticket(custom_fields={"serial_number": "SN-4711"})

    response = admin_client.get(_change_url(ticket))

    assert "custom_fields" not in response.context["adminform"].form.fields
    assert "<dt>Serial number</dt><dd>SN-4711</dd>" in response.content.decode()


def test_admin_changes_status_priority_and_assignee_through_the_services(admin_client, admin_user, team_ticket):
    ticket, member = team_ticket["ticket"], team_ticket["member"]
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(status=Status.OPEN, priority=Priority.URGENT, assignee=str(member.pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 302, _form_errors(response)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == (Status.OPEN, Priority.URGENT, member.pk)
    events = list(
        TicketEvent.objects.filter(
            ticket=ticket, action__in=[EventAction.STATUS, EventAction.PRIORITY, EventAction.ASSIGNEE]
        )
    )
    assert sorted(e.action for e in events) == sorted([EventAction.ASSIGNEE, EventAction.PRIORITY, EventAction.STATUS])
    assert {e.actor_id for e in events} == {admin_user.pk}
    events = {e.action: e for e in events}
    assert (events[EventAction.STATUS].old_value, events[EventAction.STATUS].new_value) == ("new", "open")
    assert events[EventAction.ASSIGNEE].new_value == member.username


def test_admin_moves_team_before_assigning_a_member_of_the_new_team(admin_client, team_ticket):
    ticket, member = team_ticket["ticket"], team_ticket["member"]
    services.ticket_assign(ticket=ticket, by=services.Actor.agent(member), assignee=member)
    new_team = factories.team()
    new_member = factories.agent(teams=[new_team])
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(team=str(new_team.pk), assignee=str(new_member.pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 302, _form_errors(response)
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (new_team.pk, new_member.pk)


def test_admin_tag_changes_are_recorded_as_one_tags_event(admin_client, admin_user, team_ticket):
    ticket = team_ticket["ticket"]
    services.ticket_update_tags(ticket=ticket, by=services.Actor.agent(admin_user), add=["vpn", "network"])
    billing = Tag.objects.create(name="billing")
    vpn = Tag.objects.get(name="vpn")
    data = _form_data(admin_client.get(_change_url(ticket)))
    data["tags"] = [str(vpn.pk), str(billing.pk)]

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 302, _form_errors(response)
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["billing", "vpn"]
    event = TicketEvent.objects.filter(ticket=ticket, action=EventAction.TAGS).latest("id")
    assert (event.old_value, event.new_value, event.actor_id) == ("network, vpn", "billing, vpn", admin_user.pk)


def _assert_nothing_changed(ticket: Ticket, events_before: int) -> None:
    before = (ticket.status, ticket.priority, ticket.assignee_id, ticket.team_id, ticket.updated_at)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id, ticket.team_id, ticket.updated_at) == before
    assert TicketEvent.objects.filter(ticket=ticket).count() == events_before


def test_admin_refuses_setting_a_ticket_back_to_new_and_changes_nothing(admin_client, admin_user, team_ticket):
    ticket = services.ticket_change_status(
        ticket=team_ticket["ticket"], by=services.Actor.agent(admin_user), status=Status.OPEN
    )
    events_before = TicketEvent.objects.filter(ticket=ticket).count()
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(status=Status.NEW, priority=Priority.URGENT, assignee=str(team_ticket["member"].pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 200
    assert "Cannot change status from open to new" in _form_errors(response)
    _assert_nothing_changed(ticket, events_before)


def test_admin_refuses_assigning_a_customer_and_changes_nothing(admin_client, team_ticket):
    ticket = team_ticket["ticket"]
    customer = factories.customer_user(factories.contact())
    events_before = TicketEvent.objects.filter(ticket=ticket).count()
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(priority=Priority.HIGH, assignee=str(customer.pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 200
    assert "is not an active agent" in str(response.context["adminform"].form.errors["assignee"])
    _assert_nothing_changed(ticket, events_before)


def test_admin_refuses_assigning_an_agent_outside_the_ticket_team(admin_client, team_ticket):
    ticket = team_ticket["ticket"]
    events_before = TicketEvent.objects.filter(ticket=ticket).count()
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(status=Status.OPEN, assignee=str(team_ticket["outsider"].pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 200
    assert "is not a member of the ticket's team" in _form_errors(response)
    _assert_nothing_changed(ticket, events_before)


def test_change_refused_at_save_time_is_rolled_back_and_reported(admin_client, team_ticket, monkeypatch):
    # As if the ticket changed between the form's trial run and the save: skip the trial.
    from django import forms

    from tickets.admin import TicketAdminForm

    monkeypatch.setattr(TicketAdminForm, "clean", forms.ModelForm.clean)
    ticket = team_ticket["ticket"]
    events_before = TicketEvent.objects.filter(ticket=ticket).count()
    data = _form_data(admin_client.get(_change_url(ticket)))
    data.update(priority=Priority.URGENT, assignee=str(team_ticket["outsider"].pk))

    response = admin_client.post(_change_url(ticket), data)

    assert response.status_code == 302
    assert response["Location"] == _change_url(ticket)
    assert any("Nothing was changed" in str(m) for m in get_messages(response.wsgi_request))
    _assert_nothing_changed(ticket, events_before)


def test_closed_ticket_is_read_only_in_the_admin(admin_client, admin_user, team_ticket):
    ticket = services.ticket_change_status(
        ticket=team_ticket["ticket"], by=services.Actor.agent(admin_user), status=Status.CLOSED
    )

    response = admin_client.get(_change_url(ticket))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == []


def test_non_agent_staff_user_cannot_change_a_ticket_through_the_admin(client, team_ticket):
    staff = User.objects.create_user(username="auditor", password="pw", is_staff=True)
    staff.user_permissions.add(*_permissions("tickets", "ticket", "view", "change"))
    client.force_login(staff)
    ticket = team_ticket["ticket"]
    data = _form_data(client.get(_change_url(ticket)))
    data.update(priority=Priority.URGENT)

    response = client.post(_change_url(ticket), data)

    assert response.status_code == 200
    assert "Only agents can change the priority" in _form_errors(response)
    ticket.refresh_from_db()
    assert ticket.priority == Priority.NORMAL


def _permissions(app_label: str, model: str, *actions: str) -> list:
    from django.contrib.auth.models import Permission

    return list(
        Permission.objects.filter(
            content_type__app_label=app_label, codename__in=[f"{action}_{model}" for action in actions]
        )
    )


def test_tickets_cannot_be_added_or_deleted_in_the_admin(admin_client, team_ticket):
    ticket = team_ticket["ticket"]

    assert admin_client.get(reverse("admin:tickets_ticket_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:tickets_ticket_delete", args=[ticket.pk]), {"post": "yes"}).status_code == 403
    )
    assert Ticket.objects.filter(pk=ticket.pk).exists()


@pytest.mark.parametrize("model", [Message, Attachment, TicketEvent], ids=lambda m: m.__name__)
def test_conversation_and_audit_rows_are_view_only(admin_client, desk, model):
    row = model.objects.first()
    info = (model._meta.app_label, model._meta.model_name)

    assert admin_client.get(_change_url(row)).status_code == 200
    assert admin_client.post(_change_url(row), {}).status_code == 403
    assert admin_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403
    assert (
        admin_client.post(reverse("admin:{}_{}_delete".format(*info), args=[row.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert model.objects.filter(pk=row.pk).exists()


# --- Accounts: custom fields and inlines ----------------------------------------------------------


@pytest.fixture
def employees_field():
    return CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.ORGANIZATION, key="employees", label="Employees", field_type="integer"
    )


def _add_data(client, model_name: str) -> tuple[str, dict]:
    url = reverse(f"admin:accounts_{model_name}_add")
    return url, _form_data(client.get(url))


def test_organization_with_invalid_custom_field_value_shows_a_form_error_and_is_not_saved(
    admin_client, employees_field
):
    url, data = _add_data(admin_client, "organization")
    data.update(name="Acme", custom_fields='{"employees": "abc"}')

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["custom_fields"] == [
        "Employees (employees): Enter a whole number."
    ]
    assert not Organization.objects.filter(name="Acme").exists()


def test_organization_custom_fields_are_stored_typed(admin_client, employees_field):
    url, data = _add_data(admin_client, "organization")
    data.update(name="Acme", custom_fields='{"employees": " 42 "}')

    response = admin_client.post(url, data)

    assert response.status_code == 302, _form_errors(response)
    assert Organization.objects.get(name="Acme").custom_fields == {"employees": 42}


def test_organization_custom_fields_must_be_an_object(admin_client, employees_field):
    url, data = _add_data(admin_client, "organization")
    data.update(name="Acme", custom_fields="[42]")

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "Enter an object" in _form_errors(response)
    assert not Organization.objects.filter(name="Acme").exists()


def test_contact_with_unknown_or_missing_required_custom_field_shows_one_error_per_key(admin_client):
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.CONTACT,
        key="customer_number",
        label="Customer number",
        field_type="text",
        required=True,
    )
    url, data = _add_data(admin_client, "contact")
    data.update(name="Ada", custom_fields='{"shoe_size": 42}')

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert sorted(response.context["adminform"].form.errors["custom_fields"]) == [
        "Customer number (customer_number): This field is required.",
        "shoe_size: Unknown field.",
    ]
    assert not Contact.objects.filter(name="Ada").exists()


def test_contact_with_two_primary_addresses_shows_an_error_instead_of_failing(admin_client):
    contact = factories.contact(email="ada@example.org", name="Ada")
    data = _form_data(admin_client.get(_change_url(contact)))
    data.update(
        {
            "emails-TOTAL_FORMS": "2",
            "emails-1-email": "ada.lovelace@example.org",
            "emails-1-is_primary": "on",
            "emails-1-contact": str(contact.pk),
        }
    )

    response = admin_client.post(_change_url(contact), data)

    assert response.status_code == 200
    assert "Mark only one address as primary" in _form_errors(response)
    assert list(ContactEmail.objects.filter(contact=contact).values_list("email", flat=True)) == ["ada@example.org"]


def test_organization_domains_that_differ_only_in_case_are_refused(admin_client):
    url, data = _add_data(admin_client, "organization")
    data.update(
        {
            "name": "Acme",
            "domains-TOTAL_FORMS": "2",
            "domains-0-domain": "Acme.example",
            "domains-1-domain": "acme.EXAMPLE",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "acme.example appears twice" in _form_errors(response)
    assert not Organization.objects.filter(name="Acme").exists()


def test_user_page_makes_a_user_an_agent_with_teams(admin_client):
    team = factories.team()
    user = User.objects.create_user(username="grace", password="pw")
    data = _form_data(admin_client.get(_change_url(user)))
    data.update(
        {
            "agent_profile-TOTAL_FORMS": "1",
            "agent_profile-0-role": AgentRole.TEAM_LEAD,
            "agent_profile-0-time_zone": "Europe/Berlin",
            "agent_profile-0-language": "en",
            "agent_profile-0-is_active": "on",
            "agent_profile-0-teams": [str(team.pk)],
        }
    )

    response = admin_client.post(_change_url(user), data)

    assert response.status_code == 302, _form_errors(response)
    profile = AgentProfile.objects.get(user=user)
    assert profile.role == AgentRole.TEAM_LEAD
    assert list(profile.teams.all()) == [team]


def test_macro_with_unknown_placeholder_is_refused(admin_client):
    url = reverse("admin:tickets_macro_add")
    data = _form_data(admin_client.get(url))
    data.update(name="Greeting", reply_text="Hi {{ customer.password }}", visibility=ViewVisibility.SHARED)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "customer.password" in _form_errors(response)
    assert not Macro.objects.filter(name="Greeting").exists()
