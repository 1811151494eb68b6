"""Satisfaction surveys: asked once per solve, answered by link or in the portal, counted in the reports."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.choices import AgentRole
from service_desk import branding
from tests import factories
from tickets import csat, events, reports
from tickets.choices import EventAction, Status
from tickets.models import SatisfactionSurvey, TicketEvent
from tickets.services import Actor, PermissionDenied, ticket_change_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_brand():
    branding.forget()
    yield
    branding.forget()


@pytest.fixture
def desk():
    support = factories.team("Support")
    billing = factories.team("Billing")
    ana = factories.agent(teams=[support], username="ana", first_name="Ana", last_name="Agent")
    ben = factories.agent(teams=[billing], username="ben", first_name="Ben", last_name="Billing")
    boss = factories.agent(role=AgentRole.ADMIN, username="boss")
    acme = factories.organization("Acme", domains=("acme.example",))
    alice = factories.contact(email="alice@acme.example", name="Alice", organization=acme)
    colleague = factories.contact(
        email="bob@acme.example", name="Bob", organization=acme, can_see_organization_tickets=True
    )
    carol = factories.contact(email="carol@consumer.example", name="Carol")
    ticket = factories.ticket(requester=carol, subject="Printer on fire", team=support, assignee=ana)
    acme_ticket = factories.ticket(requester=alice, subject="VPN down", team=billing, assignee=ben)
    return {
        "support": support,
        "billing": billing,
        "ana": ana,
        "ben": ben,
        "boss": boss,
        "acme": acme,
        "alice": alice,
        "bob": colleague,
        "carol": carol,
        "carol_user": factories.customer_user(carol, "carol"),
        "alice_user": factories.customer_user(alice, "alice"),
        "bob_user": factories.customer_user(colleague, "bob"),
        "ticket": ticket,
        "acme_ticket": acme_ticket,
    }


def solve(ticket, agent, capture):
    """Solve through the service and publish, running what the handlers queue after commit."""
    ticket_change_status(ticket=ticket, by=Actor.agent(agent), status=Status.SOLVED)
    with capture(execute=True):
        events.publish_all()
    ticket.refresh_from_db()
    return ticket


def links_in(message) -> dict[str, str]:
    found = re.findall(r"https?://\S+/portal/rate/[^\s?]+/\?rating=(?:good|bad)", message.body)
    return {url.rsplit("=", 1)[1]: url for url in found}


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


# --- Asking: one survey per solve ---------------------------------------------------------------------


def test_solving_asks_the_requester_once_with_good_and_bad_links(desk, django_capture_on_commit_callbacks):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get(ticket=ticket)
    assert survey.solve_number == 1
    assert (survey.contact_id, survey.agent_id, survey.team_id) == (
        desk["carol"].pk,
        desk["ana"].pk,
        desk["support"].pk,
    )
    assert survey.organization_id is None and survey.rating == "" and survey.sent_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["carol@consumer.example"]
    assert ticket.reference in message.subject and "Printer on fire" in message.subject
    links = links_in(message)
    assert set(links) == {"good", "bad"}
    assert links["good"].startswith("http") and "rating=good" in links["good"]
    html = message.alternatives[0][0]
    assert links["good"] in html and links["bad"] in html


def test_repeated_delivery_of_the_solve_event_asks_once(desk, django_capture_on_commit_callbacks):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    event = TicketEvent.objects.get(ticket=desk["ticket"], action=EventAction.STATUS, new_value=Status.SOLVED)
    # At-least-once delivery: the same event handed over again (published_at reset, then the handler directly).
    TicketEvent.objects.filter(pk=event.pk).update(published_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_all()
        csat.survey_on_solve(TicketEvent.objects.select_related("ticket").get(pk=event.pk))
    assert SatisfactionSurvey.objects.filter(ticket=desk["ticket"]).count() == 1
    assert len(mail.outbox) == 1
    # A repeated email task sends nothing either.
    assert csat.survey_send_email(SatisfactionSurvey.objects.get().pk) is False
    assert len(mail.outbox) == 1


def test_reopen_and_solve_again_asks_again(desk, django_capture_on_commit_callbacks):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    ticket_change_status(ticket=ticket, by=Actor.agent(desk["ana"]), status=Status.OPEN)
    solve(ticket, desk["ana"], django_capture_on_commit_callbacks)
    assert list(
        SatisfactionSurvey.objects.filter(ticket=ticket).order_by("solve_number").values_list("solve_number", flat=True)
    ) == [1, 2]
    assert len(mail.outbox) == 2


def test_closing_without_solving_or_with_csat_off_asks_nothing(desk, django_capture_on_commit_callbacks):
    ticket_change_status(ticket=desk["acme_ticket"], by=Actor.agent(desk["ben"]), status=Status.CLOSED)
    row = branding.desk_settings()
    row.csat_enabled = False
    branding.desk_settings_save(row)
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    assert not SatisfactionSurvey.objects.exists()
    assert mail.outbox == []


def test_a_customer_without_email_gets_no_email_but_a_survey(desk, django_capture_on_commit_callbacks):
    nomail = account_services.contact_create(name="No Mail")
    ticket = factories.ticket(requester=nomail, subject="Call me", team=desk["support"])
    solve(ticket, desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get(ticket=ticket)
    assert survey.sent_at is None and survey.agent_id == desk["ana"].pk  # the solver, as nobody was assigned
    assert mail.outbox == []


def test_the_catch_up_sends_emails_whose_task_was_lost(desk):
    ticket_change_status(ticket=desk["ticket"], by=Actor.agent(desk["ana"]), status=Status.SOLVED)
    events.publish_all()  # outside an on-commit capture: the queued task never runs
    survey = SatisfactionSurvey.objects.get()
    assert survey.sent_at is None and mail.outbox == []
    assert csat.surveys_send_pending(now=timezone.now() + timedelta(minutes=1)) == 0  # within the grace
    assert csat.surveys_send_pending(now=timezone.now() + timedelta(minutes=5)) == 1
    assert csat.surveys_send_pending(now=timezone.now() + timedelta(minutes=6)) == 0
    assert len(mail.outbox) == 1


# --- The link ------------------------------------------------------------------------------------


def test_the_email_link_rates_without_signing_in_and_writes_a_timeline_event(
    desk, client, django_capture_on_commit_callbacks
):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    url = path_of(links_in(mail.outbox[0])["bad"])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert ticket.reference in html and "Printer on fire" in html
    assert 'value="bad" checked' in html.replace("\n", " ") or re.search(r'value="bad"[^>]*checked', html)
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()  # a GET records nothing

    response = client.post(url.split("?")[0], {"rating": "bad", "comment": "Took a week."})
    assert response.status_code == 302
    survey = SatisfactionSurvey.objects.get()
    assert (survey.rating, survey.comment) == ("bad", "Took a week.") and survey.answered_at is not None
    event = TicketEvent.objects.get(ticket=ticket, action=EventAction.CSAT)
    assert (event.field, event.old_value, event.new_value) == ("rating", "", "bad")
    assert event.actor_contact_id == desk["carol"].pk and event.channel == "portal"

    # Changing the answer while the ticket stays solved: the latest counts, one more event.
    assert client.post(url.split("?")[0], {"rating": "good", "comment": "Sorted now."}).status_code == 302
    survey.refresh_from_db()
    assert survey.rating == "good"
    assert list(
        TicketEvent.objects.filter(ticket=ticket, action=EventAction.CSAT).values_list("old_value", "new_value")
    ) == [("", "bad"), ("bad", "good")]
    thanks = client.get(url.split("?")[0] + "?saved=1").content.decode()
    assert "Thank you" in thanks


def test_a_bad_form_is_a_400_with_the_reason(desk, client, django_capture_on_commit_callbacks):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    url = path_of(links_in(mail.outbox[0])["good"]).split("?")[0]
    response = client.post(url, {"rating": "meh"})
    assert response.status_code == 400
    assert "Choose good or bad." in response.content.decode()
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


@pytest.mark.parametrize(
    ("mangle", "status", "text"),
    [
        (lambda token: token[:-3] + ("abc" if not token.endswith("abc") else "xyz"), 400, "not valid"),
        (lambda token: "garbage", 400, "not valid"),
        (lambda token: token.replace(":", "", 1), 400, "not valid"),
    ],
    ids=["tampered-signature", "garbage", "broken"],
)
def test_tampered_links_are_refused_cleanly(desk, client, django_capture_on_commit_callbacks, mangle, status, text):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get()
    response = client.get(reverse("portal:csat", args=[mangle(csat.survey_token(survey))]))
    assert response.status_code == status
    assert text in response.content.decode()


def test_a_token_for_another_survey_or_another_salt_is_refused(desk, client, django_capture_on_commit_callbacks):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get()
    # Signed with the right key but naming a survey of somebody else (id and contact do not match).
    foreign = signing.dumps({"s": survey.pk, "c": desk["alice"].pk}, salt=csat.TOKEN_SALT)
    assert client.get(reverse("portal:csat", args=[foreign])).status_code == 404
    missing = signing.dumps({"s": survey.pk + 1000, "c": desk["carol"].pk}, salt=csat.TOKEN_SALT)
    assert client.get(reverse("portal:csat", args=[missing])).status_code == 404
    # A token made for something else (another salt) does not open a survey.
    other = signing.dumps({"s": survey.pk, "c": desk["carol"].pk}, salt="portal.verify_email")
    assert client.get(reverse("portal:csat", args=[other])).status_code == 400
    assert client.post(reverse("portal:csat", args=[other]), {"rating": "good"}).status_code == 400
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


def test_an_expired_link_says_so(desk, client, django_capture_on_commit_callbacks, monkeypatch):
    import time

    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get()
    now = time.time()
    with monkeypatch.context() as patch:  # a link sent 31 days ago
        patch.setattr(signing.time, "time", lambda: now - 31 * 86400)
        token = csat.survey_token(survey)
    response = client.get(reverse("portal:csat", args=[token]))
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert client.post(reverse("portal:csat", args=[token]), {"rating": "good"}).status_code == 400
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


def test_a_link_of_a_reopened_ticket_is_refused_with_a_reason(desk, client, django_capture_on_commit_callbacks):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    url = path_of(links_in(mail.outbox[0])["good"]).split("?")[0]
    ticket_change_status(ticket=ticket, by=Actor.agent(desk["ana"]), status=Status.OPEN)
    for response in (client.get(url), client.post(url, {"rating": "good"})):
        assert response.status_code == 409
        assert "reopened" in response.content.decode()
    # Solved again: the old link stays refused (a new survey is asked for the new solve).
    solve(ticket, desk["ana"], django_capture_on_commit_callbacks)
    assert client.get(url).status_code == 409
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


def test_only_the_asked_customer_answers_through_the_service(desk, django_capture_on_commit_callbacks):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    survey = SatisfactionSurvey.objects.get()
    with pytest.raises(PermissionDenied):
        csat.survey_answer(survey=survey, rating="good", by=Actor.agent(desk["ana"]))
    with pytest.raises(PermissionDenied):
        csat.survey_answer(survey=survey, rating="good", by=Actor.customer(desk["alice"], "portal"))


# --- The portal ticket page --------------------------------------------------------------------------


def test_the_requester_rates_from_the_portal(desk, django_capture_on_commit_callbacks):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(desk["carol_user"])
    url = reverse("portal:csat_ticket", args=[ticket.reference])
    form = client.get(url)
    assert form.status_code == 200 and "How did we do?" in form.content.decode()
    response = client.post(url, {"rating": "good", "comment": "Quick!"})
    assert response.status_code == 302
    assert SatisfactionSurvey.objects.get().rating == "good"
    assert TicketEvent.objects.filter(ticket=ticket, action=EventAction.CSAT, new_value="good").count() == 1


def test_the_include_shows_the_form_only_to_the_requester_of_a_solved_ticket(
    desk, rf, django_capture_on_commit_callbacks
):
    from django.template.loader import render_to_string

    def render_for(user, ticket):
        request = rf.get("/portal/")
        request.user = user
        return render_to_string("portal/csat/_ticket_rating.html", {"ticket": ticket}, request=request)

    ticket = desk["acme_ticket"]
    assert "csat-rating" not in render_for(desk["alice_user"], ticket)  # not solved yet
    solve(ticket, desk["ben"], django_capture_on_commit_callbacks)
    html = render_for(desk["alice_user"], ticket)
    assert "csat-rating" in html and reverse("portal:csat_ticket", args=[ticket.reference]) in html
    assert "csat-rating" not in render_for(desk["bob_user"], ticket)  # a colleague sees the ticket, not the survey


def test_rating_in_the_portal_is_scoped(desk, django_capture_on_commit_callbacks):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    acme = solve(desk["acme_ticket"], desk["ben"], django_capture_on_commit_callbacks)
    carol_url = reverse("portal:csat_ticket", args=[desk["ticket"].reference])
    acme_url = reverse("portal:csat_ticket", args=[acme.reference])
    alice, bob, carol = Client(), Client(), Client()
    alice.force_login(desk["alice_user"])
    bob.force_login(desk["bob_user"])
    carol.force_login(desk["carol_user"])
    # Another customer's ticket: not found, GET or POST.
    assert alice.get(carol_url).status_code == 404
    assert alice.post(carol_url, {"rating": "bad"}).status_code == 404
    assert carol.post(acme_url, {"rating": "bad"}).status_code == 404
    # A colleague who may see the organization's tickets still cannot answer the requester's survey.
    assert bob.post(acme_url, {"rating": "bad"}).status_code == 404
    # Agents are not customers; anonymous visitors are sent to sign in.
    agent = Client()
    agent.force_login(desk["ana"])
    assert agent.post(carol_url, {"rating": "bad"}).status_code == 404
    assert Client().post(carol_url, {"rating": "bad"}).status_code == 302
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


def test_a_reopened_ticket_cannot_be_rated_in_the_portal(desk, django_capture_on_commit_callbacks):
    ticket = solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    ticket_change_status(ticket=ticket, by=Actor.agent(desk["ana"]), status=Status.OPEN)
    client = Client()
    client.force_login(desk["carol_user"])
    url = reverse("portal:csat_ticket", args=[ticket.reference])
    assert client.get(url).status_code == 404
    assert client.post(url, {"rating": "good"}).status_code == 302
    assert not SatisfactionSurvey.objects.exclude(rating="").exists()


# --- Reports ------------------------------------------------------------------------------------------


def answer(survey_ticket, contact, rating):
    survey = SatisfactionSurvey.objects.filter(ticket=survey_ticket).order_by("-solve_number").first()
    return csat.survey_answer(survey=survey, rating=rating, by=Actor.customer(contact, "portal"))


@pytest.fixture
def rated(desk, django_capture_on_commit_callbacks):
    """Carol (Support, Ana) good; Alice of Acme (Billing, Ben) bad, then another Acme ticket good."""
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    answer(desk["ticket"], desk["carol"], "good")
    solve(desk["acme_ticket"], desk["ben"], django_capture_on_commit_callbacks)
    answer(desk["acme_ticket"], desk["alice"], "bad")
    second = factories.ticket(requester=desk["alice"], subject="Laptop", team=desk["billing"], assignee=desk["ben"])
    solve(second, desk["ben"], django_capture_on_commit_callbacks)
    answer(second, desk["alice"], "good")
    return desk


def test_figures_by_agent_and_team_are_scoped_to_the_viewer(rated, django_assert_num_queries):
    desk = rated
    with django_assert_num_queries(3):  # the principal (user, agent profile + teams) and one aggregate
        everything = csat.csat_by_agent_and_team(desk["boss"])
    assert (everything["good"], everything["bad"], everything["score"]) == (2, 1, 66.7)
    by_agent = {row["name"]: (row["good"], row["bad"], row["score"]) for row in everything["agents"]}
    assert by_agent == {"Ana Agent": (1, 0, 100.0), "Ben Billing": (1, 1, 50.0)}
    by_team = {row["name"]: (row["good"], row["bad"]) for row in everything["teams"]}
    assert by_team == {"Billing": (1, 1), "Support": (1, 0)}
    # Ana sees her team's tickets only.
    ana = csat.csat_by_agent_and_team(desk["ana"])
    assert [(row["name"], row["good"], row["bad"]) for row in ana["agents"]] == [("Ana Agent", 1, 0)]
    # The period: nothing answered before last week counts for a window that starts tomorrow.
    later = timezone.now() + timedelta(days=1)
    assert csat.csat_by_agent_and_team(desk["boss"], since=later)["total"] == 0


def test_organization_and_customer_figures(rated, django_assert_num_queries):
    desk = rated
    figure = csat.organization_csat(desk["boss"], desk["acme"].pk)
    assert (figure.good, figure.bad, figure.total, figure.score) == (1, 1, 2, 50.0)
    assert csat.organization_csat(desk["ana"], desk["acme"].pk).total == 0  # Billing's tickets: not Ana's
    csat.contact_recent_ratings(desk["boss"], desk["alice"].pk)  # warm the principal
    with django_assert_num_queries(1):
        recent = csat.contact_recent_ratings(desk["boss"], desk["alice"].pk)
        assert [s.rating for s in recent] == ["good", "bad"]
        assert recent[0].ticket.subject == "Laptop"


def test_dashboard_shows_csat_by_agent_and_team_in_one_more_query(rated, client, django_assert_max_num_queries):
    desk = rated
    from django.core.cache import cache

    cache.clear()
    client.force_login(desk["boss"])
    # session, user, profile, teams; intake, backlog, SLA, first response, escalations, CSAT; the brand (cold cache)
    with django_assert_max_num_queries(11):
        response = client.get(reverse("desk:dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="csat"' in html and "66.7 %" in html
    assert "Ana Agent" in html and "Ben Billing" in html and "Billing" in html
    figures = reports.dashboard_figures(desk["ana"], use_cache=False)
    assert figures["csat"]["total"] == 1


def test_organization_page_and_customer_sidebar_show_ratings(
    rated, client, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    desk = rated
    client.force_login(desk["boss"])
    with django_assert_max_num_queries(21):
        page = client.get(reverse("desk:organization", args=[desk["acme"].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="csat-score">50 %' in html and "1 good, 1 bad" in html
    for n in range(5):
        extra = factories.ticket(requester=desk["carol"], subject=f"More {n}", team=desk["support"])
        solve(extra, desk["ana"], django_capture_on_commit_callbacks)
        answer(extra, desk["carol"], "bad")
    with django_assert_max_num_queries(11):
        sidebar = client.get(reverse("desk:ticket-sidebar", args=[desk["ticket"].reference]), HTTP_HX_REQUEST="true")
    text = sidebar.content.decode()
    assert 'data-testid="csat-ratings"' in text
    assert text.count("cs-ratings") == 1 and text.count('class="badge') >= csat.RECENT_RATINGS


def test_the_portal_ticket_page_shows_the_rating_form_once_solved(desk, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(desk["carol_user"])
    url = reverse("portal:ticket", args=[desk["ticket"].reference])
    assert 'data-testid="csat-rating"' not in client.get(url).content.decode()
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    page = client.get(url)
    assert page.status_code == 200
    assert 'data-testid="csat-rating"' in page.content.decode()
    response = client.post(reverse("portal:csat_ticket", args=[desk["ticket"].reference]), {"rating": "good"})
    assert response.status_code == 302 and response["Location"] == url
    assert "Thank you for your rating." in client.get(url).content.decode()


def test_the_rating_page_is_cheap(desk, client, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    solve(desk["ticket"], desk["ana"], django_capture_on_commit_callbacks)
    url = path_of(links_in(mail.outbox[0])["good"])
    client.get(url)  # the brand is cached from here on
    with django_assert_max_num_queries(1):  # the survey with its ticket and contact
        assert client.get(url).status_code == 200
    # Posting: survey, ticket lock, survey lock, update, event; then the page again.
    with django_assert_max_num_queries(8):
        assert client.post(url.split("?")[0], {"rating": "good"}).status_code == 302
