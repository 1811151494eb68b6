"""The dashboard: intake, backlog, SLA compliance, first response times and escalated accounts, in charts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from tickets import reports
from tickets.views.common import agent_required


@require_GET
@agent_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    figures = reports.dashboard_figures(request.user)
    return render(request, "desk/dashboard.html", {"figures": figures, "chart_labels": reports.chart_labels()})


urlpatterns = [path("dashboard/", dashboard_view, name="dashboard")]
