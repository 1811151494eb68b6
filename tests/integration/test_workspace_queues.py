"""The agent workspace's ticket lists: built-in views, filters, keyset pages, saved views, access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AgentRole, Tier
from tests import factories
from tickets import selectors
from tickets.choices import Priority, Status
from tickets.domain import queues
from tickets.models import SavedView, Ticket
from tickets.services import Actor, ticket_assign, ticket_change_priority, ticket_change_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    team = factories.team("Support")
    agent = factories.agent(teams=[team], username="ana")
    other = factories.agent(teams=[team], username="ben")
    return team, agent, other


def _login(client, user):
    client.force_login(user)
    return client


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("desk:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("desk:login"))


def test_customer_gets_not_found_in_the_workspace(client):
    person = factories.contact()
    user = factories.customer_user(person)
    _login(client, user)
    assert client.get(reverse("desk:home")).status_code == 404
    assert client.get(reverse("desk:view", args=["all"])).status_code == 404


def test_login_page_signs_an_agent_in(client, desk):
    _team, agent, _other = desk
    response = client.post(reverse("desk:login"), {"username": agent.username, "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:home")
    client.logout()
    bad = client.post(reverse("desk:login"), {"username": agent.username, "password": "nope"})
    assert bad.status_code == 200


def test_builtin_views_show_the_right_tickets_with_counts(client, desk):
    team, agent, other = desk
    mine = factories.ticket(subject="Mine", team=team)
    ticket_assign(ticket=mine, by=Actor.agent(agent), assignee=agent)
    theirs = factories.ticket(subject="Theirs", team=team)
    ticket_assign(ticket=theirs, by=Actor.agent(other), assignee=other)
    unassigned = factories.ticket(subject="Nobody's", team=team)
    pending = factories.ticket(subject="Waiting", team=team)
    ticket_change_status(ticket=pending, by=Actor.agent(agent), status=Status.PENDING)
    _login(client, agent)

    def subjects(view):
        response = client.get(reverse("desk:view", args=[view]))
        assert response.status_code == 200
        return {t.subject for t in response.context["page"].tickets}, response

    got, response = subjects("mine")
    assert got == {"Mine"}
    counts = {key: count for key, _label, count in response.context["views"]}
    assert counts["mine"] == (1, False)
    assert counts["all"] == (4, False)
    assert subjects("unassigned")[0] == {"Nobody's", "Waiting"}
    assert subjects("pending")[0] == {"Waiting"}
    assert subjects("my-teams")[0] == {"Mine", "Theirs", "Nobody's", "Waiting"}
    assert subjects("all")[0] == {"Mine", "Theirs", "Nobody's", "Waiting"}
    assert client.get(reverse("desk:view", args=["nonsense"])).status_code == 404
    assert unassigned.pk


def test_agent_sees_only_tickets_of_their_teams_and_unrouted(client, desk):
    team, agent, _other = desk
    elsewhere = factories.team("Billing")
    factories.ticket(subject="Billing only", team=elsewhere)
    factories.ticket(subject="Ours", team=team)
    factories.ticket(subject="Unrouted")
    _login(client, agent)
    response = client.get(reverse("desk:view", args=["all"]))
    assert {t.subject for t in response.context["page"].tickets} == {"Ours", "Unrouted"}
    # A filter cannot widen the scope.
    response = client.get(reverse("desk:view", args=["all"]), {"team": elsewhere.pk})
    assert list(response.context["page"].tickets) == []


def test_filters_narrow_the_list_and_bad_values_are_form_errors(client, desk):
    team, agent, _other = desk
    org = factories.organization("Acme", tier=Tier.STRATEGIC)
    b2b = factories.ticket(subject="Acme down", requester=factories.contact(organization=org), team=team)
    ticket_change_priority(ticket=b2b, by=Actor.agent(agent), priority=Priority.URGENT)
    factories.ticket(subject="Consumer question", team=team)
    _login(client, agent)
    url = reverse("desk:view", args=["all"])
    assert [t.subject for t in client.get(url, {"tier": "strategic"}).context["page"].tickets] == ["Acme down"]
    assert [t.subject for t in client.get(url, {"priority": "urgent"}).context["page"].tickets] == ["Acme down"]
    assert [t.subject for t in client.get(url, {"organization": org.pk}).context["page"].tickets] == ["Acme down"]
    assert len(client.get(url, {"assignee": "none"}).context["page"].tickets) == 2
    bad = client.get(url, {"priority": "whenever", "created_after": "yesterday-ish"})
    assert bad.status_code == 200
    assert bad.context["page"] is None
    assert set(bad.context["filterset"].errors) == {"priority", "created_after"}


def test_keyset_pages_walk_every_ticket_once_in_each_sort(client, desk):
    team, agent, _other = desk
    base = timezone.now() - timedelta(days=1)
    tickets = [factories.ticket(subject=f"T{i}", team=team) for i in range(23)]
    # Ties on updated_at so the id tiebreak matters; some tickets with an SLA due time, some without.
    for i, t in enumerate(tickets):
        Ticket.objects.filter(pk=t.pk).update(
            updated_at=base + timedelta(minutes=i // 3),
            sla_due_at=(base + timedelta(hours=i % 4)) if i % 2 else None,
        )
    ticket_change_priority(ticket=tickets[5], by=Actor.agent(agent), priority=Priority.URGENT)
    for sort in queues.SORTS.values():
        seen, cursor = [], None
        while True:
            page = selectors.tickets_page(selectors.tickets_visible_to(agent), sort, cursor=cursor, size=5)
            seen.extend(t.pk for t in page.tickets)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert sorted(seen) == sorted(t.pk for t in tickets), sort.key
        assert len(seen) == len(set(seen)), sort.key
        expected = list(
            selectors.tickets_visible_to(agent).order_by(*selectors._order_by(sort)).values_list("pk", flat=True)
        )
        assert seen == expected, sort.key


def test_a_tampered_cursor_shows_the_first_page_with_a_warning(client, desk):
    team, agent, _other = desk
    factories.ticket(team=team)
    _login(client, agent)
    response = client.get(reverse("desk:view", args=["all"]), {"cursor": "garbage!!", "sort": "sla"})
    assert response.status_code == 200
    assert response.context["cursor_error"] is True
    assert len(response.context["page"].tickets) == 1


def test_list_page_query_count_does_not_grow_with_tickets(client, desk, django_assert_max_num_queries):
    team, agent, _other = desk
    org = factories.organization("Acme")
    for i in range(30):
        t = factories.ticket(subject=f"T{i}", team=team, requester=factories.contact(organization=org))
        ticket_assign(ticket=t, by=Actor.agent(agent), assignee=agent)
    _login(client, agent)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("desk:view", args=["mine"]))
    assert len(response.context["page"].tickets) == 30


def test_saved_view_keeps_filters_and_sort_and_is_personal_unless_shared(client, desk):
    team, agent, other = desk
    factories.ticket(subject="Urgent one", team=team, priority=Priority.URGENT)
    factories.ticket(subject="Calm one", team=team)
    _login(client, agent)
    response = client.post(
        reverse("desk:saved-view-create"), {"name": "  Urgent  stuff ", "query": "priority=urgent&sort=sla"}
    )
    saved = SavedView.objects.get()
    assert saved.name == "Urgent stuff"
    assert saved.filters == {"priority": ["urgent"]}
    assert saved.sort == "sla"
    assert response["Location"] == reverse("desk:saved-view", args=[saved.pk])
    page = client.get(response["Location"]).context["page"]
    assert [t.subject for t in page.tickets] == ["Urgent one"]
    # Another agent cannot open a personal view.
    client.force_login(other)
    assert client.get(reverse("desk:saved-view", args=[saved.pk])).status_code == 404
    assert client.post(reverse("desk:saved-view-delete", args=[saved.pk])).status_code == 404
    client.force_login(agent)
    client.post(reverse("desk:saved-view-create"), {"name": "Team view", "query": "status=open", "shared": "1"})
    shared = SavedView.objects.get(name="Team view")
    client.force_login(other)
    assert client.get(reverse("desk:saved-view", args=[shared.pk])).status_code == 200
    # Only its owner (or an admin) deletes it.
    client.post(reverse("desk:saved-view-delete", args=[shared.pk]))
    assert SavedView.objects.filter(pk=shared.pk).exists()
    admin = factories.agent(role=AgentRole.ADMIN)
    client.force_login(admin)
    client.post(reverse("desk:saved-view-delete", args=[shared.pk]))
    assert not SavedView.objects.filter(pk=shared.pk).exists()


def test_saved_view_without_name_or_with_bad_filters_is_refused(client, desk):
    _team, agent, _other = desk
    _login(client, agent)
    client.post(reverse("desk:saved-view-create"), {"name": " ", "query": "status=open"})
    client.post(reverse("desk:saved-view-create"), {"name": "Bad", "query": "status=whatever"})
    assert not SavedView.objects.exists()


def test_agent_language_and_time_zone_apply_to_pages(client, desk):
    _team, agent, _other = desk
    agent.agent_profile.language = "de"
    agent.agent_profile.save(update_fields=["language"])
    _login(client, agent)
    response = client.get(reverse("desk:home"))
    assert response["Content-Language"] == "de"
