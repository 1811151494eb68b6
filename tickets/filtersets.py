"""Ticket filters shared by the workspace lists, bulk "all that match" and the REST API.

Every filter narrows a queryset that already comes scoped from ``tickets.selectors``; a filter can
never widen what a user sees. Invalid values are form errors, not exceptions.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Tier
from accounts.models import Team
from tickets.choices import ACTIVE_STATUS_VALUES, TICKET_CHANNELS, Priority, Status
from tickets.models import Ticket, TicketType

# "Due soon" in the SLA filter, the same window as the built-in "Breaching soon" view.
SLA_SOON = timedelta(hours=2)


class SLAState:
    BREACHED = "breached"
    DUE_SOON = "due_soon"
    ON_TRACK = "on_track"
    NONE = "none"

    choices = [
        (BREACHED, _("Breached")),
        (DUE_SOON, _("Due within 2 hours")),
        (ON_TRACK, _("On track")),
        (NONE, _("No running target")),
    ]


class TicketFilterSet(django_filters.FilterSet):
    # Columns of the ticket row itself: they cannot duplicate rows, so no ``SELECT DISTINCT`` (django-filter's
    # default for multiple choices), which kept PostgreSQL off the (status, -updated_at, -id) index.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label=_("Status"), distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, label=_("Priority"), distinct=False)
    channel = django_filters.MultipleChoiceFilter(choices=TICKET_CHANNELS, label=_("Channel"), distinct=False)
    organization = django_filters.NumberFilter(field_name="organization_id", label=_("Organization"))
    requester = django_filters.NumberFilter(field_name="requester_id", label=_("Requester"))
    tier = django_filters.ChoiceFilter(field_name="organization__tier", choices=Tier.choices, label=_("Tier"))
    tag = django_filters.CharFilter(method="filter_tag", label=_("Tag"))
    assignee = django_filters.CharFilter(method="filter_assignee", label=_("Assignee"))
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.order_by("name"), label=_("Team"))
    type = django_filters.ModelChoiceFilter(queryset=TicketType.objects.filter(is_active=True), label=_("Type"))
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("Created from")
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=_("Created before")
    )
    updated_after = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("Updated from")
    )
    updated_before = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="lt", label=_("Updated before")
    )
    sla = django_filters.ChoiceFilter(choices=SLAState.choices, method="filter_sla", label=_("SLA"))

    class Meta:
        model = Ticket
        fields: list[str] = []

    def __init__(self, *args: object, user: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def filter_tag(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip().lower()
        if not value:
            return queryset
        return queryset.filter(tags__name=value)

    def filter_assignee(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        """An agent's id, ``me``, or ``none`` for unassigned."""
        value = value.strip().lower()
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value == "me":
            user_id = getattr(self.user, "pk", None)
            return queryset.filter(assignee_id=user_id) if user_id else queryset.none()
        if value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset.none()

    def filter_sla(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        now = timezone.now()
        running = Q(status__in=ACTIVE_STATUS_VALUES, sla_due_at__isnull=False)
        if value == SLAState.BREACHED:
            return queryset.filter(running, sla_due_at__lt=now)
        if value == SLAState.DUE_SOON:
            return queryset.filter(running, sla_due_at__gte=now, sla_due_at__lte=now + SLA_SOON)
        if value == SLAState.ON_TRACK:
            return queryset.filter(running, sla_due_at__gt=now + SLA_SOON)
        if value == SLAState.NONE:
            return queryset.exclude(running)
        return queryset
