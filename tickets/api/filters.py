"""The API's ticket filters: the workspace's ``TicketFilterSet`` plus search, with ids bounded so a
number the database cannot hold is a 400, not an error."""

from __future__ import annotations

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from service_desk.api.base import MAX_ID
from tickets.choices import TICKET_CHANNELS, Priority, Status
from tickets.domain.references import parse_reference
from tickets.filtersets import TicketFilterSet
from tickets.models import Ticket


class IdFilter(django_filters.Filter):
    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class ApiTicketFilterSet(TicketFilterSet):
    # Columns of the ticket itself: no join, so no DISTINCT (django-filter's default for multiple
    # choices), which would keep PostgreSQL from walking the (status, -updated_at, -id) indexes.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label=_("Status"), distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, label=_("Priority"), distinct=False)
    channel = django_filters.MultipleChoiceFilter(choices=TICKET_CHANNELS, label=_("Channel"), distinct=False)
    organization = IdFilter(field_name="organization_id", label=_("Organization id"))
    requester = IdFilter(field_name="requester_id", label=_("Requester (contact) id"))
    assignee = django_filters.CharFilter(
        method="filter_assignee", label=_("Assignee: an agent's user id, me, or none"), max_length=20
    )
    tag = django_filters.CharFilter(method="filter_tag", label=_("Tag name"), max_length=60)
    search = django_filters.CharFilter(
        method="filter_search", label=_("Words in the subject, or a reference such as SD-1042"), max_length=200
    )

    def filter_assignee(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip().lower()
        if value.isdigit() and int(value) > MAX_ID:
            return queryset.none()
        return super().filter_assignee(queryset, name, value)

    def filter_search(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        from tickets import search

        value = value.strip()
        if not value:
            return queryset
        number = parse_reference(value, settings.TICKET_REFERENCE_PREFIX)
        if number is not None:
            return queryset.filter(pk=number) if number <= MAX_ID else queryset.none()
        terms = search.parse_terms(value)
        if terms.is_empty:
            return queryset
        return queryset.annotate(search=search.subject_vector()).filter(search=search.ticket_query(terms))
