"""Scoped reads for people and accounts. The only way views and the API query them."""

from __future__ import annotations

from collections.abc import Iterable

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


def _agent_principal(
    user: AbstractBaseUser, role: str | None, team_ids: Iterable[int], language: str | None, time_zone: str | None
) -> Principal:
    """An agent's principal from its active profile's columns (``role`` None: a superuser without one)."""
    return Principal(
        kind=Kind.AGENT,
        user_id=user.pk,
        role=Role(role) if role is not None else Role.ADMIN,
        is_superuser=getattr(user, "is_superuser", False),
        team_ids=frozenset(team_ids),
        language=language,
        time_zone=time_zone,
    )


def _load_principal(user: AbstractBaseUser) -> Principal:
    profile = (
        AgentProfile.objects.filter(user_id=user.pk, is_active=True)
        .prefetch_related("teams")
        .only("id", "role", "user_id", "language", "time_zone")
        .first()
    )
    if profile is not None:
        return _agent_principal(
            user, profile.role, (t.pk for t in profile.teams.all()), profile.language, profile.time_zone
        )
    if getattr(user, "is_superuser", False):
        return _agent_principal(user, None, (), None, None)
    contact = (
        Contact.objects.filter(user_id=user.pk)
        .only("id", "organization_id", "can_see_organization_tickets", "language", "time_zone")
        .first()
    )
    if contact is not None:
        return Principal(
            kind=Kind.CUSTOMER,
            user_id=user.pk,
            contact_id=contact.pk,
            organization_id=contact.organization_id,
            sees_organization=contact.can_see_organization_tickets and contact.organization_id is not None,
            language=contact.language or None,
            time_zone=contact.time_zone or None,
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


def contact_visible_to(user: UserLike, pk: int) -> Contact | None:
    """One contact of ``contacts_visible_to(user)`` by id, with its organization, or None."""
    return contacts_visible_to(user).select_related("organization").filter(pk=pk).first()


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


# --- Customer context: ticket sidebar, organization and contact pages (agent workspace) -----------
# Composite reads for the workspace's customer screens. Ticket reads go through
# ``tickets.selectors.tickets_visible_to`` (imported inside the functions: tickets imports accounts).

from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402

from django.contrib.admin.models import LogEntry  # noqa: E402
from django.core.paginator import Page, Paginator  # noqa: E402
from django.db.models import (  # noqa: E402
    Aggregate,
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Lower  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.domain.permissions import can_edit_organization, sees_internal_messages  # noqa: E402
from accounts.models import Contract  # noqa: E402

SIDEBAR_CONTACTS = 8
SIDEBAR_OPEN_TICKETS = 10
SIDEBAR_RECENT_TICKETS = 5
SIDEBAR_INTERACTIONS = 15
INTERACTION_TICKETS = 30
SIDEBAR_CUSTOMER_TICKETS = 20
PAGE_TICKETS = 25
PAGE_CONTACTS = 50
FIGURES_DAYS = 90


@dataclass(frozen=True)
class CustomFieldValue:
    key: str
    label: str
    type: str
    value: object


def custom_field_values(entity: str, values: dict | None) -> list[CustomFieldValue]:
    """The stored custom field values of a row, labelled and in the admin's order (active fields only)."""
    values = values or {}
    return [
        CustomFieldValue(spec.key, spec.label, spec.type.value, values[spec.key])
        for spec in custom_field_specs(entity)
        if spec.key in values and values[spec.key] not in (None, "", [])
    ]


def organization_editable_by(user: UserLike, organization: Organization) -> bool:
    """Admins and team leads edit any organization; an account manager edits their own accounts."""
    principal = principal_for(user)
    if can_edit_organization(principal):
        return True
    return (
        principal.is_agent
        and organization.account_manager_id is not None
        and organization.account_manager_id == principal.user_id
    )


def organization_list(user: UserLike, *, query: str = "", tier: str = "") -> QuerySet[Organization]:
    """Organizations ``user`` may see, searched by name and filtered by tier, sorted by name."""
    qs = organizations_visible_to(user).prefetch_related("domains")
    if query.strip():
        qs = qs.filter(name__icontains=query.strip())
    if tier:
        qs = qs.filter(tier=tier)
    return qs.order_by(Lower("name"), "id")


def _contacts_with_email(organization_id: int, *, first_id: int | None = None) -> QuerySet[Contact]:
    """An organization's contacts with their primary address (one query), ``first_id`` first."""
    primary = ContactEmail.objects.filter(contact_id=OuterRef("pk"), is_primary=True).values("email")[:1]
    qs = Contact.objects.filter(organization_id=organization_id).annotate(primary_email=Subquery(primary))
    order: list = ["-is_primary", Lower("name"), "id"]
    if first_id is not None:
        qs = qs.annotate(first=Case(When(pk=first_id, then=Value(0)), default=Value(1), output_field=IntegerField()))
        order.insert(0, "first")
    return qs.order_by(*order)


def _contracts(organization_id: int, *, active_on: date | None = None) -> list[Contract]:
    qs = Contract.objects.filter(organization_id=organization_id).select_related("sla_policy")
    if active_on is not None:
        qs = qs.filter(starts_on__lte=active_on).filter(Q(ends_on__isnull=True) | Q(ends_on__gte=active_on))
    contracts = list(qs.prefetch_related("entitlements").order_by("-starts_on", "-id"))
    today = active_on or timezone.localdate()
    for contract in contracts:
        contract.is_running = contract.is_active_on(today)  # type: ignore[attr-defined]
    return contracts


def _interactions(user: UserLike, organization_id: int, *, limit: int) -> list:
    """The latest messages of every kind (replies, notes, calls, meetings) on the organization's tickets
    ``user`` may see, newest first, with their ticket.

    Read from the ``INTERACTION_TICKETS`` most recently updated tickets: every message bumps its
    ticket's ``updated_at``, so the newest messages are there, and a large account with 50,000
    tickets does not sort all of its messages for one sidebar.
    """
    from tickets.choices import PUBLIC_MESSAGE_KINDS
    from tickets.models import Message
    from tickets.selectors import tickets_visible_to

    recent = (
        tickets_visible_to(user)
        .filter(organization_id=organization_id)
        .order_by("-updated_at", "-id")
        .values("pk")[:INTERACTION_TICKETS]
    )
    qs = Message.objects.filter(ticket_id__in=recent).select_related("ticket", "author_user", "author_contact")
    if not sees_internal_messages(principal_for(user)):
        qs = qs.filter(kind__in=PUBLIC_MESSAGE_KINDS)
    return list(
        qs.defer("body_html", "quoted_text", "references", "to_addresses", "cc_addresses").order_by(
            "-created_at", "-id"
        )[:limit]
    )


@dataclass(frozen=True)
class OrganizationSummary:
    """What the ticket sidebar shows of a B2B requester's organization."""

    organization: Organization
    custom_fields: list[CustomFieldValue]
    contracts: list[Contract]
    contacts: list[Contact]
    more_contacts: bool
    open_tickets: list
    open_count: tuple[int, bool]
    recent_tickets: list
    interactions: list


@dataclass(frozen=True)
class CustomerSummary:
    """What the ticket sidebar shows of a B2C customer (or of a requester whose organization is gone)."""

    contact: Contact
    emails: list[ContactEmail]
    custom_fields: list[CustomFieldValue]
    tickets: list
    ticket_count: tuple[int, bool]


@dataclass(frozen=True)
class TicketSidebar:
    ticket: object
    organization: OrganizationSummary | None
    customer: CustomerSummary | None


def ticket_sidebar(user: UserLike, ref: str) -> TicketSidebar:
    """The customer behind a ticket, whole: ``Ticket.DoesNotExist`` when ``user`` may not see the ticket.

    A constant number of queries whatever the number of contacts, tickets and messages.
    """
    from tickets.choices import ACTIVE_STATUS_VALUES
    from tickets.selectors import count_capped, ticket_for, tickets_visible_to

    ticket = ticket_for(user, ref)
    requester = ticket.requester
    organization_id = ticket.organization_id or requester.organization_id
    organization = organizations_visible_to(user).filter(pk=organization_id).first() if organization_id else None
    if organization is not None:
        contacts = list(_contacts_with_email(organization.pk, first_id=requester.pk)[: SIDEBAR_CONTACTS + 1])
        org_tickets = tickets_visible_to(user).filter(organization_id=organization.pk)
        open_qs = org_tickets.filter(status__in=ACTIVE_STATUS_VALUES)
        summary = OrganizationSummary(
            organization=organization,
            custom_fields=custom_field_values("organization", organization.custom_fields),
            contracts=_contracts(organization.pk, active_on=timezone.localdate()),
            contacts=contacts[:SIDEBAR_CONTACTS],
            more_contacts=len(contacts) > SIDEBAR_CONTACTS,
            open_tickets=list(open_qs.order_by("-created_at", "-id")[:SIDEBAR_OPEN_TICKETS]),
            open_count=count_capped(open_qs),
            recent_tickets=list(
                org_tickets.exclude(status__in=ACTIVE_STATUS_VALUES).order_by("-created_at", "-id")[
                    :SIDEBAR_RECENT_TICKETS
                ]
            ),
            interactions=_interactions(user, organization.pk, limit=SIDEBAR_INTERACTIONS),
        )
        return TicketSidebar(ticket=ticket, organization=summary, customer=None)
    history = tickets_visible_to(user).filter(requester_id=requester.pk)
    customer = CustomerSummary(
        contact=requester,
        emails=list(requester.emails.all()),
        custom_fields=custom_field_values("contact", requester.custom_fields),
        tickets=list(history.order_by("-created_at", "-id")[:SIDEBAR_CUSTOMER_TICKETS]),
        ticket_count=count_capped(history),
    )
    return TicketSidebar(ticket=ticket, organization=None, customer=customer)


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median of an interval column."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


@dataclass(frozen=True)
class ComplianceFigure:
    target: str
    label: str
    met: int
    breached: int

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def percent(self) -> float | None:
        return 100 * self.met / self.total if self.total else None


@dataclass(frozen=True)
class OrganizationFigures:
    since: datetime
    open_count: tuple[int, bool]
    compliance: list[ComplianceFigure]
    met: int
    breached: int
    first_response_median: timedelta | None
    first_response_average: timedelta | None
    first_response_count: int

    @property
    def compliance_percent(self) -> float | None:
        total = self.met + self.breached
        return 100 * self.met / total if total else None

    @property
    def first_response_median_text(self) -> str:
        return _duration_text(self.first_response_median)

    @property
    def first_response_average_text(self) -> str:
        return _duration_text(self.first_response_average)


def _duration_text(value: timedelta | None) -> str:
    """``2 hours, 5 minutes`` in the active language; empty for no value."""
    if value is None:
        return ""
    from django.utils.timesince import timesince

    start = datetime(2000, 1, 1, tzinfo=UTC)
    return timesince(start, start + max(value, timedelta(0)), depth=2)


def organization_figures(user: UserLike, organization_id: int, *, now: datetime | None = None) -> OrganizationFigures:
    """Open tickets, SLA compliance and first response times (wall-clock time, tickets opened in the
    last 90 days that were answered) over the tickets ``user`` may see. Three queries."""
    from tickets import sla
    from tickets.choices import ACTIVE_STATUS_VALUES
    from tickets.selectors import count_capped, tickets_visible_to

    moment = now or timezone.now()
    since = moment - timedelta(days=FIGURES_DAYS)
    org_tickets = tickets_visible_to(user).filter(organization_id=organization_id)
    rows = sla.sla_compliance(user, since=since, until=moment, organization_id=organization_id)
    compliance = [ComplianceFigure(r.target, sla.target_label(r.target), r.met, r.breached) for r in rows]
    waited = ExpressionWrapper(F("first_responded_at") - F("created_at"), output_field=DurationField())
    response = (
        org_tickets.filter(created_at__gte=since, first_responded_at__isnull=False)
        .order_by()
        .aggregate(median=_Median(waited), average=Avg(waited), count=Count("pk"))
    )
    return OrganizationFigures(
        since=since,
        open_count=count_capped(org_tickets.filter(status__in=ACTIVE_STATUS_VALUES)),
        compliance=compliance,
        met=sum(c.met for c in compliance),
        breached=sum(c.breached for c in compliance),
        first_response_median=response["median"],
        first_response_average=response["average"],
        first_response_count=response["count"],
    )


def organization_changes(organization_id: int, *, limit: int = 5) -> list[LogEntry]:
    """Who changed the organization (in the workspace or the admin), newest first."""
    return list(
        LogEntry.objects.filter(
            content_type__app_label="accounts", content_type__model="organization", object_id=str(organization_id)
        )
        .select_related("user")
        .order_by("-action_time", "-id")[:limit]
    )


@dataclass(frozen=True)
class OrganizationPage:
    organization: Organization
    custom_fields: list[CustomFieldValue]
    domains: list[OrganizationDomain]
    children: list[Organization]
    contacts: Page
    contracts: list[Contract]
    tickets: object  # tickets.selectors.TicketPage
    open_only: bool
    cursor_error: bool
    figures: OrganizationFigures
    can_edit: bool
    changes: list[LogEntry]


def _ticket_page(qs: QuerySet, cursor: str | None, size: int) -> tuple[object, bool]:
    """A keyset page of ``qs``, newest first; a bad cursor gives the first page and ``True``."""
    from tickets.domain import queues
    from tickets.selectors import tickets_page

    sort = queues.sort_for("created")
    try:
        return tickets_page(qs, sort, cursor=cursor, size=size), False
    except queues.BadCursor:
        return tickets_page(qs, sort, size=size), True


def organization_page(
    user: UserLike,
    pk: int,
    *,
    cursor: str | None = None,
    open_only: bool = False,
    contacts_page: object = 1,
    now: datetime | None = None,
) -> OrganizationPage:
    """An organization whole, for the workspace: ``Organization.DoesNotExist`` when not visible.

    Tickets are those ``user`` may see (an agent of team A sees the page, not team B's tickets),
    newest first, keyset-paged.
    """
    from tickets.choices import ACTIVE_STATUS_VALUES
    from tickets.selectors import tickets_visible_to

    organization = organizations_visible_to(user).get(pk=pk)
    tickets = tickets_visible_to(user).filter(organization_id=organization.pk)
    if open_only:
        tickets = tickets.filter(status__in=ACTIVE_STATUS_VALUES)
    page, cursor_error = _ticket_page(tickets, cursor, PAGE_TICKETS)
    contacts = Paginator(_contacts_with_email(organization.pk), PAGE_CONTACTS).get_page(contacts_page)
    return OrganizationPage(
        organization=organization,
        custom_fields=custom_field_values("organization", organization.custom_fields),
        domains=list(organization.domains.all()),
        children=list(organization.children.order_by(Lower("name"), "id")),
        contacts=contacts,
        contracts=_contracts(organization.pk),
        tickets=page,
        open_only=open_only,
        cursor_error=cursor_error,
        figures=organization_figures(user, organization.pk, now=now),
        can_edit=organization_editable_by(user, organization),
        changes=organization_changes(organization.pk),
    )


@dataclass(frozen=True)
class ContactPage:
    contact: Contact
    emails: list[ContactEmail]
    custom_fields: list[CustomFieldValue]
    tickets: object  # tickets.selectors.TicketPage
    ticket_count: tuple[int, bool]
    cursor_error: bool


def contact_page(user: UserLike, pk: int, *, cursor: str | None = None) -> ContactPage:
    """A contact or customer with their addresses and the tickets they requested that ``user`` may see.

    ``Contact.DoesNotExist`` when not visible.
    """
    from tickets.selectors import count_capped, tickets_visible_to

    contact = contacts_visible_to(user).select_related("organization__account_manager", "user").get(pk=pk)
    tickets = tickets_visible_to(user).filter(requester_id=contact.pk)
    page, cursor_error = _ticket_page(tickets, cursor, PAGE_TICKETS)
    return ContactPage(
        contact=contact,
        emails=list(contact.emails.all()),
        custom_fields=custom_field_values("contact", contact.custom_fields),
        tickets=page,
        ticket_count=count_capped(tickets),
        cursor_error=cursor_error,
    )


def organization_account_managers(*, keep_id: int | None = None) -> QuerySet:
    """Users who can be an account manager: active agents, by name (and ``keep_id``, the current one,
    so that editing other fields of an organization whose manager left does not drop them silently)."""
    from django.contrib.auth import get_user_model

    condition = Q(is_active=True, agent_profile__is_active=True)
    if keep_id is not None:
        condition |= Q(pk=keep_id)
    return get_user_model().objects.filter(condition).order_by("first_name", "last_name", "username")


# --- Portal tickets: the custom fields a customer fills in on a new ticket --------------------------


def ticket_custom_fields_for(contact: Contact, ticket_type_id: int | None) -> list[CustomFieldDefinition]:
    """The active ticket fields shown to customers that apply to a new ticket of ``ticket_type_id``
    requested by ``contact``: fields limited to ticket types or organizations apply only to those
    (``tickets.domain.portal.custom_field_applies``). In the admin's order; three queries."""
    from accounts.choices import CustomFieldEntity
    from tickets.domain.portal import custom_field_applies

    definitions = CustomFieldDefinition.objects.filter(
        entity=CustomFieldEntity.TICKET, is_active=True, visible_to_customers=True
    ).prefetch_related("ticket_types", "organizations")
    return [
        definition
        for definition in definitions
        if custom_field_applies(
            [t.pk for t in definition.ticket_types.all()],
            [o.pk for o in definition.organizations.all()],
            type_id=ticket_type_id,
            organization_id=contact.organization_id,
        )
    ]


# --- API tokens (REST API, issue 8) ---------------------------------------------------------------

from accounts.models import ApiToken  # noqa: E402


def api_tokens_for(user: UserLike) -> QuerySet[ApiToken]:
    """A person's own tokens, newest first (nobody sees another person's tokens)."""
    if user is None or not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def api_token_by_key(token: str, *, now: datetime | None = None) -> ApiToken | None:
    """The usable token (not revoked, not expired, active user) with this secret, with its user, or None."""
    from accounts.api.tokens import hash_token, looks_like_token

    if not looks_like_token(token):
        return None
    row = _api_token_with_user(hash_token(token))
    moment = now or timezone.now()
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    if row.expires_at is not None and row.expires_at <= moment:
        return None
    return row


def _api_token_with_user(key_hash: str) -> ApiToken | None:
    """The token row with its user (one query); ``principal_for`` describes the user after it."""
    return ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()


# --- Portal accounts ------------------------------------------------------------------------------
# Reads for customer sign-up, login and password reset (portal/views/auth.py). Addresses are
# normalised by the caller (accounts.domain.emails.normalize_email).

from django.db.models import Exists  # noqa: E402


def _staff_user_q(prefix: str = "") -> Q:
    """Users who are staff: any agent profile (active or not), Django staff, superusers."""
    return (
        Q(**{f"{prefix}agent_profile__isnull": False})
        | Q(**{f"{prefix}is_staff": True})
        | Q(**{f"{prefix}is_superuser": True})
    )


def signup_address_facts(email: str):  # noqa: ANN201 - accounts.domain.signup.AddressFacts
    """What the desk knows about ``email`` for a sign-up: staff address, owning contact, existing login.

    Two queries. An address of a contact whose login is a staff user counts as a staff address.
    """
    from django.contrib.auth import get_user_model

    from accounts.domain.signup import AddressFacts

    staff = get_user_model().objects.filter(_staff_user_q(), email__iexact=email).exists()
    row = (
        ContactEmail.objects.filter(email=email)
        .annotate(
            user_is_staff=Exists(get_user_model().objects.filter(_staff_user_q(), pk=OuterRef("contact__user_id")))
        )
        .values("contact_id", "contact__user_id", "user_is_staff")
        .first()
    )
    if row is None:
        return AddressFacts(belongs_to_staff=staff)
    return AddressFacts(
        belongs_to_staff=staff or bool(row["user_is_staff"]),
        contact_id=row["contact_id"],
        contact_has_user=row["contact__user_id"] is not None,
    )


def pending_signup_user(email: str):  # noqa: ANN201 - a User or None
    """The user a sign-up for ``email`` made that still waits for its verification link."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(email__iexact=email, is_active=False, contact__isnull=True, last_login__isnull=True)
        .exclude(_staff_user_q())
        .order_by("pk")
        .first()
    )


def signup_still_waiting(user_id: object) -> bool:
    """Whether the sign-up of this user still waits for its verification link."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id, is_active=False, contact__isnull=True).exists()


def customer_login_username(email: str) -> str | None:
    """The username of the customer login owning the contact address ``email`` (staff never)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    customers = user_model.objects.filter(contact__emails__email=email).exclude(_staff_user_q())
    return customers.values_list(user_model.USERNAME_FIELD, flat=True).first()


def password_reset_candidates(email: str) -> list[tuple[object, object]]:
    """(user, ResetCandidate) for the customer login owning the contact address ``email``."""
    from accounts.domain.signup import ResetCandidate

    rows = (
        ContactEmail.objects.filter(email=email, contact__user__isnull=False)
        .select_related("contact__user")
        .annotate(
            user_is_agent=Exists(AgentProfile.objects.filter(user_id=OuterRef("contact__user_id"))),
        )
    )
    result = []
    for row in rows:
        user = row.contact.user
        result.append(
            (
                user,
                ResetCandidate(
                    is_active=user.is_active,
                    has_usable_password=user.has_usable_password(),
                    is_staff=bool(row.user_is_agent or user.is_staff or user.is_superuser),
                    address_verified=row.verified_at is not None,
                ),
            )
        )
    return result


def customer_account(user: UserLike) -> Contact | None:
    """The signed-in customer's own contact with its addresses (for the account page)."""
    principal = principal_for(user)
    if principal.kind is not Kind.CUSTOMER or principal.contact_id is None:
        return None
    return Contact.objects.select_related("organization").prefetch_related("emails").get(pk=principal.contact_id)
