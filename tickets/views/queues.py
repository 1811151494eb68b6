"""Ticket lists: the built-in views, filters, sorting, saved views, keyset pages."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from tickets import selectors, services
from tickets.domain import queues
from tickets.filtersets import TicketFilterSet
from tickets.views.common import agent_required

VIEW_LABELS = {
    queues.Builtin.MINE: gettext_lazy("My open tickets"),
    queues.Builtin.UNASSIGNED: gettext_lazy("Unassigned"),
    queues.Builtin.MY_TEAMS: gettext_lazy("My teams"),
    queues.Builtin.BREACHING_SOON: gettext_lazy("Breaching soon"),
    queues.Builtin.PENDING: gettext_lazy("Pending on customer"),
    queues.Builtin.RECENT: gettext_lazy("Recently updated"),
    queues.Builtin.ALL: gettext_lazy("All tickets"),
}
SORT_LABELS = {
    "updated": gettext_lazy("Last updated"),
    "created": gettext_lazy("Newest"),
    "sla": gettext_lazy("SLA due"),
    "priority": gettext_lazy("Priority"),
}
PAGE_SIZE = 50
# Query parameters that are not filters.
NON_FILTER_PARAMS = ("sort", "cursor", "view")


def filter_params(query: QueryDict) -> QueryDict:
    """The filter part of a list's query string (what a saved view or a bulk "all matching" keeps)."""
    params = query.copy()
    for key in NON_FILTER_PARAMS:
        params.pop(key, None)
    return params


def _render_list(
    request: HttpRequest, *, title: str, base_qs, default_sort: str, current: str, saved=None
) -> HttpResponse:
    params = request.GET
    if saved is not None and not params:
        params = QueryDict(mutable=True)
        for key, value in (saved.filters or {}).items():
            params.setlist(key, value if isinstance(value, list) else [str(value)])
        params["sort"] = saved.sort
    filterset = TicketFilterSet(filter_params(params), queryset=base_qs, user=request.user)
    sort = queues.sort_for(params.get("sort"), default_sort)
    page = None
    cursor_error = False
    if filterset.is_valid():
        try:
            page = selectors.tickets_page(
                filterset.qs.prefetch_related("tags"), sort, cursor=params.get("cursor"), size=PAGE_SIZE
            )
        except queues.BadCursor:
            cursor_error = True
            page = selectors.tickets_page(filterset.qs.prefetch_related("tags"), sort, size=PAGE_SIZE)
    counts = selectors.view_counts(request.user)
    context = {
        "title": title,
        "current": current,
        "filterset": filterset,
        "page": page,
        "cursor_error": cursor_error,
        "sort": sort.key,
        "sorts": SORT_LABELS.items(),
        "views": [(v.value, VIEW_LABELS[v], counts[v.value]) for v in queues.Builtin],
        "saved_views": selectors.saved_views_for(request.user),
        "saved": saved,
        "filter_query": filter_params(params).urlencode(),
        "is_filtered": any(filter_params(params).values()),
    }
    return render(request, "desk/tickets/list.html", context)


@require_GET
@agent_required
def builtin_view(request: HttpRequest, view: str = queues.Builtin.MINE.value) -> HttpResponse:
    try:
        builtin = queues.Builtin(view)
    except ValueError as exc:
        raise Http404("No such view.") from exc
    spec = queues.BUILTIN_VIEWS[builtin]
    return _render_list(
        request,
        title=str(VIEW_LABELS[builtin]),
        base_qs=selectors.tickets_in_view(request.user, builtin),
        default_sort=spec.default_sort,
        current=builtin.value,
    )


@require_GET
@agent_required
def saved_view(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(selectors.saved_views_for(request.user), pk=pk)
    return _render_list(
        request,
        title=saved.name,
        base_qs=selectors.tickets_visible_to(request.user),
        default_sort=queues.sort_for(saved.sort).key,
        current=f"saved-{saved.pk}",
        saved=saved,
    )


@require_POST
@agent_required
def saved_view_create(request: HttpRequest) -> HttpResponse:
    query = QueryDict(request.POST.get("query", ""))
    filterset = TicketFilterSet(filter_params(query), queryset=selectors.tickets_visible_to(request.user))
    if not filterset.is_valid():
        messages.error(request, _("These filters are not valid, so the view was not saved."))
        return redirect(reverse("desk:view", args=["all"]) + "?" + query.urlencode())
    filters = {key: query.getlist(key) for key in filter_params(query) if any(query.getlist(key))}
    try:
        saved = services.saved_view_create(
            user=request.user,
            name=request.POST.get("name", ""),
            filters=filters,
            sort=queues.sort_for(query.get("sort")).key,
            shared=request.POST.get("shared") == "1",
        )
    except services.TicketError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("desk:view", args=["all"]) + "?" + query.urlencode())
    messages.success(request, _("View “%(name)s” saved.") % {"name": saved.name})
    return redirect("desk:saved-view", pk=saved.pk)


@require_POST
@agent_required
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(selectors.saved_views_for(request.user), pk=pk)
    try:
        services.saved_view_delete(view=saved, user=request.user)
    except services.TicketError as exc:
        messages.error(request, str(exc))
        return redirect("desk:saved-view", pk=saved.pk)
    messages.success(request, _("View deleted."))
    return redirect("desk:home")


urlpatterns = [
    path("", builtin_view, name="home"),
    path("views/<slug:view>/", builtin_view, name="view"),
    path("saved-views/<int:pk>/", saved_view, name="saved-view"),
    path("saved-views/new/", saved_view_create, name="saved-view-create"),
    path("saved-views/<int:pk>/delete/", saved_view_delete, name="saved-view-delete"),
]
