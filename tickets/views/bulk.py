"""Working in volume: bulk actions on the selected tickets (or all that match a list), their progress
page, and applying a macro to one ticket. The work itself is in ``tickets.bulk`` and ``tickets.services``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts.models import Team
from tickets import bulk, selectors, services
from tickets.choices import Priority, Status
from tickets.models import BulkAction, Ticket
from tickets.views.common import agent_required, is_htmx


def _back(request: HttpRequest) -> str:
    """Where "back to the list" goes: the list the request came from, if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("desk:home")


def _field_options(user: Any, action: str) -> dict[str, Any]:
    """The choices the parameter fields of ``action`` offer (only those it needs)."""
    options: dict[str, Any] = {"action": action}
    if action == BulkAction.ASSIGN:
        options["agents"] = account_selectors.agents_qs().order_by(
            "user__first_name", "user__last_name", "user__username"
        )
    elif action == BulkAction.STATUS:
        options["statuses"] = [(value, label) for value, label in Status.choices if value != Status.NEW]
    elif action == BulkAction.PRIORITY:
        options["priorities"] = Priority.choices
    elif action == BulkAction.TEAM:
        options["teams"] = Team.objects.order_by("name")
    elif action == BulkAction.MACRO:
        options["macros"] = selectors.macros_for(user)
    return options


def _form(
    request: HttpRequest, *, action: str, values: dict[str, str], errors: dict[str, str], status: int
) -> HttpResponse:
    """The bulk form as a page: the second step without JavaScript, and where errors are shown."""
    post = request.POST
    all_matching = post.get("all_matching") == "1"
    ticket_values = post.getlist("ticket")
    context = {
        **_field_options(request.user, action),
        "title": _("Bulk change"),
        "values": values,
        "errors": errors,
        "error_list": list(dict.fromkeys(errors.values())),
        "all_matching": all_matching,
        "ticket_values": ticket_values,
        "selected_count": len(set(ticket_values)),
        "view": post.get("view", ""),
        "query": post.get("query", ""),
        "back": _back(request),
    }
    return render(request, "desk/tickets/bulk_form.html", context, status=status)


@require_POST
@agent_required
def bulk_create(request: HttpRequest) -> HttpResponse:
    post = request.POST
    action = post.get("action", "")
    values = {name: post.get(name, "") for name in bulk.ALL_PARAM_FIELDS}
    needs = bulk.PARAM_FIELDS.get(action, ())
    if needs and not any(values[name].strip() for name in needs):
        # Without JavaScript the bar sends only the action: ask for what it needs (no error yet).
        return _form(request, action=action, values=values, errors={}, status=200)
    filters = None
    if post.get("all_matching") == "1":
        filters = {"view": post.get("view", ""), "query": post.get("query", "")}
    try:
        job = bulk.bulk_job_create(
            user=request.user,
            action=action,
            params=values,
            ticket_ids=post.getlist("ticket"),
            filters=filters,
            back=_back(request),
        )
    except services.TicketError as exc:
        errors = exc.errors or {"__all__": str(exc)}
        return _form(request, action=action, values=values, errors=errors, status=400)
    return redirect("desk:bulk-job", pk=job.pk)


@require_GET
@agent_required
def bulk_fields(request: HttpRequest) -> HttpResponse:
    """The parameter fields of one action, swapped into the bulk bar by htmx when the action changes."""
    action = request.GET.get("action", "")
    if action and action not in bulk.PARAM_FIELDS:
        return HttpResponse(_("Unknown action."), status=400)
    context = {**_field_options(request.user, action), "values": {}, "errors": {}}
    return render(request, "desk/tickets/bulk_fields.html", context)


@require_GET
@agent_required
def bulk_count(request: HttpRequest) -> HttpResponse:
    """How many tickets the list (view + filter query) matches, for "select all N matching"."""
    filters = {"view": request.GET.get("view", ""), "query": request.GET.get("query", "")}
    try:
        matching = bulk.tickets_matching(request.user, filters)
    except services.TicketError as exc:
        return HttpResponse(str(exc), status=400)
    count, more = selectors.count_capped(matching, bulk.MAX_TICKETS)
    context = {"count": count, "more": more, "max": bulk.MAX_TICKETS}
    return render(request, "desk/tickets/bulk_count.html", context)


@require_GET
@agent_required
def bulk_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's progress and summary: its creator only. htmx polls the progress part until it is finished."""
    job = get_object_or_404(selectors.bulk_jobs_for(request.user), pk=pk)
    context = {
        "job": job,
        "title": bulk.describe(job.action, job.params),
        "remaining": max(0, job.total - job.processed),
        "more_refused": max(0, job.refused - len(job.refusals)),
        "back": job.params.get("back") or reverse("desk:home"),
    }
    template = "desk/tickets/bulk_progress.html" if is_htmx(request) else "desk/tickets/bulk_job.html"
    return render(request, template, context)


@require_POST
@agent_required
def ticket_apply_macro(request: HttpRequest, ref: str) -> HttpResponse:
    """Apply one macro to one ticket (the macro picker on the ticket page)."""
    try:
        ticket = selectors.ticket_for(request.user, ref)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc
    choice = request.POST.get("macro", "")
    macro = selectors.macros_for(request.user).filter(pk=int(choice)).first() if choice.isdigit() else None
    if macro is None:
        messages.error(request, _("Choose one of your macros; nothing was changed."))
    else:
        try:
            services.ticket_apply_macro(ticket=ticket, macro=macro, by=services.Actor.agent(request.user))
        except services.TicketError as exc:
            messages.error(request, _("The macro was not applied: %(reason)s") % {"reason": exc})
        else:
            messages.success(request, _("Macro “%(name)s” applied.") % {"name": macro.name})
    url = reverse("desk:ticket", args=[ticket.reference])
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


urlpatterns = [
    path("bulk/", bulk_create, name="bulk-create"),
    path("bulk/fields/", bulk_fields, name="bulk-fields"),
    path("bulk/count/", bulk_count, name="bulk-count"),
    path("bulk/<int:pk>/", bulk_job, name="bulk-job"),
    path("tickets/<str:ref>/macro/", ticket_apply_macro, name="ticket-apply-macro"),
]
