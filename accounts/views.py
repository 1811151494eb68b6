"""The customer, whole: the ticket sidebar, organization pages and contact pages of the agent workspace.

Thin views: parse the request, call one selector or service, render. Every read is scoped to the
agent (not visible = 404); an agent of one team sees every organization page, but only the
tickets they may see on it.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors, services
from accounts.forms import OrganizationForm, OrganizationSearchForm
from accounts.models import Contact, Organization
from tickets.models import Ticket
from tickets.views.common import agent_required, is_htmx

ORGANIZATIONS_PER_PAGE = 50


@require_GET
@agent_required
def ticket_sidebar(request: HttpRequest, ref: str) -> HttpResponse:
    """The customer behind a ticket: a fragment for htmx, a page of its own without it."""
    try:
        sidebar = selectors.ticket_sidebar(request.user, ref)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc
    template = "desk/accounts/_sidebar.html" if is_htmx(request) else "desk/accounts/sidebar_page.html"
    response = render(request, template, {"sidebar": sidebar, "ticket": sidebar.ticket})
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@agent_required
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationSearchForm(request.GET or None)
    page = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        status = 200
        data = form.cleaned_data if form.is_bound else {}
        qs = selectors.organization_list(request.user, query=data.get("q", ""), tier=data.get("tier", ""))
        page = Paginator(qs, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "desk/accounts/organization_list.html",
        {"title": _("Organizations"), "form": form, "page": page},
        status=status,
    )


@require_GET
@agent_required
def organization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        page = selectors.organization_page(
            request.user,
            pk,
            cursor=request.GET.get("cursor"),
            open_only=request.GET.get("tickets") == "open",
            contacts_page=request.GET.get("contacts"),
        )
    except Organization.DoesNotExist as exc:
        raise Http404("No such organization.") from exc
    return render(
        request,
        "desk/accounts/organization_detail.html",
        {"title": page.organization.name, "page": page, "organization": page.organization},
    )


@require_http_methods(["GET", "POST"])
@agent_required
def organization_edit(request: HttpRequest, pk: int) -> HttpResponse:
    organization = selectors.organizations_visible_to(request.user).filter(pk=pk).first()
    if organization is None or not selectors.organization_editable_by(request.user, organization):
        raise Http404("No such organization.")
    specs = selectors.custom_field_specs("organization")
    form = OrganizationForm(request.POST or None, organization=organization, specs=specs)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _org, changed = services.organization_update(
                    organization=organization, by=request.user, **form.update_arguments()
                )
            except services.AccountPermissionDenied as exc:
                raise Http404("No such organization.") from exc
            except services.AccountError as exc:
                form.add_service_errors(exc.errors, str(exc))
            else:
                if changed:
                    messages.success(request, _("Organization saved."))
                else:
                    messages.info(request, _("Nothing changed."))
                return redirect("desk:organization", pk=organization.pk)
        status = 400
    return render(
        request,
        "desk/accounts/organization_edit.html",
        {"title": _("Edit %(name)s") % {"name": organization.name}, "organization": organization, "form": form},
        status=status,
    )


@require_GET
@agent_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        page = selectors.contact_page(request.user, pk, cursor=request.GET.get("cursor"))
    except Contact.DoesNotExist as exc:
        raise Http404("No such contact.") from exc
    return render(
        request,
        "desk/accounts/contact_detail.html",
        {"title": str(page.contact), "page": page, "contact": page.contact},
    )


urlpatterns = [
    path("tickets/<str:ref>/sidebar/", ticket_sidebar, name="ticket-sidebar"),
    path("organizations/", organization_list, name="organizations"),
    path("organizations/<int:pk>/", organization_detail, name="organization"),
    path("organizations/<int:pk>/edit/", organization_edit, name="organization-edit"),
    path("contacts/<int:pk>/", contact_detail, name="contact"),
]
