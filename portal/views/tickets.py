"""The customer's ticket pages of the portal: submit, my tickets, the organization's tickets, one
ticket with its public conversation, reply, mark as solved, reopen, and attachment downloads.

Every route is for signed-in customers only (``customer_required``). Tickets, messages and files
are read through the scoped selectors, so whatever the customer may not see is a 404 on every
route, GET or POST, before anything else happens. Changes go through ``tickets.services`` as
``Actor.customer(contact, Channel.PORTAL, user)``; a refused change comes back as a form error.
The rules of what a customer may do with a ticket are in ``tickets.domain.portal``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages as flash
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Contact
from accounts.selectors import contacts_visible_to, ticket_custom_fields_for
from portal import forms_tickets as forms
from portal.views.common import customer_required, principal
from service_desk.models import DeskSettings, IdempotencyRecord
from tickets import selectors, services
from tickets.choices import Channel, Status
from tickets.domain import queues
from tickets.domain.portal import (
    ACTIVE,
    CustomerActions,
    CustomerStatus,
    customer_actions,
    customer_status,
    statuses_for,
)
from tickets.downloads import attachment_response
from tickets.forms import new_attachments
from tickets.models import Ticket, TicketCC, TicketType
from tickets.services import Actor, NewMessage, NewTicket, TicketError

PAGE_SIZE = 25
LIST_SORT = queues.SORTS["created"]  # newest first: walks (requester | organization, -created_at, -id)

STATUS_LABELS = {
    CustomerStatus.IN_PROGRESS: gettext_lazy("In progress"),
    CustomerStatus.AWAITING_YOU: gettext_lazy("Awaiting your reply"),
    CustomerStatus.SOLVED: gettext_lazy("Solved"),
    CustomerStatus.CLOSED: gettext_lazy("Closed"),
}


# --- Helpers --------------------------------------------------------------------------------------


def _ticket(request: HttpRequest, ref: str) -> Ticket:
    """The ticket if the customer may see it; a 404 otherwise (guessed numbers included).

    Only ASCII references are looked up: ``"²".isdigit()`` is true but ``int("²")`` fails, and other
    Unicode digits would only be a second spelling of a reference.
    """
    if not ref.isascii():
        raise Http404("No such ticket.")
    try:
        return selectors.ticket_for(request.user, ref)
    except (Ticket.DoesNotExist, ValueError, OverflowError) as exc:
        raise Http404("No such ticket.") from exc


def _contact(request: HttpRequest) -> Contact:
    return Contact.objects.select_related("organization").get(pk=principal(request).contact_id)


def _actor(request: HttpRequest, contact: Contact) -> Actor:
    return Actor.customer(contact, Channel.PORTAL, request.user)


def reopen_days() -> int:
    """``DeskSettings.portal_reopen_days`` of the singleton row, or its default while none is saved."""
    days = DeskSettings.objects.filter(pk=1).values_list("portal_reopen_days", flat=True).first()
    return DeskSettings._meta.get_field("portal_reopen_days").default if days is None else days


def _actions(ticket: Ticket, days: int | None = None) -> CustomerActions:
    return customer_actions(ticket.status, ticket.solved_at, timezone.now(), reopen_days() if days is None else days)


def _label(ticket: Ticket) -> None:
    key = customer_status(ticket.status)
    ticket.portal_status = key.value  # type: ignore[attr-defined]
    ticket.portal_status_label = STATUS_LABELS[key]  # type: ignore[attr-defined]


def _page_of(qs: Any, cursor: str | None) -> tuple[selectors.TicketPage, bool]:
    try:
        return selectors.tickets_page(qs, LIST_SORT, cursor=cursor, size=PAGE_SIZE), False
    except queues.BadCursor:
        return selectors.tickets_page(qs, LIST_SORT, size=PAGE_SIZE), True


def _list_response(request: HttpRequest, qs: Any, template: str, context: dict[str, Any]) -> HttpResponse:
    form = context["filter_form"]
    bad_filter = form.is_bound and not form.is_valid()
    if bad_filter:
        # An unknown status or a requester who is not one of the organization's: say so, list nothing.
        qs = qs.none()
    elif form.is_valid():
        statuses = statuses_for(form.cleaned_data.get("status"))
        if statuses is not None:
            qs = qs.filter(status__in=statuses)
    page, bad_cursor = _page_of(qs, request.GET.get("after") or None)
    for ticket in page.tickets:
        _label(ticket)
    query = request.GET.copy()
    query.pop("after", None)
    next_query = ""
    if page.next_cursor:
        following = query.copy()
        following["after"] = page.next_cursor
        next_query = following.urlencode()
    context.update(
        page=page,
        tickets=page.tickets,
        bad_cursor=bad_cursor,
        filter_query=query.urlencode(),
        next_query=next_query,
        is_first_page=not request.GET.get("after") or bad_cursor,
    )
    return render(request, template, context, status=400 if bad_cursor or bad_filter else 200)


# --- Lists ----------------------------------------------------------------------------------------


@never_cache
@require_GET
@customer_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    """The customer's own tickets: requested by them or copied to them."""
    contact_id = principal(request).contact_id
    mine = Q(requester_id=contact_id) | Q(pk__in=TicketCC.objects.filter(contact_id=contact_id).values("ticket_id"))
    qs = selectors.tickets_visible_to(request.user).filter(mine)
    context = {"filter_form": forms.TicketFilterForm(request.GET or None), "contact_id": contact_id}
    return _list_response(request, qs, "portal/tickets/list.html", context)


@never_cache
@require_GET
@customer_required
def organization_ticket_list(request: HttpRequest) -> HttpResponse:
    """All tickets of the contact's organization; only for contacts allowed to see them (else 404)."""
    who = principal(request)
    if not who.sees_organization or who.organization_id is None:
        raise Http404("Not found.")
    contacts = contacts_visible_to(request.user).filter(organization_id=who.organization_id)
    qs = selectors.tickets_visible_to(request.user).filter(organization_id=who.organization_id)
    # Offered in the filter: the organization's people who asked something (bounded in the form).
    offered = contacts.filter(
        Exists(Ticket.objects.filter(organization_id=who.organization_id, requester_id=OuterRef("pk")))
    ).order_by("name", "id")
    form = forms.OrganizationTicketFilterForm(request.GET or None, contacts=contacts, offered=offered)
    if form.is_valid() and form.cleaned_data.get("requester") is not None:
        qs = qs.filter(requester_id=form.cleaned_data["requester"].pk)
    organization = who.organization_id
    context = {"filter_form": form, "contact_id": who.contact_id, "organization_id": organization}
    return _list_response(request, qs, "portal/tickets/organization_list.html", context)


# --- Submitting -----------------------------------------------------------------------------------


def _chosen_type_id(value: object) -> int | None:
    """The id of an active ticket type named by ``value`` (a submitted or queried id), else None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return TicketType.objects.filter(pk=number, is_active=True).values_list("pk", flat=True).first()


def _follow_up_of(request: HttpRequest, ref: str | None) -> Ticket | None:
    """The ticket a new request follows up: visible to the customer (else 404) and no longer open to replies."""
    if not ref:
        return None
    ticket = _ticket(request, ref)
    if not _actions(ticket).can_follow_up:
        return None
    return ticket


def _refresh_initial(request: HttpRequest) -> dict[str, Any]:
    data = request.POST
    initial: dict[str, Any] = {name: data.get(name, "") for name in ("subject", "description", "type", "nonce")}
    return initial


def _custom_initial(request: HttpRequest, definitions: list) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for definition in definitions:
        name = f"cf-{definition.key}"
        if definition.field_type == "multi_choice":
            initial[definition.key] = request.POST.getlist(name)
        elif name in request.POST:
            initial[definition.key] = request.POST.get(name)
    return initial


def _claim(request: HttpRequest, key: str) -> IdempotencyRecord | None:
    """Record ``key`` (a form's nonce) for this user, inside the caller's transaction; None if it was
    recorded before. A concurrent request with the same key waits here until the first one ends."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=request.user,
                key=key,
                method="POST",
                path=request.path[:255],
                request_hash=hashlib.sha256(key.encode()).hexdigest(),
            )
    except IntegrityError:
        return None


def _submit_once(
    request: HttpRequest, contact: Contact, form: forms.TicketNewForm, values: dict, follow_up: Ticket | None
) -> tuple[str | None, bool]:
    """Open the ticket unless this form (its nonce) was submitted before: (reference, is_new).

    The nonce is recorded in the same transaction as the ticket, so a second submission either
    waits for the first and finds its ticket, or (if the first failed) opens it itself.
    """
    data = form.cleaned_data
    key = f"portal:ticket_new:{data['nonce']}"
    by = _actor(request, contact)
    with transaction.atomic():
        record = _claim(request, key)
        if record is None:
            earlier = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
            return (earlier.response_body or {}).get("reference") if earlier else None, False
        organization = contact.organization
        options = {
            "type": data.get("type"),
            "organization": organization,
            "team": organization.default_team if organization is not None else None,
            "custom_fields": values,
            # The customer fills in the fields that apply to them (checked above); the desk's
            # internal required fields are not theirs to answer.
            "enforce_required_fields": False,
        }
        files = new_attachments(data.get("attachments") or [])
        if follow_up is None:
            ticket = services.ticket_create(
                subject=data["subject"],
                requester=contact,
                channel=Channel.PORTAL,
                body_text=data["description"],
                by=by,
                attachments=files,
                **options,
            )
        else:
            spec = NewTicket(
                subject=data["subject"],
                requester=contact,
                channel=Channel.PORTAL,
                messages=[NewMessage(body_text=data["description"], author_contact=contact, attachments=files)],
                **options,  # type: ignore[arg-type]
            )
            ticket = services.ticket_create_linked(related=follow_up, spec=spec, by=by)
        record.status_code = 303
        record.response_body = {"reference": ticket.reference}
        record.save(update_fields=["status_code", "response_body"])
    return ticket.reference, True


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def ticket_new(request: HttpRequest) -> HttpResponse:
    contact = _contact(request)
    source = request.POST if request.method == "POST" else request.GET
    follow_up = _follow_up_of(request, source.get("follow_up"))
    type_id = _chosen_type_id(source.get("type"))
    definitions = ticket_custom_fields_for(contact, type_id)

    if request.method == "GET" and request.GET.get("fields") == "1":
        # The type changed in the browser: only the fields that now apply (portal-tickets.js).
        fields = forms.custom_fields_form(definitions)
        return render(request, "portal/tickets/_custom_fields.html", {"fields": fields})

    status = 200
    if request.method == "POST" and "refresh_fields" not in request.POST:
        form = forms.TicketNewForm(request.POST, request.FILES)
        fields = forms.custom_fields_form(definitions, request.POST)
        valid = form.is_valid() & fields.is_valid()
        values = forms.custom_field_values(fields) if fields.is_valid() else {}
        if valid and not fields.errors:
            try:
                reference, is_new = _submit_once(request, contact, form, values, follow_up)
            except TicketError as exc:
                forms.add_service_error(exc, form, fields)
            else:
                if reference is None:
                    form.add_error(None, _("This form was already sent. Please reload the page."))
                else:
                    if is_new:
                        flash.success(request, _("Thank you. Your request %(ref)s was received.") % {"ref": reference})
                    else:
                        flash.info(request, _("This request was already submitted as %(ref)s.") % {"ref": reference})
                    return redirect("portal:ticket", ref=reference)
        status = 400
    elif request.method == "POST":
        # "Update fields" without JavaScript: the same form again, with the fields of the chosen type.
        form = forms.TicketNewForm(initial={**_refresh_initial(request), "type": type_id})
        fields = forms.custom_fields_form(definitions, initial=_custom_initial(request, definitions))
    else:
        initial: dict[str, Any] = {"nonce": forms.new_nonce(), "type": type_id}
        if follow_up is not None:
            initial["subject"] = _("Follow-up to %(ref)s: %(subject)s") % {
                "ref": follow_up.reference,
                "subject": follow_up.subject,
            }
        form = forms.TicketNewForm(initial=initial)
        fields = forms.custom_fields_form(definitions)
    if not form.initial.get("nonce") and not form.is_bound:
        form.initial["nonce"] = forms.new_nonce()
    context = {"form": form, "fields": fields, "follow_up": follow_up}
    return render(request, "portal/tickets/new.html", context, status=status)


# --- One ticket -----------------------------------------------------------------------------------


def _page(
    request: HttpRequest,
    ticket: Ticket,
    *,
    reply_form: forms.ReplyForm | None = None,
    action_error: str = "",
    status: int = 200,
) -> HttpResponse:
    days = reopen_days()
    _label(ticket)
    conversation = list(selectors.messages_visible_to(request.user, ticket))
    links = selectors.ticket_links_visible_to(request.user, ticket)
    merged_into = None
    if ticket.merged_into_id:
        merged_into = selectors.tickets_visible_to(request.user).filter(pk=ticket.merged_into_id).first()
    context = {
        "ticket": ticket,
        "conversation": conversation,
        "actions": _actions(ticket, days),
        "reopen_days": days,
        "reply_form": reply_form or forms.ReplyForm(initial={"nonce": forms.new_nonce()}),
        "action_error": action_error,
        "links": links,
        "merged_into": merged_into,
        "contact_id": principal(request).contact_id,
    }
    return render(request, "portal/tickets/detail.html", context, status=status)


def _back(ticket: Ticket, anchor: str = "") -> HttpResponse:
    return redirect(reverse("portal:ticket", args=[ticket.reference]) + (f"#{anchor}" if anchor else ""))


@never_cache
@require_GET
@customer_required
def ticket_detail(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    if ref != ticket.reference:  # "42" or "sd-42": one canonical address
        return _back(ticket)
    return _page(request, ticket)


@never_cache
@require_POST
@customer_required
def ticket_reply(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    form = forms.ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        if not _actions(ticket).can_reply:
            form.add_error(None, _("This request can no longer be answered. Please open a follow-up request."))
        else:
            contact = _contact(request)
            try:
                with transaction.atomic():
                    if _claim(request, f"portal:ticket_reply:{ticket.pk}:{form.cleaned_data['nonce']}") is None:
                        flash.info(request, _("This reply was already sent."))
                        return _back(ticket)
                    message = services.ticket_reply(
                        ticket=ticket,
                        by=_actor(request, contact),
                        body_text=form.cleaned_data["body"],
                        attachments=new_attachments(form.cleaned_data["attachments"]),
                    )
            except TicketError as exc:
                forms.add_service_error(exc, form)
            else:
                flash.success(request, _("Your reply was added."))
                return _back(ticket, f"m-{message.pk}")
    return _page(request, ticket, reply_form=form, status=400)


def _change_status(
    request: HttpRequest,
    ref: str,
    *,
    allowed: str,
    status: str,
    already_in: frozenset[str],
    already: str,
    done: str,
    refused: str,
) -> HttpResponse:
    ticket = _ticket(request, ref)
    if ticket.status in already_in:
        # The same button sent twice (double click, two tabs, a retry): nothing to do, and no error page
        # telling the customer something that is not so. Simultaneous requests end the same way, as
        # the service leaves a ticket that already has the status alone.
        flash.info(request, already)
        return _back(ticket)
    if not getattr(_actions(ticket), allowed):
        return _page(request, ticket, action_error=refused, status=400)
    try:
        services.ticket_change_status(ticket=ticket, by=_actor(request, _contact(request)), status=status)
    except TicketError as exc:
        return _page(request, ticket, action_error=str(exc), status=400)
    flash.success(request, done)
    return _back(ticket)


@never_cache
@require_POST
@customer_required
def ticket_close(request: HttpRequest, ref: str) -> HttpResponse:
    """Mark as solved: customers solve their requests; ``closed`` stays the desk's final word."""
    return _change_status(
        request,
        ref,
        allowed="can_solve",
        status=Status.SOLVED,
        already_in=frozenset({Status.SOLVED.value}),
        already=_("This request is already marked as solved."),
        done=_("Marked as solved. Thank you!"),
        refused=_("This request is not open, so it cannot be marked as solved."),
    )


@never_cache
@require_POST
@customer_required
def ticket_reopen(request: HttpRequest, ref: str) -> HttpResponse:
    return _change_status(
        request,
        ref,
        allowed="can_reopen",
        status=Status.OPEN,
        already_in=ACTIVE,
        already=_("This request is already open."),
        done=_("The request is open again."),
        refused=_("This request can no longer be reopened. Please open a follow-up request."),
    )


@never_cache
@require_GET
@customer_required
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    """A file of a public message the customer may see, always as a download no browser renders in place."""
    attachment = get_object_or_404(selectors.attachments_visible_to(request.user), pk=pk)
    return attachment_response(attachment)


urlpatterns = [
    path("tickets/", ticket_list, name="tickets"),
    path("tickets/new/", ticket_new, name="ticket_new"),
    path("organization/tickets/", organization_ticket_list, name="organization_tickets"),
    path("tickets/<str:ref>/", ticket_detail, name="ticket"),
    path("tickets/<str:ref>/reply/", ticket_reply, name="ticket_reply"),
    path("tickets/<str:ref>/close/", ticket_close, name="ticket_close"),
    path("tickets/<str:ref>/reopen/", ticket_reopen, name="ticket_reopen"),
    path("attachments/<int:pk>/", attachment_download, name="attachment"),
]
