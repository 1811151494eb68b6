"""Customer satisfaction (CSAT): surveys on solve, the signed rating link, answers and the reports.

- **Asking.** :func:`survey_on_solve` is subscribed to ``status`` events. A change *to solved*
  (not to closed: closing unsolved, merges and spam ask nothing) creates one
  :class:`SatisfactionSurvey` for the requester when ``DeskSettings.csat_enabled``. Its
  ``solve_number`` is the number of solved transitions up to that event, so a repeated delivery
  finds the same row (unique per ticket and solve) and a reopen + solve asks again. Who worked the
  ticket (assignee, else the solving agent), its team and organization are kept on the survey.
- **Email.** A requester with an address gets one email (``send_survey_email_task`` after the
  publishing transaction commits), sent under the survey's row lock and marked ``sent_at`` in the
  same transaction, so a repeated task sends nothing. It links to the rating page with a signed
  token (salted, 30 days) carrying the survey id, once plain and once with "good" / "bad"
  preselected. A link only pre-fills the form: mail scanners that follow links record nothing.
- **Answering.** :func:`survey_answer` records good or bad and a comment while the solve stands
  (``tickets.domain.csat.survey_open``): the ticket is solved, or closed after that solve. The
  customer may change the answer meanwhile; the latest counts and each answer is a ``csat`` event
  on the ticket's timeline, written in the same transaction.
- **Reports.** :func:`csat_by_agent_and_team`, :func:`organization_csat` and
  :func:`contact_recent_ratings` count answers over the tickets the viewing agent may see, one
  query each.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.domain.permissions import ticket_scope
from accounts.models import ContactEmail
from accounts.selectors import UserLike, principal_for
from service_desk.branding import brand, from_address
from tickets.choices import EventAction, SatisfactionRating, Status
from tickets.domain import csat as rules
from tickets.events import subscribe
from tickets.models import SatisfactionSurvey, Ticket, TicketEvent
from tickets.services import Actor, PermissionDenied, TicketError, _event, _lock, _publish_after_commit

logger = logging.getLogger(__name__)

TOKEN_SALT = "tickets.csat.survey"  # noqa: S105 - a signing salt, not a secret
TOKEN_MAX_AGE = timedelta(days=30)
# The catch-up sends emails whose task was lost for surveys of the last PENDING_WINDOW.
PENDING_WINDOW = timedelta(days=2)
PENDING_GRACE = timedelta(minutes=2)
RECENT_RATINGS = 5


class SurveyClosed(TicketError):
    """The survey's solve no longer stands (the ticket was reopened): nothing was recorded."""


class SurveyLinkInvalid(Exception):
    """A rating link that was tampered with, has expired, or names no survey."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # "invalid", "expired" or "unknown"
        super().__init__(reason)


# --- Asking: one survey per solve -------------------------------------------------------------------


@subscribe(EventAction.STATUS)
def survey_on_solve(event: TicketEvent) -> None:
    """A ticket was solved: ask its requester (once per solve, whatever the number of deliveries)."""
    if event.new_value != Status.SOLVED or not brand().csat_enabled:
        return
    ticket: Ticket = event.ticket
    if ticket.merged_into_id or not rules.survey_open(
        ticket_status=ticket.status, ticket_solved_at=ticket.solved_at, asked_at=event.created_at
    ):
        return  # delivered after the ticket was reopened (or merged): that solve no longer stands
    solve_number = TicketEvent.objects.filter(
        ticket_id=ticket.pk, action=EventAction.STATUS, new_value=Status.SOLVED, id__lte=event.pk
    ).count()
    solver = event.actor_id if event.actor_id and event.actor_contact_id is None else None
    survey, _created = SatisfactionSurvey.objects.get_or_create(
        ticket_id=ticket.pk,
        solve_number=solve_number,
        defaults={
            "contact_id": ticket.requester_id,
            "agent_id": ticket.assignee_id or solver,
            "team_id": ticket.team_id,
            "organization_id": ticket.organization_id,
            "created_at": event.created_at,
        },
    )
    if survey.sent_at is None and not survey.rating:
        survey_id = survey.pk
        # Queued only if the publishing batch commits; the task itself sends at most once.
        transaction.on_commit(lambda: _queue_email(survey_id))


def _queue_email(survey_id: int) -> None:
    from tickets.tasks import send_survey_email_task

    try:
        send_survey_email_task.delay(survey_id)
    except Exception:  # the broker is down: the beat catch-up sends it
        logger.warning("Could not queue the survey email for %s; the catch-up will send it.", survey_id, exc_info=True)


def _primary_email(contact_id: int) -> str:
    return (
        ContactEmail.objects.filter(contact_id=contact_id)
        .order_by("-is_primary", "id")
        .values_list("email", flat=True)
        .first()
        or ""
    )


def survey_is_open(survey: SatisfactionSurvey, ticket: Ticket | None = None) -> bool:
    ticket = ticket or survey.ticket
    return rules.survey_open(ticket_status=ticket.status, ticket_solved_at=ticket.solved_at, asked_at=survey.created_at)


# --- The signed link -----------------------------------------------------------------------------


def survey_token(survey: SatisfactionSurvey) -> str:
    """A signed, timestamped token naming exactly this survey (and its contact)."""
    return signing.dumps({"s": survey.pk, "c": survey.contact_id}, salt=TOKEN_SALT, compress=False)


def survey_from_token(token: str, *, max_age: timedelta | None = None) -> SatisfactionSurvey:
    """The survey a token names; :class:`SurveyLinkInvalid` for a bad, expired or unknown one."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=max_age or TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise SurveyLinkInvalid("expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise SurveyLinkInvalid("invalid") from exc
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("c"), int):
        raise SurveyLinkInvalid("invalid")
    survey = (
        SatisfactionSurvey.objects.select_related("ticket", "contact")
        .filter(pk=data["s"], contact_id=data["c"])
        .first()
    )
    if survey is None:
        raise SurveyLinkInvalid("unknown")
    return survey


def survey_links(survey: SatisfactionSurvey) -> dict[str, str]:
    """Absolute links to the rating page: plain, and with good or bad preselected."""
    url = settings.SITE_URL.rstrip("/") + reverse("portal:csat", args=[survey_token(survey)])
    return {"url": url, "good": f"{url}?rating=good", "bad": f"{url}?rating=bad"}


# --- The email -------------------------------------------------------------------------------------


def survey_send_email(survey_id: int) -> bool:
    """Email the survey's requester once; True if this call sent it.

    The row is locked (SKIP LOCKED: a concurrent sender moves on), checked again (not sent, not
    answered, the solve still stands, an address) and marked sent in the same transaction. An SMTP
    error rolls back and propagates (``OSError``: the task retries with backoff).
    """
    with transaction.atomic():
        qs = SatisfactionSurvey.objects.filter(pk=survey_id, sent_at__isnull=True, rating="").select_related(
            "ticket", "contact"
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        survey = qs.first()
        if survey is None or not survey_is_open(survey):
            return False
        address = _primary_email(survey.contact_id)
        if not address:
            return False  # no email: the customer can still rate in the portal
        _send_email(survey, address)
        survey.sent_at = timezone.now()
        survey.save(update_fields=["sent_at"])
    return True


def _send_email(survey: SatisfactionSurvey, address: str) -> None:
    ticket = survey.ticket
    current = brand()
    with translation.override(survey.contact.language or settings.LANGUAGE_CODE):
        context = {
            "survey": survey,
            "ticket": ticket,
            "reference": ticket.reference,
            "contact": survey.contact,
            "links": survey_links(survey),
            "brand": current,
            "desk_name": current.name,
            "valid_days": TOKEN_MAX_AGE.days,
        }
        subject = " ".join(render_to_string("emails/csat_request.subject.txt", context).split())
        body = render_to_string("emails/csat_request.txt", context)
        html = render_to_string("emails/csat_request.html", context)
    message = EmailMultiAlternatives(subject, body, from_address(), [address])
    message.attach_alternative(html, "text/html")
    message.extra_headers = {
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-Service-Desk-Ticket": ticket.reference,
        "X-Service-Desk-Survey": str(survey.pk),
    }
    message.send(fail_silently=False)


def surveys_send_pending(*, now: datetime | None = None, limit: int = 200) -> int:
    """Beat catch-up: send the emails whose task was lost (broker down), for recent open surveys."""
    moment = now or timezone.now()
    has_email = Exists(ContactEmail.objects.filter(contact_id=OuterRef("contact_id")))
    ids = list(
        SatisfactionSurvey.objects.filter(
            has_email,
            sent_at__isnull=True,
            rating="",
            created_at__gte=moment - PENDING_WINDOW,
            created_at__lte=moment - PENDING_GRACE,
            ticket__status__in=(Status.SOLVED, Status.CLOSED),
        )
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for survey_id in ids:
        try:
            sent += survey_send_email(survey_id)
        except OSError:
            logger.warning("Survey email %s failed; tried again on the next catch-up.", survey_id, exc_info=True)
    return sent


# --- Answering -----------------------------------------------------------------------------------


@transaction.atomic
def survey_answer(*, survey: SatisfactionSurvey, rating: str, comment: str = "", by: Actor) -> SatisfactionSurvey:
    """Record the requester's answer (good or bad, and a comment) and a ``csat`` timeline event.

    Only the survey's own contact answers (``PermissionDenied`` otherwise). The ticket row is locked
    first, so a reopen and an answer never cross: a survey whose solve no longer stands raises
    :class:`SurveyClosed`. Answering again changes the answer (the latest counts); the same answer
    again writes nothing.
    """
    if not by.is_customer or by.contact is None or by.contact.pk != survey.contact_id:
        raise PermissionDenied("Only the customer who was asked can answer this survey.")
    try:
        rating = rules.clean_rating(rating)
    except ValueError as exc:
        raise TicketError(str(exc), field="rating") from exc
    try:
        comment = rules.clean_comment(comment)
    except ValueError as exc:
        raise TicketError(str(exc), field="comment") from exc
    ticket = _lock(survey.ticket_id)
    survey = SatisfactionSurvey.objects.select_for_update().get(pk=survey.pk)
    if not survey_is_open(survey, ticket):
        raise SurveyClosed(f"{ticket.reference} was reopened since this survey was sent; it can no longer be rated.")
    if survey.rating == rating and survey.comment == comment:
        survey.ticket = ticket
        return survey
    previous = survey.rating
    at = timezone.now()
    survey.rating, survey.comment, survey.answered_at = rating, comment, at
    survey.save(update_fields=["rating", "comment", "answered_at"])
    _event(ticket, by, EventAction.CSAT, field="rating", old=previous, new=rating, at=at).save()
    _publish_after_commit()
    survey.ticket = ticket
    return survey


# --- Reads for the portal -------------------------------------------------------------------------


def survey_for_customer(user: UserLike, ticket: Ticket) -> SatisfactionSurvey | None:
    """The survey the signed-in customer may answer on this ticket's page, or None (one query).

    The latest survey of the ticket, asked of this customer, whose solve still stands. The caller
    has read ``ticket`` through the scoped selectors.
    """
    principal = principal_for(user)
    contact_id = principal.contact_id
    if not contact_id or ticket.requester_id != contact_id:
        return None
    if ticket.status not in (Status.SOLVED, Status.CLOSED) or ticket.solved_at is None:
        return None
    survey = (
        SatisfactionSurvey.objects.filter(ticket_id=ticket.pk, contact_id=contact_id).order_by("-solve_number").first()
    )
    if survey is None or not survey_is_open(survey, ticket):
        return None
    return survey


# --- Reports (agents) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsatFigure:
    good: int
    bad: int

    @property
    def total(self) -> int:
        return self.good + self.bad

    @property
    def score(self) -> float | None:
        return rules.score(self.good, self.bad)


def surveys_visible_to(user: UserLike) -> QuerySet[SatisfactionSurvey]:
    """Surveys of the tickets ``user`` may see (agents: their scope; customers: their tickets)."""
    from tickets.selectors import _scope_q

    condition = _scope_q(ticket_scope(principal_for(user)), prefix="ticket__")
    if condition is None:
        return SatisfactionSurvey.objects.none()
    return SatisfactionSurvey.objects.filter(condition)


def _answered(user: UserLike, since: datetime | None, until: datetime | None) -> QuerySet[SatisfactionSurvey]:
    qs = surveys_visible_to(user).exclude(rating="")
    if since is not None:
        qs = qs.filter(answered_at__gte=since)
    if until is not None:
        qs = qs.filter(answered_at__lte=until)
    return qs


_GOOD = Count("id", filter=Q(rating=SatisfactionRating.GOOD))
_BAD = Count("id", filter=Q(rating=SatisfactionRating.BAD))


def csat_by_agent_and_team(
    user: UserLike, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Answers in the period by agent and by team (as kept on each survey), and in all. One query:
    grouped by (agent, team), then summed both ways here."""
    rows = (
        _answered(user, since, until)
        .values("agent_id", "agent__username", "agent__first_name", "agent__last_name", "team_id", "team__name")
        .annotate(good=_GOOD, bad=_BAD)
        .order_by()
    )
    agents: dict[int | None, dict[str, Any]] = {}
    teams: dict[int | None, dict[str, Any]] = {}
    counts: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        agent_name = " ".join(filter(None, [row["agent__first_name"], row["agent__last_name"]])) or (
            row["agent__username"] or ""
        )
        agents.setdefault(row["agent_id"], {"id": row["agent_id"], "name": agent_name})
        teams.setdefault(row["team_id"], {"id": row["team_id"], "name": row["team__name"] or ""})
        for key in (("agent", row["agent_id"]), ("team", row["team_id"])):
            counts[key][0] += row["good"]
            counts[key][1] += row["bad"]

    def listed(kind: str, entries: dict[int | None, dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for pk, entry in entries.items():
            good, bad = counts[(kind, pk)]
            out.append({**entry, "good": good, "bad": bad, "total": good + bad, "score": rules.score(good, bad)})
        # Named rows by name, the unnamed ("no agent", "no team") last.
        return sorted(out, key=lambda e: (e["id"] is None, e["name"].lower(), e["id"] or 0))

    by_agent = listed("agent", agents)
    good = sum(a["good"] for a in by_agent)
    bad = sum(a["bad"] for a in by_agent)
    return {
        "agents": by_agent,
        "teams": listed("team", teams),
        "good": good,
        "bad": bad,
        "total": good + bad,
        "score": rules.score(good, bad),
    }


def organization_csat(
    user: UserLike, organization_id: int, *, since: datetime | None = None, until: datetime | None = None
) -> CsatFigure:
    """The organization's answers in the period (as kept on each survey) over visible tickets. One query."""
    row = _answered(user, since, until).filter(organization_id=organization_id).aggregate(good=_GOOD, bad=_BAD)
    return CsatFigure(good=row["good"] or 0, bad=row["bad"] or 0)


def contact_recent_ratings(user: UserLike, contact_id: int, *, limit: int = RECENT_RATINGS) -> list[SatisfactionSurvey]:
    """This requester's latest answers on tickets ``user`` may see, newest first. One query."""
    return list(
        _answered(user, None, None)
        .filter(contact_id=contact_id)
        .select_related("ticket")
        .order_by("-answered_at", "-id")[:limit]
    )
