"""Scoped reads for people and accounts. The only way views and the API query them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from accounts.domain import custom_fields as cf
from accounts.domain.emails import InvalidEmail, domain_candidates, domain_of, normalize_email
from accounts.domain.permissions import ANONYMOUS, Kind, Principal, Role, sees_all_organizations
from accounts.models import AgentProfile, Contact, ContactEmail, CustomFieldDefinition, Organization, OrganizationDomain

UserLike = AbstractBaseUser | AnonymousUser | None


def principal_for(user: UserLike) -> Principal:
    """Describe what ``user`` is (agent, customer, nobody) in at most two queries; cached on the user."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ANONYMOUS
    cached = getattr(user, "_service_desk_principal", None)
    if cached is not None:
        return cached
    principal = _load_principal(user)
    user._service_desk_principal = principal  # type: ignore[union-attr]
    return principal


def _load_principal(user: AbstractBaseUser) -> Principal:
    profile = (
        AgentProfile.objects.filter(user_id=user.pk, is_active=True)
        .prefetch_related("teams")
        .only("id", "role", "user_id")
        .first()
    )
    if profile is not None or getattr(user, "is_superuser", False):
        return Principal(
            kind=Kind.AGENT,
            user_id=user.pk,
            role=Role(profile.role) if profile else Role.ADMIN,
            is_superuser=getattr(user, "is_superuser", False),
            team_ids=frozenset(t.pk for t in profile.teams.all()) if profile else frozenset(),
        )
    contact = (
        Contact.objects.filter(user_id=user.pk).only("id", "organization_id", "can_see_organization_tickets").first()
    )
    if contact is not None:
        return Principal(
            kind=Kind.CUSTOMER,
            user_id=user.pk,
            contact_id=contact.pk,
            organization_id=contact.organization_id,
            sees_organization=contact.can_see_organization_tickets and contact.organization_id is not None,
        )
    return ANONYMOUS


def organizations_visible_to(user: UserLike) -> QuerySet[Organization]:
    principal = principal_for(user)
    qs = Organization.objects.select_related("account_manager", "parent", "sla_policy")
    if sees_all_organizations(principal):
        return qs
    if principal.kind is Kind.CUSTOMER and principal.organization_id is not None:
        return qs.filter(pk=principal.organization_id)
    return qs.none()


def contacts_visible_to(user: UserLike) -> QuerySet[Contact]:
    principal = principal_for(user)
    qs = Contact.objects.select_related("organization")
    if principal.is_agent:
        return qs
    if principal.kind is Kind.CUSTOMER and principal.contact_id is not None:
        condition = Q(pk=principal.contact_id)
        if principal.sees_organization:
            condition |= Q(organization_id=principal.organization_id)
        return qs.filter(condition)
    return qs.none()


def contact_by_email(email: str) -> Contact | None:
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        return None
    row = ContactEmail.objects.select_related("contact__organization").filter(email=normalized).first()
    return row.contact if row else None


def organization_for_email(email: str) -> Organization | None:
    """The organization whose domain (or a parent domain of it) the address belongs to."""
    try:
        candidates = domain_candidates(domain_of(email))
    except InvalidEmail:
        return None
    rows = {
        d.domain: d.organization
        for d in OrganizationDomain.objects.select_related("organization").filter(domain__in=candidates)
    }
    for candidate in candidates:  # most specific first
        if candidate in rows:
            return rows[candidate]
    return None


def custom_field_specs(entity: str) -> list[cf.FieldSpec]:
    return [d.to_spec() for d in CustomFieldDefinition.objects.filter(entity=entity, is_active=True)]


def agents_qs() -> QuerySet[AgentProfile]:
    return AgentProfile.objects.filter(is_active=True, user__is_active=True).select_related("user")
