"""Working in volume: bulk jobs from the ticket lists, their progress page, selection scope and re-runs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.choices import AgentRole
from tests import factories
from tickets import bulk, selectors, services
from tickets.choices import MessageKind, Priority, Status
from tickets.models import BulkJob, BulkJobState, Macro, Message, Ticket
from tickets.services import Actor, ticket_assign, ticket_change_status
from tickets.tasks import bulk_job_run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    team = factories.team("Support")
    elsewhere = factories.team("Billing")
    agent = factories.agent(teams=[team], username="ana", first_name="Ana", last_name="Lopez")
    colleague = factories.agent(teams=[team], username="ben", first_name="Ben", last_name="Ott")
    outsider = factories.agent(teams=[elsewhere], username="cem")
    return team, elsewhere, agent, colleague, outsider


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a request queues on commit (the bulk task runs eagerly in tests), as a real commit would."""

    def post(client, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("desk:bulk-create"), data)

    return post


def _job_from(response) -> BulkJob:
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.fullmatch(r"/desk/bulk/(\d+)/", response["Location"])
    assert match, response["Location"]
    return BulkJob.objects.get(pk=int(match.group(1)))


def _list_ids(client, view: str, query: dict) -> set[int]:
    """Every ticket id the list shows for ``view`` and ``query``, page by page (what the agent saw)."""
    seen: set[int] = set()
    params = dict(query)
    while True:
        response = client.get(reverse("desk:view", args=[view]), params)
        assert response.status_code == 200
        page = response.context["page"]
        seen.update(t.pk for t in page.tickets)
        if not page.next_cursor:
            return seen
        params["cursor"] = page.next_cursor


# --- Doing the work ------------------------------------------------------------------------------------


def test_bulk_assign_of_fifty_tickets_completes_with_every_ticket_changed(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(subject=f"Reset {i}", team=team) for i in range(50)]
    client.force_login(agent)
    response = run_on_commit(
        client,
        {"action": "assign", "assignee": "me", "ticket": [t.pk for t in tickets], "next": "/desk/views/unassigned/"},
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert job.state == BulkJobState.DONE
    assert (job.total, job.processed, job.changed, job.unchanged, job.refused) == (50, 50, 50, 0, 0)
    assert job.started_at and job.finished_at
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=agent).count() == 50
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert '<progress id="bulk-progress-bar" max="50" value="50"' in html
    assert "Done: 50 of 50 tickets processed." in html
    assert "Assign to Ana Lopez" in html
    assert 'href="/desk/views/unassigned/"' in html
    # Finished: the page no longer polls.
    assert "hx-trigger" not in html


def test_mixed_selection_counts_changed_unchanged_and_refused_with_reasons(client, desk, run_on_commit):
    team, elsewhere, agent, colleague, _outsider = desk
    fresh = factories.ticket(subject="Fresh", team=team)
    already = factories.ticket(subject="Already Ben's", team=team)
    ticket_assign(ticket=already, by=Actor.agent(agent), assignee=colleague)
    closed = factories.ticket(subject="Closed", team=team)
    ticket_change_status(ticket=closed, by=Actor.agent(agent), status=Status.CLOSED)
    # Visible to Ana (assigned to her) but in a team Ben is not in: the service refuses Ben.
    foreign_team = factories.ticket(subject="Billing, mine", team=elsewhere)
    Ticket.objects.filter(pk=foreign_team.pk).update(assignee=agent)  # Ana kept it when she left Billing
    hidden = factories.ticket(subject="Billing only", team=elsewhere)
    client.force_login(agent)

    response = run_on_commit(
        client,
        {
            "action": "assign",
            "assignee": str(colleague.pk),
            "ticket": [fresh.pk, already.pk, closed.pk, foreign_team.pk, hidden.pk],
        },
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert job.state == BulkJobState.DONE
    assert (job.total, job.processed, job.changed, job.unchanged, job.refused) == (5, 5, 1, 1, 3)
    reasons = {r["reference"]: r for r in job.refusals}
    assert set(reasons) == {closed.reference, foreign_team.reference, hidden.reference}
    assert "closed" in reasons[closed.reference]["reason"]
    assert "not a member" in reasons[foreign_team.reference]["reason"]
    assert reasons[hidden.reference]["reason"] == bulk.NOT_FOUND
    assert reasons[hidden.reference]["visible"] is False
    # Exactly the changed one changed; refusals left their tickets alone.
    assert Ticket.objects.get(pk=fresh.pk).assignee_id == colleague.pk
    assert Ticket.objects.get(pk=closed.pk).assignee_id is None
    assert Ticket.objects.get(pk=foreign_team.pk).assignee_id == agent.pk
    assert Ticket.objects.get(pk=hidden.pk).assignee_id is None
    html = client.get(response["Location"]).content.decode()
    assert f'<a href="/desk/tickets/{closed.reference}/">{closed.reference}</a>' in html
    assert f"<td>{hidden.reference}</td>" in html  # not linked: it is not the agent's to open


def test_crafted_ids_of_another_teams_tickets_are_refused_and_untouched(client, desk, run_on_commit):
    team, elsewhere, agent, _colleague, _outsider = desk
    theirs = [factories.ticket(subject=f"Billing {i}", team=elsewhere) for i in range(3)]
    ours = factories.ticket(subject="Ours", team=team)
    client.force_login(agent)
    response = run_on_commit(
        client, {"action": "priority", "priority": Priority.URGENT, "ticket": [ours.pk, *[t.pk for t in theirs]]}
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert (job.changed, job.unchanged, job.refused) == (1, 0, 3)
    assert {r["reason"] for r in job.refusals} == {bulk.NOT_FOUND}
    assert set(Ticket.objects.filter(pk__in=[t.pk for t in theirs]).values_list("priority", flat=True)) == {
        Priority.NORMAL
    }
    assert Ticket.objects.get(pk=ours.pk).priority == Priority.URGENT


def test_all_matching_acts_on_exactly_what_the_filtered_list_showed_and_nothing_outside_scope(
    client, desk, run_on_commit
):
    team, elsewhere, agent, _colleague, _outsider = desk
    high = [factories.ticket(subject=f"High {i}", team=team, priority=Priority.HIGH) for i in range(52)]
    unrouted_high = [factories.ticket(subject=f"Unrouted {i}", priority=Priority.HIGH) for i in range(3)]
    normal = [factories.ticket(subject=f"Normal {i}", team=team) for i in range(3)]
    billing_high = [factories.ticket(subject=f"Billing {i}", team=elsewhere, priority=Priority.HIGH) for i in range(4)]
    client.force_login(agent)
    shown = _list_ids(client, "all", {"priority": "high"})
    assert shown == {t.pk for t in high + unrouted_high}

    # The list offers "all matching" (it has more than one page) and counts them.
    listing = client.get(reverse("desk:view", args=["all"]), {"priority": "high"}).content.decode()
    assert 'id="bulk-form"' in listing
    assert 'name="all_matching"' in listing
    count = client.get(reverse("desk:bulk-count"), {"view": "all", "query": "priority=high"})
    assert "Select all 55 tickets matching this list" in count.content.decode()

    response = run_on_commit(
        client,
        {
            "action": "tags",
            "add_tags": "triage",
            "all_matching": "1",
            "view": "all",
            "query": "priority=high",
            # Rows ticked on the page do not narrow "all matching".
            "ticket": [high[0].pk],
        },
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert job.filters == {"view": "all", "query": "priority=high"}
    assert (job.total, job.changed, job.refused) == (55, 55, 0)
    assert sorted(job.ticket_ids) == sorted(shown)
    tagged = set(Ticket.objects.filter(tags__name="triage").values_list("pk", flat=True))
    assert tagged == shown
    assert not tagged & {t.pk for t in billing_high + normal}


def test_all_of_unassigned_is_assigned_although_tickets_leave_the_view_as_the_job_runs(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(subject=f"Queue {i}", team=team) for i in range(55)]
    client.force_login(agent)
    response = run_on_commit(
        client, {"action": "assign", "assignee": "me", "all_matching": "1", "view": "unassigned", "query": ""}
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert (job.total, job.processed, job.changed) == (55, 55, 55)
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=agent).count() == 55


def test_all_matching_a_saved_view_uses_its_filters(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    urgent = [factories.ticket(subject=f"U{i}", team=team, priority=Priority.URGENT) for i in range(2)]
    calm = factories.ticket(subject="Calm", team=team)
    client.force_login(agent)
    client.post(reverse("desk:saved-view-create"), {"name": "Urgent", "query": "priority=urgent"})
    saved = selectors.saved_views_for(agent).get()
    listing = client.get(reverse("desk:saved-view", args=[saved.pk]))
    assert listing.context["filter_query"] == "priority=urgent"
    response = run_on_commit(
        client,
        {
            "action": "close",
            "all_matching": "1",
            "view": listing.context["current"],
            "query": listing.context["filter_query"],
        },
    )
    job = _job_from(response)
    job.refresh_from_db()
    assert (job.total, job.changed) == (2, 2)
    assert set(Ticket.objects.filter(status=Status.CLOSED).values_list("pk", flat=True)) == {t.pk for t in urgent}
    assert Ticket.objects.get(pk=calm.pk).status == Status.NEW


@pytest.mark.parametrize(
    ("action", "fields", "check"),
    [
        ("status", {"status": "pending"}, lambda t: t.status == Status.PENDING),
        ("priority", {"priority": "high"}, lambda t: t.priority == Priority.HIGH),
        ("team", {"team": "none"}, lambda t: t.team_id is None),
        ("tags", {"add_tags": "VIP, billing", "remove_tags": "old"}, lambda t: _tags(t) == {"vip", "billing"}),
        ("close", {}, lambda t: t.status == Status.CLOSED and t.closed_at is not None),
    ],
)
def test_each_simple_action_changes_the_selected_tickets(client, desk, run_on_commit, action, fields, check):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(subject=f"T{i}", team=team, tags=["old"]) for i in range(3)]
    client.force_login(agent)
    job = _job_from(run_on_commit(client, {"action": action, **fields, "ticket": [t.pk for t in tickets]}))
    job.refresh_from_db()
    assert (job.state, job.changed, job.unchanged, job.refused) == (BulkJobState.DONE, 3, 0, 0)
    for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert check(ticket), ticket
    # Doing it again changes nothing: every ticket is already so.
    again = _job_from(run_on_commit(client, {"action": action, **fields, "ticket": [t.pk for t in tickets]}))
    again.refresh_from_db()
    assert (again.changed, again.unchanged, again.refused) == (0, 3, 0)


def _tags(ticket: Ticket) -> set[str]:
    return set(ticket.tags.values_list("name", flat=True))


def test_bulk_team_routes_and_unassigns_who_is_not_in_the_new_team(client, desk, run_on_commit):
    team, elsewhere, agent, colleague, _outsider = desk
    ticket = factories.ticket(team=team)
    ticket_assign(ticket=ticket, by=Actor.agent(agent), assignee=colleague)
    client.force_login(agent)
    job = _job_from(run_on_commit(client, {"action": "team", "team": str(elsewhere.pk), "ticket": [ticket.pk]}))
    job.refresh_from_db()
    assert job.changed == 1
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (elsewhere.pk, None)


def test_bulk_merge_moves_the_selected_tickets_into_the_target(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    target = factories.ticket(subject="Outage", team=team)
    duplicates = [factories.ticket(subject=f"Outage too {i}", team=team, body=f"Down {i}") for i in range(3)]
    client.force_login(agent)
    job = _job_from(
        run_on_commit(
            client,
            {"action": "merge", "target": target.reference, "ticket": [target.pk, *[t.pk for t in duplicates]]},
        )
    )
    job.refresh_from_db()
    assert (job.changed, job.unchanged, job.refused) == (3, 1, 0)  # the target itself is already "so"
    assert job.params["target_label"] == target.reference
    for duplicate in Ticket.objects.filter(pk__in=[t.pk for t in duplicates]):
        assert duplicate.merged_into_id == target.pk
        assert duplicate.status == Status.CLOSED
    assert Message.objects.filter(ticket=target).count() == 4


def test_bulk_macro_replies_to_each_ticket_once_and_applies_its_actions(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    macro = Macro.objects.create(name="Password reset", reply_text="Hi {{ customer.first_name }}", set_status="solved")
    people = [factories.contact(name=f"Kim{i} Sun") for i in range(4)]
    tickets = [factories.ticket(subject="Reset", team=team, requester=p) for p in people]
    client.force_login(agent)
    job = _job_from(
        run_on_commit(client, {"action": "macro", "macro": str(macro.pk), "ticket": [t.pk for t in tickets]})
    )
    job.refresh_from_db()
    assert (job.changed, job.refused) == (4, 0)
    for ticket, person in zip(tickets, people, strict=True):
        replies = Message.objects.filter(ticket=ticket, kind=MessageKind.REPLY, author_user=agent)
        assert [m.body_text for m in replies] == [f"Hi {person.name.split()[0]}"]
        ticket.refresh_from_db()
        assert ticket.status == Status.SOLVED
    macro.refresh_from_db()
    assert macro.usage_count == 4


# --- Refusing bad requests -------------------------------------------------------------------------------


@pytest.fixture
def bad_request_data(desk):
    team, elsewhere, agent, colleague, outsider = desk
    ours = factories.ticket(team=team)
    closed = factories.ticket(team=team)
    ticket_change_status(ticket=closed, by=Actor.agent(agent), status=Status.CLOSED)
    theirs = factories.ticket(team=elsewhere)
    personal = Macro.objects.create(name="Ben's", reply_text="x", visibility="personal", owner=colleague)
    customer = factories.customer_user(factories.contact())
    return {
        "ours": ours,
        "closed": closed,
        "theirs": theirs,
        "personal": personal,
        "customer": customer,
        "outsider": outsider,
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "explode"}, "action"),
        ({"action": "status", "status": "whatever"}, "status"),
        ({"action": "status", "status": "new"}, "status"),
        ({"action": "priority", "priority": "asap"}, "priority"),
        ({"action": "assign", "assignee": "999999"}, "assignee"),
        ({"action": "assign", "assignee": "{customer}"}, "assignee"),
        ({"action": "team", "team": "999999"}, "team"),
        ({"action": "tags", "add_tags": "ok, <script>"}, "add_tags"),
        ({"action": "tags", "add_tags": "x", "remove_tags": "X"}, "remove_tags"),
        ({"action": "tags", "add_tags": " , ", "remove_tags": ","}, "add_tags"),
        ({"action": "macro", "macro": "{personal}"}, "macro"),
        ({"action": "merge", "target": "SD-999999"}, "target"),
        ({"action": "merge", "target": "{closed}"}, "target"),
        ({"action": "merge", "target": "{theirs}"}, "target"),
        ({"action": "close", "ticket": []}, "ticket"),
        ({"action": "close", "ticket": ["abc"]}, "ticket"),
        ({"action": "close", "ticket": ["-3"]}, "ticket"),
        ({"action": "close", "all_matching": "1", "view": "nonsense", "query": ""}, "ticket"),
        ({"action": "close", "all_matching": "1", "view": "all", "query": "priority=whenever"}, "ticket"),
        ({"action": "close", "all_matching": "1", "view": "saved-999999", "query": ""}, "ticket"),
        ({"action": "close", "all_matching": "1", "view": "pending", "query": ""}, "ticket"),  # matches none
    ],
)
def test_bad_parameters_are_form_errors_and_create_no_job(client, desk, bad_request_data, run_on_commit, data, field):
    _team, _elsewhere, agent, _colleague, _outsider = desk
    objects = bad_request_data
    values = {}
    for key, value in data.items():
        if isinstance(value, str) and value.startswith("{"):
            obj = objects[value.strip("{}")]
            value = obj.reference if isinstance(obj, Ticket) else str(obj.pk)
        values[key] = value
    values.setdefault("ticket", [objects["ours"].pk])
    client.force_login(agent)
    response = run_on_commit(client, values)
    assert response.status_code == 400
    assert field in response.context["errors"], response.context["errors"]
    assert 'role="alert"' in response.content.decode()
    assert not BulkJob.objects.exists()
    # The form keeps the selection, so fixing the input is one more submit.
    assert response.context["ticket_values"] == [str(v) for v in values["ticket"]]


def test_more_than_the_limit_matching_is_refused_with_a_hint(client, desk, run_on_commit, monkeypatch):
    team, _elsewhere, agent, _colleague, _outsider = desk
    for i in range(3):
        factories.ticket(subject=f"T{i}", team=team)
    monkeypatch.setattr(bulk, "MAX_TICKETS", 2)
    client.force_login(agent)
    response = run_on_commit(client, {"action": "close", "all_matching": "1", "view": "all", "query": ""})
    assert response.status_code == 400
    assert "narrow the filter" in response.context["errors"]["ticket"]
    assert not BulkJob.objects.exists()


def test_an_action_without_its_parameters_asks_for_them_without_javascript(client, desk, run_on_commit):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(2)]
    client.force_login(agent)
    response = run_on_commit(
        client, {"action": "assign", "ticket": [t.pk for t in tickets], "view": "mine", "next": "/desk/views/mine/"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="assignee"' in html
    for ticket in tickets:
        assert f'<input type="hidden" name="ticket" value="{ticket.pk}">' in html
    assert "2 selected tickets." in html
    assert response.context["errors"] == {}
    assert not BulkJob.objects.exists()


def test_bulk_pages_are_for_agents_only(client, desk):
    customer = factories.customer_user(factories.contact())
    client.force_login(customer)
    assert client.post(reverse("desk:bulk-create"), {"action": "close", "ticket": [1]}).status_code == 404
    assert client.get(reverse("desk:bulk-fields"), {"action": "assign"}).status_code == 404
    client.logout()
    response = client.post(reverse("desk:bulk-create"), {"action": "close", "ticket": [1]})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("desk:login"))
    assert not BulkJob.objects.exists()


# --- The progress page ---------------------------------------------------------------------------------


def test_job_page_belongs_to_its_creator_only(client, desk, django_capture_on_commit_callbacks):
    team, _elsewhere, agent, colleague, outsider = desk
    ticket = factories.ticket(team=team)
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(user=agent, action="close", params={}, ticket_ids=[ticket.pk])
    url = reverse("desk:bulk-job", args=[job.pk])
    for other in (colleague, outsider, factories.agent(role=AgentRole.ADMIN)):
        client.force_login(other)
        assert client.get(url).status_code == 404
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 404
    client.force_login(factories.customer_user(factories.contact()))
    assert client.get(url).status_code == 404
    client.force_login(agent)
    assert client.get(url).status_code == 200


def test_job_page_polls_while_running_and_works_without_javascript(client, desk, django_capture_on_commit_callbacks):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = bulk.bulk_job_create(user=agent, action="close", params={}, ticket_ids=[t.pk for t in tickets])
    assert len(queued) == 1  # the task is queued on commit, not before
    client.force_login(agent)
    url = reverse("desk:bulk-job", args=[job.pk])
    page = client.get(url).content.decode()
    assert "Waiting to start" in page
    assert '<meta http-equiv="refresh" content="2">' in page  # inside <noscript>
    fragment = client.get(url, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert "<html" not in html
    # Half-way through (as a worker would leave it between tickets).
    bulk._start(job.pk)
    job.refresh_from_db()
    plan = bulk._plan(job, agent)
    bulk._step(job.pk, 0, job.ticket_ids[0], plan, selectors.tickets_visible_to(agent))
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert '<progress id="bulk-progress-bar" max="3" value="1"' in html
    assert "1 of 3 tickets processed" in html
    assert 'hx-trigger="every 1s"' in html
    queued[0]()  # the worker picks it up and finishes
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'value="3"' in html
    assert "hx-trigger" not in html
    assert "refresh" not in client.get(url).content.decode()


def test_job_page_query_count_does_not_grow_with_refusals(client, desk, run_on_commit, django_assert_max_num_queries):
    team, elsewhere, agent, _colleague, _outsider = desk
    closed = []
    for i in range(12):
        ticket = factories.ticket(subject=f"C{i}", team=team)
        ticket_change_status(ticket=ticket, by=Actor.agent(agent), status=Status.SOLVED)
        closed.append(ticket)
    hidden = [factories.ticket(team=elsewhere) for _ in range(5)]
    client.force_login(agent)
    job = _job_from(
        run_on_commit(client, {"action": "status", "status": "pending", "ticket": [t.pk for t in closed + hidden]})
    )
    job.refresh_from_db()
    assert job.refused == 17
    url = reverse("desk:bulk-job", args=[job.pk])
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        client.get(url, headers={"HX-Request": "true"})


def test_refusals_list_is_capped_but_counts_are_complete(client, desk, run_on_commit, monkeypatch):
    _team, elsewhere, agent, _colleague, _outsider = desk
    hidden = [factories.ticket(team=elsewhere) for _ in range(5)]
    monkeypatch.setattr(bulk, "MAX_REFUSALS", 2)
    monkeypatch.setattr(bulk.add_refusal, "__defaults__", (2,))
    client.force_login(agent)
    job = _job_from(run_on_commit(client, {"action": "close", "ticket": [t.pk for t in hidden]}))
    job.refresh_from_db()
    assert (job.refused, len(job.refusals)) == (5, 2)
    assert (
        "and 3 more refused tickets, not listed" in client.get(reverse("desk:bulk-job", args=[job.pk])).content.decode()
    )


# --- Crashes and re-runs --------------------------------------------------------------------------------


class SimulatedWorkerDeath(BaseException):
    """What a killed worker looks like from inside: nothing after this line runs."""


def test_rerun_after_a_crash_midway_continues_without_applying_anything_twice(
    desk, monkeypatch, django_capture_on_commit_callbacks
):
    team, _elsewhere, agent, _colleague, _outsider = desk
    macro = Macro.objects.create(name="Ack", reply_text="We are on it, {{ customer.first_name }}.")
    tickets = [
        factories.ticket(subject=f"T{i}", team=team, requester=factories.contact(name=f"P{i}")) for i in range(10)
    ]
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(
            user=agent, action="macro", params={"macro": str(macro.pk)}, ticket_ids=[t.pk for t in tickets]
        )
    real = services.ticket_apply_macro
    calls = {"n": 0}

    def dies_on_the_fourth(**kwargs):
        calls["n"] += 1
        result = real(**kwargs)  # the reply is written ...
        if calls["n"] == 4:
            raise SimulatedWorkerDeath  # ... and the worker dies before the ticket's transaction commits
        return result

    monkeypatch.setattr(services, "ticket_apply_macro", dies_on_the_fourth)
    with pytest.raises(SimulatedWorkerDeath):
        bulk_job_run_task(job.pk)
    job.refresh_from_db()
    assert (job.state, job.processed, job.changed) == (BulkJobState.RUNNING, 3, 3)
    replies = Message.objects.filter(ticket__in=tickets, kind=MessageKind.REPLY, author_user=agent)
    assert replies.count() == 3

    monkeypatch.setattr(services, "ticket_apply_macro", real)
    bulk_job_run_task(job.pk)  # Celery redelivers the task (acks_late)
    job.refresh_from_db()
    assert (job.state, job.total, job.processed, job.changed, job.unchanged, job.refused) == (
        BulkJobState.DONE,
        10,
        10,
        10,
        0,
        0,
    )
    for ticket in tickets:
        assert replies.filter(ticket=ticket).count() == 1, ticket.reference
    macro.refresh_from_db()
    assert macro.usage_count == 10
    # A finished job run again does nothing at all.
    bulk_job_run_task(job.pk)
    assert replies.count() == 10
    job.refresh_from_db()
    assert job.processed == 10


def test_a_second_runner_of_the_same_job_stops_instead_of_acting_twice(desk, django_capture_on_commit_callbacks):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(
            user=agent, action="priority", params={"priority": "high"}, ticket_ids=[t.pk for t in tickets]
        )
    bulk._start(job.pk)
    job.refresh_from_db()
    plan = bulk._plan(job, agent)
    visible = selectors.tickets_visible_to(agent)
    bulk._step(job.pk, 0, job.ticket_ids[0], plan, visible)
    with pytest.raises(bulk._Superseded):
        bulk._step(job.pk, 0, job.ticket_ids[0], plan, visible)  # a stale runner at the same position
    job.refresh_from_db()
    assert (job.processed, job.changed) == (1, 1)


def test_an_unexpected_error_fails_the_job_and_the_counts_say_what_was_done(
    desk, monkeypatch, django_capture_on_commit_callbacks
):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(
            user=agent, action="priority", params={"priority": "high"}, ticket_ids=[t.pk for t in tickets]
        )
    real = services.ticket_change_priority
    calls = {"n": 0}

    def breaks_on_the_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database hiccup")
        return real(**kwargs)

    monkeypatch.setattr(services, "ticket_change_priority", breaks_on_the_third)
    bulk_job_run_task(job.pk)  # does not raise: the job records the failure
    job.refresh_from_db()
    assert job.state == BulkJobState.FAILED
    assert "RuntimeError: database hiccup" in job.error
    assert (job.processed, job.changed, job.refused) == (2, 2, 0)
    assert job.finished_at is not None
    priorities = dict(Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("pk", "priority"))
    ordered = [priorities[pk] for pk in sorted(priorities)]
    assert ordered == [Priority.HIGH, Priority.HIGH, Priority.NORMAL, Priority.NORMAL, Priority.NORMAL]


def test_failed_job_page_says_how_many_tickets_were_not_touched(client, desk, django_capture_on_commit_callbacks):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(2)]
    macro = Macro.objects.create(name="Gone soon", reply_text="x")
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(
            user=agent, action="macro", params={"macro": str(macro.pk)}, ticket_ids=[t.pk for t in tickets]
        )
    Macro.objects.filter(pk=macro.pk).update(is_active=False)
    bulk_job_run_task(job.pk)
    job.refresh_from_db()
    assert job.state == BulkJobState.FAILED
    assert job.error == "The macro is no longer available to you."
    client.force_login(agent)
    html = client.get(reverse("desk:bulk-job", args=[job.pk])).content.decode()
    assert "The macro is no longer available to you." in html
    assert "2 tickets were not touched" in html


def test_a_job_out_of_time_queues_itself_again_and_continues(desk, monkeypatch, django_capture_on_commit_callbacks):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=False):
        job = bulk.bulk_job_create(
            user=agent, action="priority", params={"priority": "low"}, ticket_ids=[t.pk for t in tickets]
        )
    requeued = []
    monkeypatch.setattr(bulk, "_requeue", requeued.append)
    bulk.bulk_job_run(job.pk, time_budget=0)
    job.refresh_from_db()
    assert (job.state, job.processed, requeued) == (BulkJobState.RUNNING, 1, [job.pk])
    bulk.bulk_job_run(job.pk, time_budget=None)
    job.refresh_from_db()
    assert (job.state, job.processed, job.changed) == (BulkJobState.DONE, 3, 3)


def test_bulk_job_task_is_routed_to_the_default_queue():
    from service_desk.celery import app

    route = app.amqp.router.route({}, "tickets.tasks.bulk_job_run_task")
    assert route["queue"].name == "default"


# --- The bar's helpers ---------------------------------------------------------------------------------


def test_fields_endpoint_offers_what_each_action_needs(client, desk):
    _team, _elsewhere, agent, colleague, _outsider = desk
    Macro.objects.create(name="Shared one", reply_text="x")
    Macro.objects.create(name="Ben's own", reply_text="x", visibility="personal", owner=colleague)
    client.force_login(agent)
    url = reverse("desk:bulk-fields")
    assign = client.get(url, {"action": "assign"}).content.decode()
    assert 'name="assignee"' in assign
    assert "Ben Ott" in assign
    macro = client.get(url, {"action": "macro"}).content.decode()
    assert "Shared one" in macro
    assert "Ben&#x27;s own" not in macro and "Ben's own" not in macro
    status = client.get(url, {"action": "status"}).content.decode()
    assert 'value="new"' not in status
    assert 'value="solved"' in status
    assert client.get(url, {"action": ""}).status_code == 200
    assert client.get(url, {"action": "explode"}).status_code == 400


def test_count_endpoint_refuses_bad_filters(client, desk):
    _team, _elsewhere, agent, _colleague, _outsider = desk
    client.force_login(agent)
    assert client.get(reverse("desk:bulk-count"), {"view": "all", "query": "priority=asap"}).status_code == 400
    assert client.get(reverse("desk:bulk-count"), {"view": "nope", "query": ""}).status_code == 400


def test_list_without_more_pages_does_not_offer_all_matching(client, desk):
    team, _elsewhere, agent, _colleague, _outsider = desk
    factories.ticket(team=team)
    client.force_login(agent)
    html = client.get(reverse("desk:view", args=["all"])).content.decode()
    assert 'id="bulk-form"' in html
    assert 'action="/desk/bulk/"' in html
    assert 'name="all_matching"' not in html


def test_a_job_that_cannot_be_queued_says_so_instead_of_waiting_forever(
    client, desk, monkeypatch, django_capture_on_commit_callbacks
):
    team, _elsewhere, agent, _colleague, _outsider = desk
    ticket = factories.ticket(team=team)

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr(bulk_job_run_task, "delay", broker_down)
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("desk:bulk-create"), {"action": "close", "ticket": [ticket.pk]})
    job = _job_from(response)
    job.refresh_from_db()
    assert job.state == BulkJobState.FAILED
    assert "could not be queued" in job.error
    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW


def test_bulk_form_fields_and_count_pages_have_bounded_query_counts(client, desk, django_assert_max_num_queries):
    team, _elsewhere, agent, _colleague, _outsider = desk
    tickets = [factories.ticket(team=team) for _ in range(5)]
    for i in range(8):
        factories.agent(teams=[team], username=f"extra{i}")
        Macro.objects.create(name=f"Macro {i}", reply_text="x")
    client.force_login(agent)
    client.get(reverse("desk:bulk-fields"), {"action": "assign"})  # session and principal warm
    for action in ("assign", "macro", "team", "tags"):
        with django_assert_max_num_queries(8):
            response = client.get(reverse("desk:bulk-fields"), {"action": action})
        assert response.status_code == 200
        with django_assert_max_num_queries(8):
            response = client.post(reverse("desk:bulk-create"), {"action": action, "ticket": [t.pk for t in tickets]})
        assert response.status_code == 200
    with django_assert_max_num_queries(7):
        response = client.get(reverse("desk:bulk-count"), {"view": "all", "query": "priority=normal"})
    assert "Select all 5 tickets" in response.content.decode()


@pytest.mark.django_db
def test_a_lost_job_is_queued_again_by_the_sweep_and_finishes_once():
    """A job whose task never ran (broker emptied) is picked up by the beat sweep and applied once."""
    from datetime import timedelta

    from django.utils import timezone

    team = factories.team("Sweep")
    agent = factories.agent(teams=[team])
    tickets = [factories.ticket(team=team) for _ in range(3)]
    job = BulkJob.objects.create(
        created_by=agent, action="priority", params={"priority": "high"}, ticket_ids=[t.pk for t in tickets], total=3
    )
    # Fresh: left alone.
    assert bulk.bulk_jobs_requeue_stalled() == 0
    BulkJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    assert bulk.bulk_jobs_requeue_stalled() == 1  # eager Celery in tests: runs now
    job.refresh_from_db()
    assert (job.state, job.processed, job.changed) == (BulkJobState.DONE, 3, 3)
    assert bulk.bulk_jobs_requeue_stalled() == 0
