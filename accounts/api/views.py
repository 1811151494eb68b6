"""Organizations, contacts (B2B contacts and B2C customers), agents and teams under /api/v1/ (read)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.response import Response

from accounts import selectors
from accounts import services as account_services
from accounts.api import serializers as s
from accounts.choices import Tier
from accounts.models import AgentProfile, Contact, Organization, Team
from service_desk.api.base import ApiReadOnlyViewSet
from service_desk.api.errors import ApiError
from service_desk.api.idempotency import IdempotentCreateMixin
from service_desk.api.permissions import IsAgent
from tickets.api.filters import IdFilter


class OrganizationFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=_("Part of the name"), max_length=200)
    tier = django_filters.ChoiceFilter(choices=Tier.choices)

    class Meta:
        model = Organization
        fields: list[str] = []

    def filter_search(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        return queryset.filter(name__icontains=value.strip()) if value.strip() else queryset


@extend_schema_view(
    list=extend_schema(summary="List organizations (customers: their own)"),
    retrieve=extend_schema(summary="Get an organization with its contracts"),
)
class OrganizationViewSet(ApiReadOnlyViewSet):
    serializer_class = s.OrganizationSerializer
    filterset_class = OrganizationFilterSet
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return selectors.organizations_visible_to(self.request.user).prefetch_related(
            "domains", "contracts__entitlements"
        )


class ContactFilterSet(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id", label=_("Organization id"))
    kind = django_filters.ChoiceFilter(
        choices=[("b2b", _("B2B contacts")), ("b2c", _("B2C customers"))],
        method="filter_kind",
        label=_("b2b: contacts of an organization; b2c: customers without one"),
    )
    email = django_filters.CharFilter(method="filter_email", label=_("Exact address"), max_length=254)
    search = django_filters.CharFilter(method="filter_search", label=_("Part of the name"), max_length=200)

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_kind(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        return queryset.filter(organization__isnull=value == "b2c")

    def filter_email(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        return queryset.filter(emails__email=value.strip().lower())

    def filter_search(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(emails__email__istartswith=value)).distinct()


@extend_schema_view(
    list=extend_schema(
        summary="List contacts and customers (customers: themselves and, with the right, their colleagues)"
    ),
    retrieve=extend_schema(summary="Get a contact"),
)
class ContactViewSet(IdempotentCreateMixin, mixins.CreateModelMixin, ApiReadOnlyViewSet):
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilterSet
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return selectors.contacts_visible_to(self.request.user).prefetch_related("emails")

    def get_permissions(self):  # noqa: ANN201
        if self.action == "create":
            return [IsAgent()]
        return super().get_permissions()

    @extend_schema(
        summary="Create a contact (agents)",
        request=s.ContactCreateSerializer,
        responses={201: s.ContactSerializer},
    )
    def create(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request) -> Response:  # noqa: ANN001
        serializer = s.ContactCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = None
        if data.get("organization") is not None:
            organization = selectors.organizations_visible_to(request.user).filter(pk=data["organization"]).first()
            if organization is None:
                message = _("No such organization.")
                raise ApiError("invalid", str(message), fields={"organization": [str(message)]})
        data.pop("organization", None)
        contact = account_services.contact_create(
            email=data.pop("email"),
            name=data.pop("name", ""),
            organization=organization,
            link_by_domain=data.pop("link_by_domain", True),
            custom_fields=data.pop("custom_fields", None),
            **data,
        )
        fresh = self.get_queryset().get(pk=contact.pk)
        return Response(s.ContactSerializer(fresh, context=self.get_serializer_context()).data, status=201)


@extend_schema_view(
    list=extend_schema(summary="List agents (agents only)"), retrieve=extend_schema(summary="Get an agent")
)
class AgentViewSet(ApiReadOnlyViewSet):
    serializer_class = s.AgentSerializer
    permission_classes = [IsAgent]
    filter_backends: list = []
    keyset_ordering = ("id",)
    queryset = AgentProfile.objects.none()

    def get_queryset(self):  # noqa: ANN201
        return selectors.agents_qs().prefetch_related("teams")

    def get_object(self):  # noqa: ANN201 - looked up by user id, as tickets refer to agents
        from rest_framework.exceptions import NotFound

        from service_desk.api.base import parse_id

        found = self.get_queryset().filter(user_id=parse_id(self.kwargs["pk"])).first()
        if found is None:
            raise NotFound()
        return found


@extend_schema_view(
    list=extend_schema(summary="List teams (agents only)"), retrieve=extend_schema(summary="Get a team")
)
class TeamViewSet(ApiReadOnlyViewSet):
    serializer_class = s.TeamSerializer
    permission_classes = [IsAgent]
    filter_backends: list = []
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return Team.objects.select_related("lead")
