"""Bulk jobs: one change applied to many tickets in the background, with progress and an honest summary.

``bulk_job_create`` checks the request (action, parameters, selection) before anything exists: bad
input raises :class:`~tickets.services.TicketError` and no job is made. It then saves a
:class:`~tickets.models.BulkJob` and queues ``bulk_job_run_task`` once the transaction commits.

``bulk_job_run`` (the task) applies the action one ticket at a time through ``tickets.services``:

- The selection is fixed when the job starts. A list's "all that match" is resolved with the list's
  own code (``selectors.tickets_in_view`` / ``tickets_visible_to`` and ``TicketFilterSet``, scoped to
  the job's creator) into ticket ids, in id order, stored on the job. A job that assigns all of
  "Unassigned" therefore acts on exactly the tickets the list showed, although they leave the view
  as it runs.
- Each ticket is its own transaction, and the job's counters are written in that same transaction:
  a ticket counts as changed, unchanged (already so) or refused (with the reason) exactly when its
  change commits. One refusal never rolls back another ticket.
- So a re-run is safe: a job interrupted by a dead worker (Celery redelivers it) continues after the
  last ticket it committed; nothing is applied twice, not even a macro's reply. The job row is
  locked per ticket, so two runners of the same job never both act on a ticket.
- An unexpected error ends the job FAILED with the error; the counters say exactly what was done
  before it. A job that runs out of its time budget queues itself again and continues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.models import Team
from tickets import selectors, services
from tickets.choices import Priority, Status
from tickets.domain import queues
from tickets.filtersets import TicketFilterSet
from tickets.models import BulkAction, BulkJob, BulkJobState, Macro, Tag, Ticket

logger = logging.getLogger(__name__)

# The most tickets one job acts on; a larger "all that match" is refused with a hint to narrow it.
MAX_TICKETS = 5000
# Refusals listed on the job (the counters always count all of them).
MAX_REFUSALS = 500
# A run stops after this long and queues itself again (below the 240 s soft time limit).
TIME_BUDGET_SECONDS = 180.0
# Query parameters of a list that are not filters (as in the list view).
NON_FILTER_PARAMS = ("sort", "cursor", "view")

# The form fields each action reads; an action not listed here reads none.
PARAM_FIELDS: dict[str, tuple[str, ...]] = {
    BulkAction.ASSIGN: ("assignee",),
    BulkAction.STATUS: ("status",),
    BulkAction.PRIORITY: ("priority",),
    BulkAction.TEAM: ("team",),
    BulkAction.TAGS: ("add_tags", "remove_tags"),
    BulkAction.MACRO: ("macro",),
    BulkAction.MERGE: ("target",),
    BulkAction.CLOSE: (),
}
ALL_PARAM_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for fields in PARAM_FIELDS.values() for f in fields))

NOT_FOUND = "Not found, or not yours to change."


class Outcome:
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


# --- Pure helpers ------------------------------------------------------------------------------------


def parse_ticket_ids(values: Iterable[object]) -> list[int]:
    """Distinct positive ticket ids in ascending order; ``ValueError`` for anything that is not one."""
    ids: set[int] = set()
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or int(text) <= 0:
            raise ValueError(f"{text!r} is not a ticket id")
        ids.add(int(text))
    return sorted(ids)


def split_tags(text: str) -> list[str]:
    """Tag names typed as "a, b c" (comma separated), normalised; ``ValueError`` for an invalid one."""
    from django.core.exceptions import ValidationError

    names: list[str] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            name = Tag.normalize(part)
        except ValidationError as exc:
            raise ValueError(f"“{part.strip()}”: {' '.join(exc.messages)}") from exc
        if name not in names:
            names.append(name)
    return names


def add_refusal(refusals: list[dict[str, Any]], entry: dict[str, Any], cap: int = MAX_REFUSALS) -> bool:
    """Keep ``entry`` unless ``cap`` refusals are listed already; True if it was kept."""
    if len(refusals) >= cap:
        return False
    refusals.append(entry)
    return True


def describe(action: str, params: Mapping[str, Any]) -> str:
    """What a job does, in words, from its stored parameters (no queries)."""
    if action == BulkAction.ASSIGN:
        if params.get("assignee") is None:
            return _("Unassign")
        return _("Assign to %(name)s") % {"name": params.get("assignee_label", "")}
    if action == BulkAction.STATUS:
        return _("Set status to %(status)s") % {"status": Status(params["status"]).label}
    if action == BulkAction.PRIORITY:
        return _("Set priority to %(priority)s") % {"priority": Priority(params["priority"]).label}
    if action == BulkAction.TEAM:
        if params.get("team") is None:
            return _("Remove from its team")
        return _("Route to team %(team)s") % {"team": params.get("team_label", "")}
    if action == BulkAction.TAGS:
        parts = []
        if params.get("add"):
            parts.append(_("add tags %(tags)s") % {"tags": ", ".join(params["add"])})
        if params.get("remove"):
            parts.append(_("remove tags %(tags)s") % {"tags": ", ".join(params["remove"])})
        text = "; ".join(parts)
        return text[:1].upper() + text[1:]
    if action == BulkAction.MACRO:
        return _("Apply macro “%(name)s”") % {"name": params.get("macro_label", "")}
    if action == BulkAction.MERGE:
        return _("Merge into %(reference)s") % {"reference": params.get("target_label", "")}
    if action == BulkAction.CLOSE:
        return _("Close")
    return action


# --- The selection -----------------------------------------------------------------------------------


def tickets_matching(user: object, filters: Mapping[str, Any]) -> QuerySet[Ticket]:
    """The tickets a list showed ``user``: its view ("mine", ..., or "saved-<id>") and its filter query.

    The same code as the list page, so "all that match" means exactly what the list showed, and
    never more than ``user`` may see. ``TicketError`` for an unknown view or invalid filters.
    """
    view = str(filters.get("view") or "")
    if view.startswith("saved-"):
        # The list of a saved view filters everything visible by the view's filters, which the
        # query string already carries (the list puts them there).
        base = selectors.tickets_visible_to(user)
    else:
        try:
            base = selectors.tickets_in_view(user, queues.Builtin(view))
        except ValueError as exc:
            raise services.TicketError("The list to act on is not known.", field="view") from exc
    query = QueryDict(str(filters.get("query") or ""), mutable=True)
    for key in NON_FILTER_PARAMS:
        query.pop(key, None)
    filterset = TicketFilterSet(query, queryset=base, user=user)
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        raise services.TicketError(f"The list's filters are not valid ({problems}).", field="query")
    return filterset.qs


def _check_view(user: object, filters: Mapping[str, Any]) -> None:
    view = str(filters.get("view") or "")
    if view.startswith("saved-"):
        number = view.removeprefix("saved-")
        if not number.isdigit() or not selectors.saved_views_for(user).filter(pk=int(number)).exists():
            raise services.TicketError("The list to act on is not known.", field="view")


# --- Parameters ----------------------------------------------------------------------------------------


def _user_label(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def clean_params(user: Any, action: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """Check the parameters of ``action`` as typed into the form; the JSON a job stores.

    ``TicketError`` with ``errors`` naming every field at fault.
    """
    value = {name: str(raw.get(name) or "").strip() for name in PARAM_FIELDS.get(action, ())}
    errors: dict[str, str] = {}
    params: dict[str, Any] = {}
    if action == BulkAction.ASSIGN:
        choice = value["assignee"]
        if choice == "none":
            params["assignee"] = None
        elif choice == "me":
            params.update(assignee=user.pk, assignee_label=_user_label(user))
        elif choice.isdigit():
            profile = account_selectors.agents_qs().filter(user_id=int(choice)).first()
            if profile is None:
                errors["assignee"] = _("Choose an active agent.")
            else:
                params.update(assignee=profile.user_id, assignee_label=_user_label(profile.user))
        else:
            errors["assignee"] = _("Choose whom to assign the tickets to.")
    elif action == BulkAction.STATUS:
        if value["status"] not in Status.values or value["status"] == Status.NEW:
            errors["status"] = _("Choose a status (tickets cannot be set back to new).")
        else:
            params["status"] = value["status"]
    elif action == BulkAction.PRIORITY:
        if value["priority"] not in Priority.values:
            errors["priority"] = _("Choose a priority.")
        else:
            params["priority"] = value["priority"]
    elif action == BulkAction.TEAM:
        choice = value["team"]
        team = Team.objects.filter(pk=int(choice)).first() if choice.isdigit() else None
        if choice == "none":
            params["team"] = None
        elif team is None:
            errors["team"] = _("Choose a team.")
        else:
            params.update(team=team.pk, team_label=team.name)
    elif action == BulkAction.TAGS:
        lists = {}
        for name in ("add_tags", "remove_tags"):
            try:
                lists[name] = split_tags(value[name])
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            if not lists["add_tags"] and not lists["remove_tags"]:
                errors["add_tags"] = _("Name at least one tag to add or remove.")
            elif both := sorted(set(lists["add_tags"]) & set(lists["remove_tags"])):
                errors["remove_tags"] = _("A tag cannot be added and removed at once: %(tags)s.") % {
                    "tags": ", ".join(both)
                }
            else:
                params.update(add=lists["add_tags"], remove=lists["remove_tags"])
    elif action == BulkAction.MACRO:
        choice = value["macro"]
        macro = selectors.macros_for(user).filter(pk=int(choice)).first() if choice.isdigit() else None
        if macro is None:
            errors["macro"] = _("Choose one of your macros.")
        else:
            params.update(macro=macro.pk, macro_label=macro.name)
    elif action == BulkAction.MERGE:
        try:
            target = selectors.ticket_for(user, value["target"]) if value["target"] else None
        except Ticket.DoesNotExist:
            target = None
        if target is None:
            errors["target"] = _("Give the reference of a ticket you can see, such as SD-1042.")
        elif target.status == Status.CLOSED or target.merged_into_id:
            errors["target"] = _("%(reference)s is closed; merge into an open ticket.") % {
                "reference": target.reference
            }
        else:
            params.update(target=target.pk, target_label=target.reference)
    elif action != BulkAction.CLOSE:
        errors["action"] = _("Choose an action.")
    if errors:
        raise services.TicketError(" ".join(errors.values()), errors=errors)
    return params


# --- Creating a job ----------------------------------------------------------------------------------


def bulk_job_create(
    *,
    user: Any,
    action: str,
    params: Mapping[str, str],
    ticket_ids: Sequence[object] = (),
    filters: Mapping[str, Any] | None = None,
    back: str = "",
) -> BulkJob:
    """Check a bulk request and queue it. Either ``ticket_ids`` (the selected rows) or ``filters``
    (``{"view": ..., "query": ...}``: every ticket the list matches) is the selection.

    ``TicketError`` (``errors`` per field) and no job for anything invalid.
    """
    if not account_selectors.principal_for(user).is_agent:
        raise services.PermissionDenied("Only agents run bulk actions.")
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned = clean_params(user, action, params)
    except services.TicketError as exc:
        errors.update(exc.errors)
    ids: list[int] = []
    selection: dict[str, str] = {}
    total = 0
    if filters:
        selection = {"view": str(filters.get("view") or ""), "query": str(filters.get("query") or "")}
        try:
            _check_view(user, selection)
            total, more = selectors.count_capped(tickets_matching(user, selection), MAX_TICKETS)
        except services.TicketError as exc:
            errors["ticket"] = str(exc)
        else:
            if more:
                errors["ticket"] = _("More than %(max)s tickets match this list; narrow the filter and try again.") % {
                    "max": MAX_TICKETS
                }
            elif not total:
                errors["ticket"] = _("No tickets match this list.")
    else:
        try:
            ids = parse_ticket_ids(ticket_ids)
        except ValueError:
            errors["ticket"] = _("The selection is not valid; select the tickets again.")
        else:
            if not ids:
                errors["ticket"] = _("Select at least one ticket.")
            elif len(ids) > MAX_TICKETS:
                errors["ticket"] = _("Select at most %(max)s tickets.") % {"max": MAX_TICKETS}
            total = len(ids)
    if errors:
        raise services.TicketError(" ".join(errors.values()), errors=errors)
    if back:
        cleaned["back"] = back
    with transaction.atomic():
        job = BulkJob.objects.create(
            created_by=user, action=action, params=cleaned, ticket_ids=ids, filters=selection, total=total
        )
        transaction.on_commit(lambda: _queue(job.pk))
    return job


def _queue(job_id: int) -> None:
    from tickets.tasks import bulk_job_run_task

    try:
        bulk_job_run_task.delay(job_id)
    except Exception as exc:  # the broker is unreachable: say so on the job instead of leaving it queued forever
        logger.exception("Could not queue bulk job %s", job_id)
        _finish(job_id, BulkJobState.FAILED, f"The job could not be queued ({exc}); nothing was changed. Try again.")


# --- Running a job -----------------------------------------------------------------------------------


class _Superseded(Exception):
    """Another runner of the same job has moved on: this one stops."""


@dataclass
class _Plan:
    """What the job applies, loaded once per run."""

    action: str
    params: dict[str, Any]
    actor: services.Actor
    assignee: Any = None
    team: Team | None = None
    macro: Macro | None = None
    target: Ticket | None = None


def _plan(job: BulkJob, creator: Any) -> _Plan:
    """The action's objects as the creator may use them now; ``TicketError`` if one is gone."""
    plan = _Plan(action=job.action, params=dict(job.params), actor=services.Actor.agent(creator))
    params = plan.params
    if job.action == BulkAction.ASSIGN and params.get("assignee") is not None:
        plan.assignee = get_user_model().objects.filter(pk=params["assignee"]).first()
        if plan.assignee is None:
            raise services.TicketError("The agent to assign to no longer exists.")
    elif job.action == BulkAction.TEAM and params.get("team") is not None:
        plan.team = Team.objects.filter(pk=params["team"]).first()
        if plan.team is None:
            raise services.TicketError("The team no longer exists.")
    elif job.action == BulkAction.MACRO:
        plan.macro = selectors.macros_for(creator).filter(pk=params["macro"]).first()
        if plan.macro is None:
            raise services.TicketError("The macro is no longer available to you.")
    elif job.action == BulkAction.MERGE:
        plan.target = selectors.tickets_visible_to(creator).filter(pk=params["target"]).first()
        if plan.target is None:
            raise services.TicketError("The ticket to merge into is no longer visible to you.")
    return plan


def _apply(plan: _Plan, ticket: Ticket) -> str:
    """Apply the plan to one locked ticket: CHANGED or UNCHANGED (already so), or raise ``TicketError``."""
    by, params, action = plan.actor, plan.params, plan.action
    if action == BulkAction.ASSIGN:
        if ticket.assignee_id == params.get("assignee"):
            return Outcome.UNCHANGED
        services.ticket_assign(ticket=ticket, by=by, assignee=plan.assignee)
    elif action == BulkAction.STATUS:
        if ticket.status == params["status"]:
            return Outcome.UNCHANGED
        services.ticket_change_status(ticket=ticket, by=by, status=params["status"])
    elif action == BulkAction.CLOSE:
        if ticket.status == Status.CLOSED:
            return Outcome.UNCHANGED
        services.ticket_change_status(ticket=ticket, by=by, status=Status.CLOSED)
    elif action == BulkAction.PRIORITY:
        if ticket.priority == params["priority"]:
            return Outcome.UNCHANGED
        services.ticket_change_priority(ticket=ticket, by=by, priority=params["priority"])
    elif action == BulkAction.TEAM:
        if ticket.team_id == params.get("team"):
            return Outcome.UNCHANGED
        services.ticket_set_team(ticket=ticket, by=by, team=plan.team)
    elif action == BulkAction.TAGS:
        current = set(ticket.tags.values_list("name", flat=True))
        if set(params["add"]) <= current and not set(params["remove"]) & current:
            return Outcome.UNCHANGED
        services.ticket_update_tags(ticket=ticket, by=by, add=params["add"], remove=params["remove"])
    elif action == BulkAction.MACRO:
        applied = services.ticket_apply_macro(ticket=ticket, macro=plan.macro, by=by)
        return Outcome.CHANGED if applied.changed else Outcome.UNCHANGED
    elif action == BulkAction.MERGE:
        target = plan.target
        if ticket.pk == target.pk or ticket.merged_into_id == target.pk:
            return Outcome.UNCHANGED
        # Different customers' tickets are merged without making them readers of each other's.
        services.ticket_merge(
            source=ticket, target=target, by=by, copy_people=services.tickets_share_customer(ticket, target)
        )
    else:
        raise services.TicketError(f"Unknown bulk action {action!r}.")
    return Outcome.CHANGED


def _start(job_id: int) -> BulkJob | None:
    """Lock the job and make it RUNNING, fixing its selection on the first start; None when finished."""
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().select_related("created_by").filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.state == BulkJobState.QUEUED:
            creator = job.created_by
            if not account_selectors.principal_for(creator).is_agent:
                raise services.TicketError("The agent who started this job is no longer active.")
            if job.filters:
                ids = list(
                    tickets_matching(creator, job.filters)
                    .order_by("pk")
                    .values_list("pk", flat=True)[: MAX_TICKETS + 1]
                )
                if len(ids) > MAX_TICKETS:
                    raise services.TicketError(f"More than {MAX_TICKETS} tickets match the list now.")
                job.ticket_ids = ids
            job.ticket_ids = sorted(set(job.ticket_ids))
            job.total = len(job.ticket_ids)
            job.state = BulkJobState.RUNNING
            job.started_at = timezone.now()
            job.save(update_fields=["ticket_ids", "total", "state", "started_at"])
        return job


def _step(job_id: int, index: int, ticket_id: int, plan: _Plan, visible: QuerySet[Ticket]) -> None:
    """Apply the job to ticket ``index`` of its selection and count it, in one transaction."""
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().get(pk=job_id)
        if job.state != BulkJobState.RUNNING or job.processed != index:
            raise _Superseded
        if plan.target is not None:
            # A merge locks both tickets in id order (as ticket_merge does), so merges never deadlock.
            list(Ticket.objects.select_for_update().filter(pk__in=[ticket_id, plan.target.pk]).order_by("pk"))
        ticket = visible.select_for_update(of=("self",)).filter(pk=ticket_id).first()
        reason = ""
        if ticket is None:
            outcome, reason = Outcome.REFUSED, NOT_FOUND
        else:
            try:
                with transaction.atomic():
                    outcome = _apply(plan, ticket)
            except services.TicketError as exc:
                outcome, reason = Outcome.REFUSED, str(exc)
        job.processed += 1
        fields = ["processed"]
        if outcome == Outcome.CHANGED:
            job.changed += 1
            fields.append("changed")
        elif outcome == Outcome.UNCHANGED:
            job.unchanged += 1
            fields.append("unchanged")
        else:
            job.refused += 1
            fields.append("refused")
            entry = {
                "ticket": ticket_id,
                "reference": ticket.reference if ticket else Ticket(pk=ticket_id).reference,
                "reason": reason,
                "visible": ticket is not None,
            }
            if add_refusal(job.refusals, entry):
                fields.append("refusals")
        job.save(update_fields=fields)


def _finish(job_id: int, state: str, error: str = "") -> None:
    BulkJob.objects.filter(pk=job_id).exclude(state__in=[BulkJobState.DONE, BulkJobState.FAILED]).update(
        state=state, error=error[:4000], finished_at=timezone.now()
    )


def bulk_job_run(job_id: int, *, time_budget: float | None = TIME_BUDGET_SECONDS) -> BulkJob | None:
    """Run (or continue) a job until it is done, its time budget is used up, or something breaks."""
    deadline = None if time_budget is None else time.monotonic() + time_budget
    try:
        job = _start(job_id)
        if job is None:
            return BulkJob.objects.filter(pk=job_id).first()
        creator = job.created_by
        plan = _plan(job, creator)
        visible = selectors.tickets_visible_to(creator)
        ids = job.ticket_ids
        for index in range(job.processed, len(ids)):
            _step(job_id, index, ids[index], plan, visible)
            if deadline is not None and time.monotonic() > deadline and index + 1 < len(ids):
                # Out of time with tickets left: a fresh run continues after the last one committed.
                _requeue(job_id)
                return BulkJob.objects.get(pk=job_id)
        _finish(job_id, BulkJobState.DONE)
    except _Superseded:
        logger.info("Bulk job %s is being run by another worker; this run stops.", job_id)
    except SoftTimeLimitExceeded:
        # The ticket in hand was rolled back with its count; the next run continues from there.
        _requeue(job_id)
    except services.TicketError as exc:
        _finish(job_id, BulkJobState.FAILED, str(exc))
    except Exception as exc:
        logger.exception("Bulk job %s failed", job_id)
        _finish(job_id, BulkJobState.FAILED, f"{type(exc).__name__}: {exc}")
    return BulkJob.objects.filter(pk=job_id).first()


def _requeue(job_id: int) -> None:
    from tickets.tasks import bulk_job_run_task

    bulk_job_run_task.delay(job_id)


# --- Recovering lost jobs ---------------------------------------------------------------------------


def bulk_jobs_requeue_stalled(
    *,
    now: datetime | None = None,
    queued_for: timedelta = timedelta(minutes=2),
    running_for: timedelta = timedelta(minutes=5),
) -> int:
    """Queue again the jobs whose task was lost (a killed worker, an emptied broker).

    A job still queued after ``queued_for``, or running for longer than ``running_for``, gets another
    task. That is always safe: a run continues after the last ticket committed, and of two runners
    on one job, the second to reach a ticket finds it counted already and stops.
    """
    moment = now or timezone.now()
    stalled = list(
        BulkJob.objects.filter(
            Q(state=BulkJobState.QUEUED, created_at__lt=moment - queued_for)
            | Q(state=BulkJobState.RUNNING, started_at__lt=moment - running_for)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )
    for job_id in stalled:
        _requeue(job_id)
    return len(stalled)
