"""Macros: who may use which, what applying one does (one transaction), placeholders, and the picker."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from accounts.choices import AgentRole
from tests import factories
from tickets import selectors, services
from tickets.choices import EventAction, MessageKind, Priority, Status, ViewVisibility
from tickets.models import Macro, Message, Tag, Ticket, TicketEvent
from tickets.services import Actor, ticket_change_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    team = factories.team("Support")
    escalations = factories.team("Escalations")
    agent = factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Lopez")
    colleague = factories.agent(teams=[team], username="ben")
    return team, escalations, agent, colleague


def _macro(**fields) -> Macro:
    add = fields.pop("add_tags", ())
    remove = fields.pop("remove_tags", ())
    macro = Macro(**{"name": "Macro", **fields})
    macro.full_clean()
    macro.save()
    macro.add_tags.set([Tag.objects.get_or_create(name=n)[0] for n in add])
    macro.remove_tags.set([Tag.objects.get_or_create(name=n)[0] for n in remove])
    return macro


def test_macro_reply_renders_placeholders_and_leaves_template_syntax_literal(desk, settings):
    team, _escalations, agent, _colleague = desk
    settings.SERVICE_DESK_NAME = "Acme Help"
    org = factories.organization("Acme GmbH")
    person = factories.contact(name="Kim  Sun", email="kim@acme.example", organization=org)
    ticket = factories.ticket(subject="Cannot log in", requester=person, team=team)
    text = (
        "Hello {{ customer.first_name }} ({{ customer.name }}, {{customer.email}}, {{ organization.name }}),\n"
        "about {{ ticket.reference }} “{{ ticket.subject }}”: "
        "{% if user.is_staff %}secret{% endif %} {{ customer.name|upper }} {{ user.password }} "
        "{{ settings.SECRET_KEY }}\n"
        "{{ agent.name }} / {{ agent.first_name }}, {{ desk.name }}"
    )
    macro = Macro.objects.create(name="Greeting", reply_text=text)
    applied = services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))
    assert applied.changed
    assert applied.message.body_text == (
        "Hello Kim (Kim Sun, kim@acme.example, Acme GmbH),\n"
        f"about {ticket.reference} “Cannot log in”: "
        "{% if user.is_staff %}secret{% endif %} {{ customer.name|upper }} {{ user.password }} "
        "{{ settings.SECRET_KEY }}\n"
        "Ana Lopez / Ana, Acme Help"
    )
    assert applied.message.kind == MessageKind.REPLY
    assert applied.message.author_user == agent


def test_macro_applies_its_actions_with_the_reply_and_counts_its_use(desk):
    team, escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team, tags=["new-customer", "keep"])
    macro = _macro(
        name="Escalate and solve",
        reply_text="Done, {{ customer.first_name }}.",
        set_status=Status.SOLVED,
        set_priority=Priority.HIGH,
        set_team=escalations,
        add_tags=["escalated"],
        remove_tags=["new-customer"],
    )
    applied = services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.team_id) == (Status.SOLVED, Priority.HIGH, escalations.pk)
    assert set(ticket.tags.values_list("name", flat=True)) == {"keep", "escalated"}
    assert applied.ticket.status == Status.SOLVED
    assert ticket.first_responded_at is not None
    actions = set(TicketEvent.objects.filter(ticket=ticket, actor=agent).values_list("action", flat=True))
    assert {EventAction.PRIORITY, EventAction.TEAM, EventAction.TAGS, EventAction.STATUS} <= actions
    macro.refresh_from_db()
    assert macro.usage_count == 1


def test_macro_without_reply_only_changes_what_is_not_already_so(desk):
    team, _escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team, priority=Priority.HIGH)
    macro = _macro(name="Prioritise", set_priority=Priority.HIGH)
    applied = services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))
    assert (applied.changed, applied.message) == (False, None)
    pending = _macro(name="Wait", set_status=Status.PENDING)
    applied = services.ticket_apply_macro(ticket=ticket, macro=pending, by=Actor.agent(agent))
    assert applied.changed
    assert applied.ticket.status == Status.PENDING
    assert not Message.objects.filter(ticket=ticket, author_user=agent).exists()


def test_a_macro_that_cannot_be_applied_in_full_changes_nothing(desk):
    team, _escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team)
    ticket_change_status(ticket=ticket, by=Actor.agent(agent), status=Status.SOLVED)
    # Solved tickets cannot move to pending: the reply, tag and priority before it must not stay.
    macro = _macro(
        name="Ask",
        reply_text="Which order?",
        set_status=Status.PENDING,
        set_priority=Priority.URGENT,
        add_tags=["asked"],
    )
    before = TicketEvent.objects.filter(ticket=ticket).count()
    with pytest.raises(services.TicketError, match="Cannot change status from solved to pending"):
        services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == (Status.SOLVED, Priority.NORMAL)
    assert not ticket.tags.exists()
    assert not Message.objects.filter(ticket=ticket, author_user=agent).exists()
    assert TicketEvent.objects.filter(ticket=ticket).count() == before
    macro.refresh_from_db()
    assert macro.usage_count == 0


def test_macros_on_closed_tickets_and_by_customers_are_refused(desk):
    team, _escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team)
    macro = _macro(name="Hi", reply_text="Hi")
    with pytest.raises(services.PermissionDenied):
        services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.customer(ticket.requester, "email"))
    ticket_change_status(ticket=ticket, by=Actor.agent(agent), status=Status.CLOSED)
    with pytest.raises(services.TicketError, match="closed"):
        services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))


def test_macros_for_shows_own_shared_and_team_macros_only(desk):
    team, escalations, agent, colleague = desk
    shared = _macro(name="Shared")
    mine = _macro(name="Mine", visibility=ViewVisibility.PERSONAL, owner=agent)
    _macro(name="Ben's", visibility=ViewVisibility.PERSONAL, owner=colleague)
    ours = _macro(name="Support team", visibility=ViewVisibility.TEAM, team=team)
    _macro(name="Escalations team", visibility=ViewVisibility.TEAM, team=escalations)
    _macro(name="Retired", is_active=False)
    assert list(selectors.macros_for(agent)) == [mine, shared, ours]
    admin = factories.agent(role=AgentRole.ADMIN)
    assert {m.name for m in selectors.macros_for(admin)} == {"Shared"}
    customer = factories.customer_user(factories.contact())
    assert not selectors.macros_for(customer).exists()


def test_a_macro_not_available_to_the_agent_is_refused_by_the_service(desk):
    team, _escalations, agent, colleague = desk
    ticket = factories.ticket(team=team)
    personal = _macro(name="Ben's", reply_text="x", visibility=ViewVisibility.PERSONAL, owner=colleague)
    with pytest.raises(services.PermissionDenied):
        services.ticket_apply_macro(ticket=ticket, macro=personal, by=Actor.agent(agent))
    retired = _macro(name="Old", reply_text="x", is_active=False)
    with pytest.raises(services.TicketError, match="retired"):
        services.ticket_apply_macro(ticket=ticket, macro=retired, by=Actor.agent(agent))
    assert not Message.objects.filter(ticket=ticket, author_user__isnull=False).exists()


# --- From the ticket page ------------------------------------------------------------------------------


def test_apply_macro_view_applies_and_returns_to_the_ticket(client, desk):
    team, _escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team, requester=factories.contact(name="Kim Sun"))
    macro = _macro(name="Password reset", reply_text="Hi {{ customer.first_name }}", set_status=Status.SOLVED)
    client.force_login(agent)
    url = reverse("desk:ticket-apply-macro", args=[ticket.reference])
    assert client.get(url).status_code == 405
    response = client.post(url, {"macro": macro.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", args=[ticket.reference])
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert Message.objects.get(ticket=ticket, author_user=agent).body_text == "Hi Kim"
    # htmx gets a redirect header instead of a redirect to follow.
    other = factories.ticket(team=team)
    response = client.post(
        reverse("desk:ticket-apply-macro", args=[other.pk]), {"macro": macro.pk}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("desk:ticket", args=[other.reference])


def test_apply_macro_view_refuses_what_the_agent_may_not_use_or_see(client, desk):
    team, escalations, agent, colleague = desk
    ticket = factories.ticket(team=team)
    theirs = factories.ticket(team=escalations)
    personal = _macro(name="Ben's", reply_text="x", visibility=ViewVisibility.PERSONAL, owner=colleague)
    shared = _macro(name="Shared", reply_text="x")
    client.force_login(agent)
    response = client.post(reverse("desk:ticket-apply-macro", args=[ticket.reference]), {"macro": personal.pk})
    assert response.status_code == 302
    assert client.post(reverse("desk:ticket-apply-macro", args=[ticket.reference]), {"macro": "abc"}).status_code == 302
    assert not Message.objects.filter(ticket=ticket, author_user=agent).exists()
    assert (
        client.post(reverse("desk:ticket-apply-macro", args=[theirs.reference]), {"macro": shared.pk}).status_code
        == 404
    )
    assert not Message.objects.filter(ticket=theirs, author_user=agent).exists()
    ticket_change_status(ticket=ticket, by=Actor.agent(agent), status=Status.CLOSED)
    response = client.post(
        reverse("desk:ticket-apply-macro", args=[ticket.reference]), {"macro": shared.pk}, follow=True
    )
    assert "The macro was not applied" in response.content.decode()
    customer = factories.customer_user(ticket.requester)
    client.force_login(customer)
    assert (
        client.post(reverse("desk:ticket-apply-macro", args=[ticket.reference]), {"macro": shared.pk}).status_code
        == 404
    )


def test_macro_picker_lists_the_agents_macros_and_what_they_do_in_few_queries(desk, django_assert_max_num_queries):
    team, escalations, agent, colleague = desk
    ticket = factories.ticket(team=team)
    for i in range(6):
        _macro(name=f"Shared {i}", reply_text="Hello {{ customer.name }}", set_team=escalations, add_tags=[f"t{i}"])
    _macro(name="Ben's", visibility=ViewVisibility.PERSONAL, owner=colleague)
    request = RequestFactory().get("/")
    request.user = agent
    with django_assert_max_num_queries(5):
        html = render_to_string(
            "desk/tickets/_macro_picker.html", {"ticket": ticket, "macros": selectors.macros_for(agent)}, request
        )
    assert f'action="/desk/tickets/{ticket.reference}/macro/"' in html
    assert html.count("<option value=") == 7  # "Choose a macro…" and six macros
    assert "Ben&#x27;s" not in html
    assert "Adds tag t5" in html
    assert "Team: Escalations" in html
    assert "Hello {{ customer.name }}" in html  # shown as written, not rendered


def test_ticket_tags_are_untouched_by_macros_of_no_tags(desk):
    team, _escalations, agent, _colleague = desk
    ticket = factories.ticket(team=team, tags=["a"])
    macro = _macro(name="Reply", reply_text="ok")
    services.ticket_apply_macro(ticket=ticket, macro=macro, by=Actor.agent(agent))
    assert list(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True)) == ["a"]
