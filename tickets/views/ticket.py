"""The ticket page of the agent workspace: the conversation as one timeline, the composer, the
ticket's properties, its SLA countdowns and who else is on it.

Every action is a plain POST form that redirects back to the page (or re-renders it with the
reason when refused). Each parses its input, makes one service call and answers; a ticket the
agent may not see is a 404 for reads and writes alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms as django_forms
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts.choices import CustomFieldEntity
from tickets import forms, selectors, services
from tickets import sla as sla_reads
from tickets.choices import (
    Channel,
    DeliveryStatus,
    EventAction,
    LinkKind,
    MessageKind,
    Priority,
    SatisfactionRating,
    Status,
)
from tickets.domain.sla import format_duration
from tickets.downloads import attachment_response
from tickets.filtersets import SLA_SOON
from tickets.models import Message, Ticket, TicketEvent
from tickets.presence import STATES, presence_others, presence_touch
from tickets.services import Actor, TicketError
from tickets.views.common import agent_required, is_htmx

# --- Reading the ticket ---------------------------------------------------------------------------


def _ticket(request: HttpRequest, ref: str) -> Ticket:
    try:
        return selectors.ticket_for(request.user, ref)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a message, or an event of the audit trail."""

    at: datetime
    message: Message | None = None
    event: TicketEvent | None = None
    text: str = ""
    tone: str = ""

    @property
    def is_message(self) -> bool:
        return self.message is not None


_LABELS: dict[str, dict[str, str]] = {
    "status": dict(Status.choices),
    "priority": dict(Priority.choices),
    "channel": dict(Channel.choices),
    "rating": dict(SatisfactionRating.choices),
    "link": {
        LinkKind.RELATED.value: gettext_lazy("related to"),
        LinkKind.FOLLOW_UP.value: gettext_lazy("a follow-up of"),
        f"{LinkKind.RELATED.value}_of": gettext_lazy("related to"),
        f"{LinkKind.FOLLOW_UP.value}_of": gettext_lazy("followed up by"),
    },
}


def _label(kind: str, value: str) -> str:
    return str(_LABELS[kind].get(value, value))


_SLA_PERCENT = re.compile(r"^(warning|escalated) at (\d+) %$")


def _sla_what(stored: str) -> str:
    """An SLA event's stored English value ("met", "warning at 75 %", ...) in the reader's language."""
    if stored in ("met", "met late", "breached"):
        return _(stored)
    match = _SLA_PERCENT.match(stored)
    if match is None:
        return stored
    text = _("warning at %(percent)s %%") if match[1] == "warning" else _("escalated at %(percent)s %%")
    return text % {"percent": match[2]}


def _sla_tone(what: str) -> str:
    text = what.lower()
    if "breach" in text or "escalat" in text or "late" in text:
        return "breach"
    if "warning" in text:
        return "warning"
    return "met" if text.startswith("met") else ""


def _event_line(event: TicketEvent, *, names: dict[int, str], fields: dict[str, str]) -> tuple[str, str]:
    """What an audit event says, as a sentence without its actor, and its tone."""
    old, new, action = event.old_value, event.new_value, event.action
    fmt = {"old": old or "—", "new": new or "—"}
    if action == EventAction.CREATED:
        return _("created the ticket (%(channel)s)") % {"channel": _label("channel", event.channel)}, ""
    if action == EventAction.STATUS:
        return _("changed the status from %(old)s to %(new)s") % {
            "old": _label("status", old),
            "new": _label("status", new),
        }, f"status-{new}"
    if action == EventAction.PRIORITY:
        return _("changed the priority from %(old)s to %(new)s") % {
            "old": _label("priority", old),
            "new": _label("priority", new),
        }, f"priority-{new}"
    if action == EventAction.ASSIGNEE:
        if not new:
            return _("unassigned the ticket"), ""
        return _("assigned the ticket to %(who)s") % {"who": names.get(event.new_ref or 0, new)}, ""
    if action == EventAction.TEAM:
        return (_("moved the ticket to %(new)s") % fmt if new else _("removed the team")), ""
    if action == EventAction.TYPE:
        return _("changed the type from %(old)s to %(new)s") % fmt, ""
    if action == EventAction.TAGS:
        return _("changed the tags from %(old)s to %(new)s") % fmt, ""
    if action == EventAction.CC:
        return _("changed who is copied from %(old)s to %(new)s") % fmt, ""
    if action == EventAction.CUSTOM_FIELD:
        return _("changed %(field)s from %(old)s to %(new)s") % {
            **fmt,
            "field": fields.get(event.field, event.field),
        }, ""
    if action == EventAction.SUBJECT:
        return _("changed the subject from “%(old)s” to “%(new)s”") % fmt, ""
    if action == EventAction.MERGED_INTO:
        return _("merged this ticket into %(new)s") % fmt, "merge"
    if action == EventAction.MERGED_FROM:
        return _("merged %(new)s into this ticket") % fmt, "merge"
    if action == EventAction.LINKED:
        return _("marked this ticket as %(relation)s %(new)s") % {**fmt, "relation": _label("link", event.field)}, ""
    if action == EventAction.SLA:
        target = sla_reads.target_label(event.field)
        return _("SLA %(target)s: %(what)s") % {"target": target, "what": _sla_what(new)}, f"sla-{_sla_tone(new)}"
    if action == EventAction.CSAT:
        return _("rated the ticket %(rating)s") % {"rating": _label("rating", new)}, f"csat-{new}"
    return str(event.get_action_display()), ""


def _timeline(messages: Sequence[Message], events: Sequence[TicketEvent], specs: Iterable[Any]) -> list[Entry]:
    """Messages and events in one list, oldest first; a message before the events it caused."""
    fields = {spec.key: spec.label for spec in specs}
    assignee_ids = {e.new_ref for e in events if e.action == EventAction.ASSIGNEE and e.new_ref}
    names = {
        u.pk: u.get_full_name() or u.get_username() for u in get_user_model().objects.filter(pk__in=assignee_ids)
    } if assignee_ids else {}  # fmt: skip
    rows: list[tuple[tuple, Entry]] = [((m.created_at, 0, m.pk), Entry(at=m.created_at, message=m)) for m in messages]
    for event in events:
        if event.action == EventAction.MESSAGE_ADDED:
            continue  # the message itself is on the timeline
        text, tone = _event_line(event, names=names, fields=fields)
        rows.append(((event.created_at, 1, event.pk), Entry(at=event.created_at, event=event, text=text, tone=tone)))
    rows.sort(key=lambda row: row[0])
    return [entry for _key, entry in rows]


def _address_list(contacts: Iterable[Any]) -> str:
    parts = []
    for contact in contacts:
        emails = list(contact.emails.all())
        if emails:
            parts.append(f"{contact.name} <{emails[0].email}>" if contact.name else emails[0].email)
    return ", ".join(parts)


@dataclass(frozen=True)
class ClockRow:
    """One running or paused SLA target as the page shows it."""

    label: str
    state: str
    due_at: datetime | None
    text: str
    tone: str  # breached | soon | ok | paused


def _clock_rows(clocks: Iterable[Any], now: datetime) -> list[ClockRow]:
    rows = []
    for clock in clocks:
        label = clock.get_target_display()
        if clock.due_at is None or clock.state != "running":
            left = timedelta(seconds=clock.remaining_seconds or 0)
            text = _("paused, %(left)s of business time left") % {"left": format_duration(left)}
            rows.append(ClockRow(label, clock.state, None, text, "paused"))
        elif clock.due_at <= now:
            text = _("%(time)s overdue") % {"time": timesince(clock.due_at, now)}
            rows.append(ClockRow(label, clock.state, clock.due_at, text, "breached"))
        else:
            text = _("due in %(time)s") % {"time": timeuntil(clock.due_at, now)}
            tone = "soon" if clock.due_at - now < SLA_SOON else "ok"
            rows.append(ClockRow(label, clock.state, clock.due_at, text, tone))
    return rows


def _presence(ticket: Ticket, user: Any) -> list[tuple[str, str]]:
    """(name, state) of the other agents on the ticket lately."""
    others = presence_others(ticket.pk, user.pk)
    if not others:
        return []
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=[p.user_id for p in others])}
    return [
        (users[p.user_id].get_full_name() or users[p.user_id].get_username(), p.state)
        for p in others
        if p.user_id in users
    ]


def _page(
    request: HttpRequest,
    ticket: Ticket,
    *,
    status: int = 200,
    reply_form: forms.ReplyForm | None = None,
    note_form: forms.NoteForm | None = None,
    log_form: forms.InteractionForm | None = None,
    property_forms: dict[str, django_forms.Form] | None = None,
    merge_form: forms.MergeForm | None = None,
    merge_target: Ticket | None = None,
    link_form: forms.LinkForm | None = None,
    conflict: Sequence[Message] = (),
) -> HttpResponse:
    """The ticket page; forms given here (bound, with errors) replace the empty ones."""
    user = request.user
    conversation = list(selectors.messages_visible_to(user, ticket))
    specs = account_selectors.custom_field_specs(CustomFieldEntity.TICKET)
    timeline = _timeline(conversation, list(selectors.ticket_events(ticket)), specs)
    newest = max((m.pk for m in conversation), default=0)
    tags = sorted(t.name for t in ticket.tags.all())
    cc = list(selectors.ticket_cc_contacts(ticket))
    cc_text = _address_list(cc)
    presence_touch(ticket.pk, user.pk, "viewing")
    initial_props: dict[str, django_forms.Form] = {
        "status": forms.StatusForm(initial={"status": ticket.status}),
        "priority": forms.PriorityForm(initial={"priority": ticket.priority}),
        "assignee": forms.AssigneeForm(
            initial={"assignee": ticket.assignee_id}, agents=selectors.assignable_agents(ticket)
        ),
        "team": forms.TeamForm(initial={"team": ticket.team_id}),
        "type": forms.TypeForm(initial={"type": ticket.type_id}, current_type_id=ticket.type_id),
        "tags": forms.TagsForm(initial={"tags": ", ".join(tags)}),
        "cc": forms.CCForm(initial={"cc": cc_text}),
        "fields": forms.CustomFieldsForm(initial=forms.custom_field_initial(specs, ticket.custom_fields), specs=specs),
    }
    initial_props.update(property_forms or {})
    if not specs:
        initial_props.pop("fields")
    reply_form = reply_form or forms.ReplyForm(initial={"seen": newest}, cc_initial=cc_text)
    # Typing a reply tells the others on the ticket (throttled); the poll answers with who else is here.
    reply_form.fields["body"].widget.attrs.update(
        {
            "hx-get": reverse("desk:ticket-presence", args=[ticket.reference]) + "?state=replying",
            "hx-trigger": "input changed throttle:5s",
            "hx-target": "#presence",
            "hx-params": "none",
        }
    )
    context = {
        "title": f"{ticket.reference} {ticket.subject}",
        "ticket": ticket,
        "timeline": timeline,
        "message_count": len(conversation),
        "newest_message_id": newest,
        "tags": tags,
        "cc": cc,
        "custom_values": [(spec.label, (ticket.custom_fields or {}).get(spec.key)) for spec in specs],
        "clocks": _clock_rows(selectors.ticket_open_clocks(ticket), timezone.now()),
        "links": [(_label("link", kind), other) for kind, other in selectors.ticket_links_visible_to(user, ticket)],
        "merged_from": list(selectors.tickets_merged_into(user, ticket)),
        "others": _presence(ticket, user),
        "reply_form": reply_form,
        "note_form": note_form or forms.NoteForm(initial={"seen": newest}),
        "log_form": log_form or forms.InteractionForm(),
        "props": initial_props,
        "merge_form": merge_form or forms.MergeForm(),
        "merge_target": merge_target,
        # Copying the requester onto the target shows them its conversation: proposed only when
        # both tickets are the same customer's or the same organization's.
        "merge_same_customer": merge_target is not None and services.tickets_share_customer(ticket, merge_target),
        "link_form": link_form or forms.LinkForm(),
        "conflict": conflict,
        "is_active": ticket.is_active,
        "can_solve": ticket.status not in (Status.SOLVED, Status.CLOSED),
        "can_take": ticket.is_active and ticket.assignee_id != user.pk,
        "macros": list(selectors.macros_for(user)) if ticket.is_active else [],
    }
    return render(request, "desk/tickets/detail.html", context, status=status)


def _back(ticket: Ticket, anchor: str = "") -> HttpResponse:
    return redirect(reverse("desk:ticket", args=[ticket.reference]) + (f"#{anchor}" if anchor else ""))


@require_GET
@agent_required
def ticket_detail(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    if ref != ticket.reference:  # "12" or "sd-12": one canonical address, so j/k find it in the list
        return _back(ticket)
    return _page(request, ticket)


# --- Writing --------------------------------------------------------------------------------------


@require_POST
@agent_required
def ticket_reply(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    form = forms.ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            message = services.ticket_reply_with_cc(
                ticket=ticket,
                by=Actor.agent(request.user),
                body_text=form.cleaned_data["body"],
                attachments=forms.new_attachments(form.cleaned_data["attachments"]),
                status=form.cleaned_data["status"] or None,
                cc=form.cc_addresses(),
                seen_message_id=form.seen_message_id(),
            )
        except services.ConversationMoved as exc:
            return _page(request, ticket, status=409, reply_form=form, conflict=exc.messages)
        except TicketError as exc:
            forms.add_service_error(form, exc)
            flash.error(request, _("Not sent: %(reason)s") % {"reason": exc})
        else:
            if message.delivery_status == DeliveryStatus.QUEUED:
                flash.success(request, _("Reply sent: it is on its way by email."))
            else:
                flash.success(request, _("Reply added. The requester has no email address, so nothing was emailed."))
            return _back(ticket, f"m-{message.pk}")
    return _page(request, ticket, status=400, reply_form=form)


@require_POST
@agent_required
def ticket_note(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    form = forms.NoteForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            message, notified = services.ticket_add_note_mentioning(
                ticket=ticket,
                by=Actor.agent(request.user),
                body_text=form.cleaned_data["body"],
                attachments=forms.new_attachments(form.cleaned_data["attachments"]),
                seen_message_id=form.seen_message_id(),
            )
        except services.ConversationMoved as exc:
            return _page(request, ticket, status=409, note_form=form, conflict=exc.messages)
        except TicketError as exc:
            forms.add_service_error(form, exc)
            flash.error(request, _("Not added: %(reason)s") % {"reason": exc})
        else:
            if notified:
                names = ", ".join(n.recipient.get_full_name() or n.recipient.get_username() for n in notified)
                flash.success(request, _("Note added; notified: %(names)s.") % {"names": names})
            else:
                flash.success(request, _("Note added."))
            return _back(ticket, f"m-{message.pk}")
    return _page(request, ticket, status=400, note_form=form)


@require_POST
@agent_required
def ticket_log(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    form = forms.InteractionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            message = services.ticket_log_interaction(
                ticket=ticket,
                by=Actor.agent(request.user),
                kind=data["kind"],
                body_text=data["body"],
                occurred_at=data["occurred_at"],
                duration_minutes=data["duration_minutes"],
            )
        except TicketError as exc:
            forms.add_service_error(form, exc)
            flash.error(request, _("Not logged: %(reason)s") % {"reason": exc})
        else:
            done = _("Phone call logged.") if message.kind == MessageKind.PHONE_CALL else _("Meeting logged.")
            flash.success(request, done)
            return _back(ticket, f"m-{message.pk}")
    return _page(request, ticket, status=400, log_form=form)


# --- Ticket properties ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One property: how to build its form for a ticket, and the one service call that applies it."""

    form: Callable[[Any, Ticket], django_forms.Form]
    apply: Callable[[Ticket, Actor, Any], object]
    done: Any  # a lazy translation


def _custom_fields_form(data: Any, ticket: Ticket) -> forms.CustomFieldsForm:
    return forms.CustomFieldsForm(data, specs=account_selectors.custom_field_specs(CustomFieldEntity.TICKET))


def _apply_tags(ticket: Ticket, by: Actor, form: forms.TagsForm) -> object:
    add, remove = form.changes([t.name for t in ticket.tags.all()])
    return services.ticket_update_tags(ticket=ticket, by=by, add=add, remove=remove)


CHANGES: dict[str, _Change] = {
    "status": _Change(
        form=lambda data, t: forms.StatusForm(data),
        apply=lambda t, by, f: services.ticket_change_status(ticket=t, by=by, status=f.cleaned_data["status"]),
        done=gettext_lazy("Status changed."),
    ),
    "priority": _Change(
        form=lambda data, t: forms.PriorityForm(data),
        apply=lambda t, by, f: services.ticket_change_priority(ticket=t, by=by, priority=f.cleaned_data["priority"]),
        done=gettext_lazy("Priority changed."),
    ),
    "assignee": _Change(
        form=lambda data, t: forms.AssigneeForm(data, agents=selectors.assignable_agents(t)),
        apply=lambda t, by, f: services.ticket_assign(ticket=t, by=by, assignee=f.cleaned_data["assignee"]),
        done=gettext_lazy("Assignee changed."),
    ),
    "team": _Change(
        form=lambda data, t: forms.TeamForm(data),
        apply=lambda t, by, f: services.ticket_set_team(ticket=t, by=by, team=f.cleaned_data["team"]),
        done=gettext_lazy("Team changed."),
    ),
    "type": _Change(
        form=lambda data, t: forms.TypeForm(data, current_type_id=t.type_id),
        apply=lambda t, by, f: services.ticket_set_type(ticket=t, by=by, type=f.cleaned_data["type"]),
        done=gettext_lazy("Type changed."),
    ),
    "tags": _Change(form=lambda data, t: forms.TagsForm(data), apply=_apply_tags, done=gettext_lazy("Tags saved.")),
    "cc": _Change(
        form=lambda data, t: forms.CCForm(data),
        apply=lambda t, by, f: services.ticket_set_cc_addresses(ticket=t, by=by, addresses=f.addresses()),
        done=gettext_lazy("CC saved."),
    ),
    "fields": _Change(
        form=_custom_fields_form,
        apply=lambda t, by, f: services.ticket_set_custom_fields(ticket=t, by=by, values=f.values()),
        done=gettext_lazy("Fields saved."),
    ),
}


@require_POST
@agent_required
def ticket_change(request: HttpRequest, ref: str, prop: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    change = CHANGES.get(prop)
    if change is None:
        raise Http404("No such property.")
    by = Actor.agent(request.user)
    if prop == "assignee" and request.POST.get("assignee") == "me":
        # "Assign to me": the agent need not be in the list (the service says why if they may not).
        try:
            services.ticket_assign(ticket=ticket, by=by, assignee=request.user)
        except TicketError as exc:
            flash.error(request, str(exc))
        else:
            flash.success(request, _("Assigned to you."))
        return _back(ticket)
    form = change.form(request.POST, ticket)
    if form.is_valid():
        try:
            change.apply(ticket, by, form)
        except TicketError as exc:
            forms.add_service_error(form, exc)
        else:
            flash.success(request, change.done)
            return _back(ticket)
    flash.error(request, _("Nothing was changed: %(reason)s") % {"reason": _form_reason(form)})
    return _page(request, ticket, status=400, property_forms={prop: form})


def _form_reason(form: django_forms.Form) -> str:
    errors = [str(e) for e in form.non_field_errors()]
    for name, field_errors in form.errors.items():
        if name == "__all__":
            continue
        label = form.fields[name].label if name in form.fields else name
        errors += [f"{label}: {e}" for e in field_errors]
    return " ".join(errors) or _("the input was not valid.")


# --- Merging and linking --------------------------------------------------------------------------


def _other_ticket(request: HttpRequest, form: django_forms.Form) -> Ticket | None:
    """The ticket a form names by reference, if the agent may see it (else a form error)."""
    try:
        return selectors.ticket_for(request.user, form.cleaned_data["target"].strip())
    except Ticket.DoesNotExist:
        form.add_error(
            "target", _("There is no ticket %(ref)s that you can see.") % {"ref": form.cleaned_data["target"]}
        )
        return None


@require_POST
@agent_required
def ticket_merge(request: HttpRequest, ref: str) -> HttpResponse:
    """Merge this ticket into another: the first POST asks for confirmation, the second (confirm=1) merges."""
    ticket = _ticket(request, ref)
    form = forms.MergeForm(request.POST)
    if form.is_valid() and (target := _other_ticket(request, form)) is not None:
        if target.pk == ticket.pk:
            form.add_error("target", _("A ticket cannot be merged into itself."))
        elif not form.cleaned_data["confirm"]:
            return _page(request, ticket, merge_form=form, merge_target=target)
        else:
            try:
                services.ticket_merge(
                    source=ticket,
                    target=target,
                    by=Actor.agent(request.user),
                    copy_people=form.cleaned_data["copy_people"],
                )
            except TicketError as exc:
                forms.add_service_error(form, exc)
            else:
                flash.success(
                    request, _("%(source)s was merged into %(target)s.") % {"source": ref, "target": target.reference}
                )
                return _back(target)
    flash.error(request, _("Not merged: %(reason)s") % {"reason": _form_reason(form)})
    return _page(request, ticket, status=400, merge_form=form)


@require_POST
@agent_required
def ticket_link(request: HttpRequest, ref: str) -> HttpResponse:
    ticket = _ticket(request, ref)
    form = forms.LinkForm(request.POST)
    if form.is_valid() and (target := _other_ticket(request, form)) is not None:
        try:
            services.ticket_link(
                source=ticket, target=target, by=Actor.agent(request.user), kind=form.cleaned_data["kind"]
            )
        except TicketError as exc:
            forms.add_service_error(form, exc)
        else:
            flash.success(request, _("Linked with %(target)s.") % {"target": target.reference})
            return _back(ticket)
    flash.error(request, _("Not linked: %(reason)s") % {"reason": _form_reason(form)})
    return _page(request, ticket, status=400, link_form=form)


# --- Small reads: SLA explanation, presence, attachments -------------------------------------------


@require_GET
@agent_required
def ticket_sla(request: HttpRequest, ref: str) -> HttpResponse:
    """How each SLA due date of the ticket came about (a fragment for htmx, else a page)."""
    ticket = _ticket(request, ref)
    context = {"ticket": ticket, "explanations": sla_reads.sla_explanation(ticket), "title": ticket.reference}
    template = "desk/tickets/_sla_explanation.html" if is_htmx(request) else "desk/tickets/_sla_page.html"
    return render(request, template, context)


@require_GET
@agent_required
def ticket_presence(request: HttpRequest, ref: str) -> HttpResponse:
    """Polled by the page: record this agent (viewing or replying) and show who else is on the ticket.

    With ``seen`` (the newest message id on the agent's page) it also says when new messages arrived.
    """
    ticket = _ticket(request, ref)
    state = request.GET.get("state", "viewing")
    presence_touch(ticket.pk, request.user.pk, state if state in STATES else "viewing")
    newer = 0
    seen = request.GET.get("seen", "")
    if seen.isdigit():
        newer = selectors.messages_visible_to(request.user, ticket).filter(pk__gt=int(seen)).count()
    context = {"ticket": ticket, "others": _presence(ticket, request.user), "newer": newer}
    return render(request, "desk/tickets/_presence.html", context)


@require_GET
@agent_required
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    """A file of a message the agent may see, always as a download that no browser renders in place."""
    attachment = get_object_or_404(selectors.attachments_visible_to(request.user), pk=pk)
    return attachment_response(attachment)


urlpatterns = [
    path("tickets/<str:ref>/", ticket_detail, name="ticket"),
    path("tickets/<str:ref>/reply/", ticket_reply, name="ticket-reply"),
    path("tickets/<str:ref>/note/", ticket_note, name="ticket-note"),
    path("tickets/<str:ref>/log/", ticket_log, name="ticket-log"),
    path("tickets/<str:ref>/change/<slug:prop>/", ticket_change, name="ticket-change"),
    path("tickets/<str:ref>/merge/", ticket_merge, name="ticket-merge"),
    path("tickets/<str:ref>/link/", ticket_link, name="ticket-link"),
    path("tickets/<str:ref>/sla/", ticket_sla, name="ticket-sla"),
    path("tickets/<str:ref>/presence/", ticket_presence, name="ticket-presence"),
    path("attachments/<int:pk>/", attachment_download, name="attachment"),
]
