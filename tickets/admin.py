"""Admin for tickets and the desk configuration around them.

Tickets are never saved by the admin. The ticket form edits status, priority, team, assignee,
type and tags; the admin works out what differs from the database row and hands each change to
``tickets.services`` as the logged-in agent, all in one transaction. The form first tries the
changes in a savepoint it rolls back, so a refused change is shown as a form error with the
input kept. The conversation, audit timeline, links and CCs are read-only here: they only come
from the services.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from accounts import selectors as account_selectors
from accounts.admin import EstimatedCountPaginator
from accounts.choices import CustomFieldEntity
from tickets import services, sla
from tickets.choices import Status
from tickets.domain import status as state
from tickets.domain.references import parse_reference
from tickets.models import (
    Attachment,
    BulkJob,
    BusinessCalendar,
    BusinessHours,
    EscalationLevel,
    Holiday,
    Macro,
    Message,
    Notification,
    SavedView,
    SLAEscalation,
    SLAPause,
    SLAPolicy,
    SLAPolicyRule,
    SLATarget,
    Tag,
    Ticket,
    TicketCC,
    TicketEvent,
    TicketLink,
    TicketSLAClock,
    TicketType,
)

# --- Shared helpers -------------------------------------------------------------------------------


def _ticket_number(term: str) -> int | None:
    """``SD-1042``, ``sd-1042`` or ``1042`` -> 1042; anything else -> None."""
    text = term.strip()
    if text.isdigit() and len(text) <= 18:
        return int(text)
    return parse_reference(text, settings.TICKET_REFERENCE_PREFIX)


class TicketNumberSearchMixin:
    """A search term that is a ticket reference filters by ticket id (an index lookup, not a scan)."""

    ticket_id_lookups: tuple[str, ...] = ("ticket_id",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        number = _ticket_number(search_term)
        if number is not None:
            query = Q()
            for lookup in self.ticket_id_lookups:
                query |= Q(**{lookup: number})
            return queryset.filter(query), False
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """View only: these rows are written by the services and are part of the audit trail."""

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


def _short(text: str, length: int = 80) -> str:
    return Truncator(" ".join((text or "").split())).chars(length)


def _author(message: Message) -> str:
    if message.author_user_id:
        return message.author_user.get_full_name() or message.author_user.get_username()
    if message.author_contact_id:
        return str(message.author_contact)
    return str(_("System"))


# --- Desk configuration ---------------------------------------------------------------------------


@admin.register(TicketType)
class TicketTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "visibility",
        "owner",
        "team",
        "set_status",
        "set_priority",
        "set_team",
        "is_active",
        "usage_count",
    ]
    list_filter = ["is_active", "visibility", "team", "set_status", "set_priority"]
    list_select_related = ["owner", "team", "set_team"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["owner"]
    filter_horizontal = ["add_tags", "remove_tags"]
    readonly_fields = ["usage_count", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"]}),
        (_("Who sees it"), {"fields": ["visibility", "owner", "team"]}),
        (_("Reply"), {"fields": ["reply_text"]}),
        (_("Actions"), {"fields": ["set_status", "set_priority", "set_team", "add_tags", "remove_tags"]}),
        (_("Usage"), {"fields": ["usage_count", "created_at"]}),
    ]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "visibility", "owner", "team", "sort", "position"]
    list_filter = ["visibility", "team"]
    list_select_related = ["owner", "team"]
    search_fields = ["name"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at"]


class SLATargetInline(admin.TabularInline):
    model = SLATarget
    extra = 0


class EscalationLevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0
    autocomplete_fields = ["move_to_team"]


class SLAConfigChangeMixin:
    """Saving or deleting SLA configuration bumps its version and recomputes the tickets it governs
    (after commit, in a task): each admin names what changed with ``changed(obj)``."""

    def changed(self, obj: Any) -> None:
        raise NotImplementedError

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        self.changed(form.instance)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        before = copy.copy(obj)  # deleting clears obj.pk
        super().delete_model(request, obj)  # type: ignore[misc]
        self.changed(before)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        objects = list(queryset)
        super().delete_queryset(request, queryset)  # type: ignore[misc]
        for obj in objects:
            self.changed(obj)


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    inlines = [BusinessHoursInline, HolidayInline]
    list_display = ["name", "time_zone", "always_open", "updated_at"]
    list_filter = ["always_open", "time_zone"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]

    def changed(self, obj: BusinessCalendar) -> None:
        if obj.pk:
            sla.calendar_changed(obj.pk)


@admin.register(BusinessHours)
class BusinessHoursAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    list_display = ["calendar", "weekday", "opens_at", "closes_at"]
    list_filter = ["calendar", "weekday"]
    list_select_related = ["calendar"]

    def changed(self, obj: BusinessHours) -> None:
        sla.calendar_changed(obj.calendar_id)


@admin.register(Holiday)
class HolidayAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    list_display = ["date", "name", "yearly", "calendar"]
    list_filter = ["calendar", "yearly"]
    list_select_related = ["calendar"]
    search_fields = ["name"]
    date_hierarchy = "date"

    def changed(self, obj: Holiday) -> None:
        sla.calendar_changed(obj.calendar_id)


@admin.register(SLAPolicy)
class SLAPolicyAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    inlines = [SLATargetInline, EscalationLevelInline]
    list_display = ["name", "is_default", "calendar", "warning_percent", "short_description", "created_at"]
    list_filter = ["is_default"]
    list_select_related = ["calendar"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    @admin.display(description=_("description"))
    def short_description(self, obj: SLAPolicy) -> str:
        return _short(obj.description)

    def changed(self, obj: SLAPolicy) -> None:
        if obj.pk:
            sla.policy_changed(obj.pk)


@admin.register(SLATarget)
class SLATargetAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    list_display = ["policy", "priority", "first_response_minutes", "next_response_minutes", "resolution_minutes"]
    list_filter = ["priority", "policy"]
    list_select_related = ["policy"]
    search_fields = ["policy__name"]

    def changed(self, obj: SLATarget) -> None:
        sla.policy_changed(obj.policy_id)


@admin.register(EscalationLevel)
class EscalationLevelAdmin(SLAConfigChangeMixin, admin.ModelAdmin):
    list_display = [
        "policy",
        "target",
        "percent",
        "notify_assignee",
        "notify_team_lead",
        "notify_account_manager",
        "raise_priority",
        "move_to_team",
        "add_note",
    ]
    list_filter = ["target", "policy"]
    list_select_related = ["policy", "move_to_team"]
    autocomplete_fields = ["move_to_team"]

    def changed(self, obj: EscalationLevel) -> None:
        sla.policy_changed(obj.policy_id)


@admin.register(SLAPolicyRule)
class SLAPolicyRuleAdmin(admin.ModelAdmin):
    """Rules apply to tickets created (or whose type changes) after the change; existing tickets keep
    their policy (``sla.selection_changed`` chooses again for active tickets when that is wanted)."""

    list_display = ["kind", "position", "tier", "ticket_type", "channel", "policy"]
    list_filter = ["kind", "policy"]
    list_select_related = ["policy", "ticket_type"]
    list_editable = ["position"]


# --- Tickets --------------------------------------------------------------------------------------


class TicketChangeRejected(Exception):
    """A service refused a change at save time; the admin's transaction is rolled back."""


def apply_ticket_changes(*, ticket_id: int, by: services.Actor, data: Mapping[str, Any]) -> list[str]:
    """Hand what ``data`` changes on the ticket to the services, in an order that lets them all pass.

    Team before assignee (a new team may unassign), status last (closing ends all other changes).
    Compared with the database row, not with what the form showed. Returns the changed fields.
    Must run inside a transaction: a ``TicketError`` from any service leaves the caller to roll back.
    """
    current = Ticket.objects.prefetch_related("tags").get(pk=ticket_id)
    ticket = current
    changed: list[str] = []

    def differs(name: str, current_id: object) -> bool:
        if name not in data:
            return False
        value = data[name]
        return (value.pk if value is not None else None) != current_id

    if differs("team", current.team_id):
        ticket = services.ticket_set_team(ticket=ticket, by=by, team=data["team"])
        changed.append("team")
    if differs("assignee", current.assignee_id):
        ticket = services.ticket_assign(ticket=ticket, by=by, assignee=data["assignee"])
        changed.append("assignee")
    if differs("type", current.type_id):
        ticket = services.ticket_set_type(ticket=ticket, by=by, type=data["type"])
        changed.append("type")
    if "tags" in data:
        before = {tag.name for tag in current.tags.all()}
        after = {tag.name for tag in data["tags"]}
        if before != after:
            ticket = services.ticket_update_tags(
                ticket=ticket, by=by, add=sorted(after - before), remove=sorted(before - after)
            )
            changed.append("tags")
    if "priority" in data and data["priority"] != current.priority:
        ticket = services.ticket_change_priority(ticket=ticket, by=by, priority=data["priority"])
        changed.append("priority")
    if "status" in data and data["status"] != current.status:
        services.ticket_change_status(ticket=ticket, by=by, status=data["status"])
        changed.append("status")
    return changed


class TicketAdminForm(forms.ModelForm):
    """Edits a few handling fields; validates them by running the services in a rolled-back savepoint."""

    # Set on the per-request form class by TicketAdmin.get_form.
    actor: services.Actor | None = None

    class Meta:
        model = Ticket
        fields = ["status", "priority", "team", "assignee", "type", "tags"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields.get("status")
        if status is not None and self.instance.pk:
            allowed = state.allowed_transitions(state.Status(self.instance.status))
            labels = [str(Status(s.value).label).lower() for s in Status if s in allowed]
            status.help_text = _("From %(current)s it can move to: %(allowed)s.") % {
                "current": str(Status(self.instance.status).label).lower(),
                "allowed": ", ".join(labels) or _("nothing (final)"),
            }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors or self.instance.pk is None or self.actor is None:
            return cleaned
        try:
            with transaction.atomic():
                # Lock the row outside the trial savepoint so the lock outlives its rollback and
                # the real run in save_model sees the same ticket.
                Ticket.objects.select_for_update().filter(pk=self.instance.pk).values_list("pk").first()
                with transaction.atomic():
                    apply_ticket_changes(ticket_id=self.instance.pk, by=self.actor, data=cleaned)
                    transaction.set_rollback(True)
        except services.TicketError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, str(exc))
        return cleaned


class MessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Message
    fields = ["created_at", "kind", "channel", "author", "body", "attachment_names"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = _("conversation")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return (
            super()
            .get_queryset(request)
            .select_related("author_user", "author_contact")
            .prefetch_related("attachments")
            .order_by("created_at", "id")
        )

    @admin.display(description=_("author"))
    def author(self, obj: Message) -> str:
        return _author(obj)

    @admin.display(description=_("text"))
    def body(self, obj: Message) -> str:
        return _short(obj.body_text, 300)

    @admin.display(description=_("attachments"))
    def attachment_names(self, obj: Message) -> str:
        return ", ".join(a.filename for a in obj.attachments.all())


class TicketEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TicketEvent
    fields = ["created_at", "action", "field", "old_value", "new_value", "actor_label", "channel"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("timeline")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketEvent]:
        return super().get_queryset(request).select_related("actor", "actor_contact").order_by("created_at", "id")

    @admin.display(description=_("by"))
    def actor_label(self, obj: TicketEvent) -> str:
        return str(obj.actor_label)


class TicketCCInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TicketCC
    fields = ["contact", "created_at"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketCC]:
        return super().get_queryset(request).select_related("contact")


class TicketLinkInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TicketLink
    fk_name = "source"
    fields = ["kind", "target", "created_at"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("links to other tickets")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketLink]:
        return super().get_queryset(request).select_related("target")


class AssigneeFilter(admin.SimpleListFilter):
    """Agents only (the users table also holds every customer login)."""

    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        agents = [
            (str(profile.user_id), profile.user.get_full_name() or profile.user.get_username())
            for profile in account_selectors.agents_qs()
        ]
        return [("none", _("Unassigned")), *agents]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


@admin.register(Ticket)
class TicketAdmin(TicketNumberSearchMixin, admin.ModelAdmin):
    form = TicketAdminForm
    ticket_id_lookups = ("pk",)
    inlines = [MessageInline, TicketEventInline, TicketCCInline, TicketLinkInline]
    list_display = [
        "reference",
        "subject",
        "status",
        "priority",
        "requester",
        "organization",
        "assignee",
        "team",
        "type",
        "channel",
        "updated_at",
    ]
    list_display_links = ["reference", "subject"]
    list_filter = ["status", "priority", "channel", "team", "type", AssigneeFilter]
    list_select_related = ["requester", "organization", "assignee", "team", "type"]
    search_fields = ["subject"]
    search_help_text = _("A reference such as SD-1042, or words of the subject.")
    autocomplete_fields = ["assignee", "tags"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [
        "reference",
        "subject",
        "requester",
        "organization",
        "channel",
        "custom_fields_display",
        "merged_into",
        "sla_policy",
        "first_response_due_at",
        "next_response_due_at",
        "resolution_due_at",
        "sla_due_at",
        "first_responded_at",
        "last_customer_message_at",
        "last_agent_message_at",
        "solved_at",
        "closed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "subject", "requester", "organization", "channel", "merged_into"]}),
        (_("Handling"), {"fields": ["status", "priority", "team", "assignee", "type", "tags"]}),
        (_("Custom fields"), {"fields": ["custom_fields_display"]}),
        (
            _("Service level"),
            {
                "fields": [
                    "sla_policy",
                    "first_response_due_at",
                    "next_response_due_at",
                    "resolution_due_at",
                    "sla_due_at",
                ]
            },
        ),
        (
            _("Times"),
            {
                "fields": [
                    "created_at",
                    "updated_at",
                    "first_responded_at",
                    "last_customer_message_at",
                    "last_agent_message_at",
                    "solved_at",
                    "closed_at",
                ]
            },
        ),
    ]
    editable_fields = ("status", "priority", "team", "assignee", "type", "tags")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return (
            super()
            .get_queryset(request)
            .select_related("requester", "organization", "assignee", "team", "type", "merged_into", "sla_policy")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tickets come in through the channels (and ticket_create), never the admin

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False  # there is no deleting service; deleting here would leave no audit trail

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status == Status.CLOSED:
            fields += self.editable_fields  # closed is final; the services refuse every change
        return fields

    def get_form(self, request: HttpRequest, obj: Ticket | None = None, change: bool = False, **kwargs: Any) -> type:
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = services.Actor.agent(request.user)  # a fresh class per request
        return form

    def save_model(self, request: HttpRequest, obj: Ticket, form: forms.ModelForm, change: bool) -> None:
        # Never obj.save(): the services write the ticket and its audit events.
        try:
            with transaction.atomic():
                apply_ticket_changes(ticket_id=obj.pk, by=services.Actor.agent(request.user), data=form.cleaned_data)
        except services.TicketError as exc:
            # Only if the desk changed between the form's trial run and now.
            raise TicketChangeRejected(str(exc)) from exc
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        # Tags went through ticket_update_tags in save_model; form.save_m2m() must not set them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except TicketChangeRejected as exc:
            # The exception left the admin's atomic block, so nothing of this request was kept.
            self.message_user(request, _("Nothing was changed: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.display(description=_("reference"), ordering="id")
    def reference(self, obj: Ticket) -> str:
        return obj.reference

    @admin.display(description=_("custom fields"))
    def custom_fields_display(self, obj: Ticket) -> str:
        if not obj.custom_fields:
            return "-"
        labels = {spec.key: spec.label for spec in account_selectors.custom_field_specs(CustomFieldEntity.TICKET)}
        return format_html(
            "<dl>{}</dl>",
            format_html_join(
                "",
                "<dt>{}</dt><dd>{}</dd>",
                ((labels.get(key, key), _custom_value_text(value)) for key, value in sorted(obj.custom_fields.items())),
            ),
        )


def _custom_value_text(value: object) -> str:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


# --- The conversation and the audit trail (read-only) ---------------------------------------------


@admin.register(Message)
class MessageAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "ticket", "kind", "channel", "author", "excerpt", "created_at"]
    list_filter = ["kind", "channel"]
    list_select_related = ["ticket", "author_user", "author_contact"]
    search_fields = ["from_address", "message_id"]
    search_help_text = _("A ticket reference such as SD-1042, or a sender address or Message-ID.")
    raw_id_fields = ["ticket", "author_user", "author_contact"]
    ordering = ["-id"]  # newest first along the primary key, not a sort of every message
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description=_("author"))
    def author(self, obj: Message) -> str:
        return _author(obj)

    @admin.display(description=_("text"))
    def excerpt(self, obj: Message) -> str:
        return _short(obj.body_text, 60)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["filename", "message", "ticket_id", "content_type", "size", "is_inline", "created_at"]
    list_filter = ["is_inline"]
    list_select_related = ["message"]
    search_fields = ["filename", "=sha256"]
    raw_id_fields = ["message"]
    ordering = ["-id"]

    @admin.display(description=_("ticket"), ordering="message__ticket_id")
    def ticket_id(self, obj: Attachment) -> int:
        return obj.message.ticket_id


@admin.register(TicketEvent)
class TicketEventAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "ticket", "action", "field", "old", "new", "actor_label", "channel", "created_at"]
    list_filter = ["action", "channel", ("published_at", admin.EmptyFieldListFilter)]
    list_select_related = ["ticket", "actor", "actor_contact"]
    search_help_text = _("A ticket reference such as SD-1042.")
    search_fields = ["field"]
    raw_id_fields = ["ticket", "message", "actor", "actor_contact"]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description=_("old value"))
    def old(self, obj: TicketEvent) -> str:
        return _short(obj.old_value, 40)

    @admin.display(description=_("new value"))
    def new(self, obj: TicketEvent) -> str:
        return _short(obj.new_value, 40)

    @admin.display(description=_("by"))
    def actor_label(self, obj: TicketEvent) -> str:
        return str(obj.actor_label)


@admin.register(TicketLink)
class TicketLinkAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    ticket_id_lookups = ("source_id", "target_id")
    list_display = ["source", "kind", "target", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["source", "target"]
    search_fields = ["source__subject", "target__subject"]
    raw_id_fields = ["source", "target"]
    ordering = ["-id"]


@admin.register(TicketCC)
class TicketCCAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ticket", "contact", "created_at"]
    list_filter = ["created_at"]
    list_select_related = ["ticket", "contact"]
    search_fields = ["contact__name", "contact__emails__email"]
    raw_id_fields = ["ticket", "contact"]
    ordering = ["-id"]


# --- SLA state of tickets (read-only: written by tickets.sla) -------------------------------------


@admin.register(TicketSLAClock)
class TicketSLAClockAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ticket", "target", "cycle", "state", "policy_name", "priority", "due_at", "met_at", "breached_at"]
    list_filter = ["target", "state", "priority", ("breached_at", admin.EmptyFieldListFilter)]
    list_select_related = ["ticket"]
    search_fields = ["policy_name"]
    search_help_text = _("A ticket reference such as SD-1042, or a policy name.")
    raw_id_fields = ["ticket", "policy"]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(SLAPause)
class SLAPauseAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ticket", "status", "started_at", "ended_at"]
    list_filter = ["status"]
    list_select_related = ["ticket"]
    search_help_text = _("A ticket reference such as SD-1042.")
    raw_id_fields = ["ticket"]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(SLAEscalation)
class SLAEscalationAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ticket", "target", "percent", "due_at", "fired_at", "short_outcome"]
    list_filter = ["target", "percent", ("fired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["ticket"]
    search_help_text = _("A ticket reference such as SD-1042.")
    raw_id_fields = ["ticket", "clock"]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description=_("outcome"))
    def short_outcome(self, obj: SLAEscalation) -> str:
        return _short(obj.outcome, 60)


@admin.register(Notification)
class NotificationAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "recipient", "kind", "created_at", "read_at", "email_status", "email_sent_at"]
    list_filter = ["kind", "email_status", ("read_at", admin.EmptyFieldListFilter)]
    list_select_related = ["recipient", "ticket"]
    search_fields = ["title", "recipient__username"]
    search_help_text = _("A ticket reference such as SD-1042, a title or a username.")
    raw_id_fields = ["recipient", "ticket", "escalation"]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Bulk jobs run from the workspace: what was asked, and what changed or was refused."""

    list_display = ("id", "action", "created_by", "state", "total", "changed", "unchanged", "refused", "created_at")
    list_filter = ("state", "action")
    list_select_related = ("created_by",)
    readonly_fields = [f.name for f in BulkJob._meta.fields]


# --- CSAT ---------------------------------------------------------------------------------------------

from tickets.models import SatisfactionSurvey  # noqa: E402


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(TicketNumberSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Satisfaction surveys, one per solve: written by the survey subscriber and the customers' answers."""

    list_display = (
        "ticket",
        "solve_number",
        "contact",
        "agent",
        "team",
        "rating",
        "created_at",
        "sent_at",
        "answered_at",
    )
    list_filter = ("rating", ("answered_at", admin.EmptyFieldListFilter), "team")
    list_select_related = ("ticket", "contact", "agent", "team")
    search_fields = ("contact__name", "comment")
    search_help_text = _("A ticket reference such as SD-1042, a customer's name or words of a comment.")
    raw_id_fields = ("ticket", "contact", "agent", "team", "organization")
    readonly_fields = [f.name for f in SatisfactionSurvey._meta.fields]
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
