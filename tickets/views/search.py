"""Workspace search: one box for tickets, contacts and organizations; a typed reference opens the ticket."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET

from tickets import search
from tickets.views.common import agent_required, is_htmx


@require_GET
@agent_required
def search_view(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("q", "")
    # Typing live (htmx) never navigates away; submitting a visible ticket's reference opens it.
    results = search.workspace_search(request.user, raw, jump=not is_htmx(request)) if raw.strip() else None
    if results is not None and results.jump and results.reference_ticket is not None:
        return redirect("desk:ticket", ref=results.reference_ticket.reference)
    context = {
        "title": search.parse_terms(raw).text or None,
        "search_query": raw[: search.MAX_QUERY_LENGTH],
        "results": results,
        "truncated": len(raw.strip()) > search.MAX_QUERY_LENGTH,
        "limit": search.LIMIT,
        "max_length": search.MAX_QUERY_LENGTH,
    }
    return render(request, "desk/search.html", context)


urlpatterns = [path("search/", search_view, name="search")]
