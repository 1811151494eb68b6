"""Routes of the API: /api/v1/ (the router), /api/schema/ (OpenAPI 3), /api/docs/ (Swagger UI, no CDN).

Apps with their own API add routes through ``<app>.api.urls.register(router)`` (see API_MODULES).
Any other path under /api/ is a 404 in the API's error format.
"""

from __future__ import annotations

import importlib

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.api import views as account_views
from service_desk.api.errors import not_found_view
from tickets.api import views as ticket_views

app_name = "api"

# Apps that register their own viewsets (the module is skipped while it does not exist yet).
API_MODULES = ["service_desk.api.knowledge", "webhooks.api.urls", "knowledge.api.urls"]


class Router(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False


router = Router(trailing_slash="/?")
router.register("tickets", ticket_views.TicketViewSet, basename="ticket")
router.register("attachments", ticket_views.AttachmentViewSet, basename="attachment")
router.register("organizations", account_views.OrganizationViewSet, basename="organization")
router.register("contacts", account_views.ContactViewSet, basename="contact")
router.register("agents", account_views.AgentViewSet, basename="agent")
router.register("teams", account_views.TeamViewSet, basename="team")
router.register("tags", ticket_views.TagViewSet, basename="tag")
router.register("ticket-types", ticket_views.TicketTypeViewSet, basename="ticket-type")
router.register("sla-policies", ticket_views.SLAPolicyViewSet, basename="sla-policy")

for _module in API_MODULES:
    try:
        _loaded = importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _module.startswith(exc.name):
            raise
        continue
    _loaded.register(router)

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(api_version="1.0.0"), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^[\s\S]*$", not_found_view),
]
