from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database readiness for load balancers and docker-compose health checks."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A 404 in the frame of the area the visitor was in: the portal's for customers, else the plain one."""
    template = "portal/404.html" if request.path.startswith("/portal/") else "404.html"
    return render(request, template, status=404)


handler404 = not_found

urlpatterns = [
    path("", home, name="home"),
    path("", include("channels_intake.urls")),
    path("desk/", include("tickets.urls")),
    path("portal/", include("portal.urls")),
    path("api/", include("service_desk.api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
