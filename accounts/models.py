"""People and accounts: organizations (B2B), contacts and customers (one person model), agents, teams."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from accounts.choices import AgentRole, CustomFieldEntity, EntitlementPeriod, EntitlementUnit, Tier
from accounts.domain import custom_fields as cf
from accounts.domain.emails import InvalidEmail, normalize_email, validate_organization_domain


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Team(TimeStamped):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    email = models.EmailField(blank=True, help_text=_("Shared address of the team, used as reply-from."))
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_teams"
    )
    is_escalation_team = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Skill(models.Model):
    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(TimeStamped):
    """What makes a user an agent. A user without an active profile is not an agent."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    role = models.CharField(max_length=20, choices=AgentRole.choices, default=AgentRole.AGENT)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents")
    skills = models.ManyToManyField(Skill, blank=True, related_name="agents")
    time_zone = models.CharField(max_length=64, default="Europe/Berlin")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    signature = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user.get_full_name() or self.user.username} ({self.get_role_display()})"

    def clean(self) -> None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"time_zone": _("Unknown time zone.")}) from exc


class CustomFieldDefinition(TimeStamped):
    """An admin-defined, typed field on organizations, contacts or tickets."""

    entity = models.CharField(max_length=20, choices=CustomFieldEntity.choices)
    key = models.SlugField(max_length=50, help_text=_("Stable machine name, e.g. sap_customer_number."))
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=20, choices=[(t.value, t.value.replace("_", " ")) for t in cf.FieldType])
    required = models.BooleanField(default=False)
    choices = models.JSONField(default=list, blank=True, help_text=_("Options for choice fields, a list of strings."))
    help_text = models.CharField(max_length=255, blank=True)
    max_length = models.PositiveIntegerField(default=255)
    min_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    visible_to_customers = models.BooleanField(default=False)
    # Ticket fields only: where the field applies. Empty means everywhere; otherwise the field
    # applies to tickets of one of these types or requested for one of these organizations.
    ticket_types = models.ManyToManyField(
        "tickets.TicketType",
        blank=True,
        related_name="custom_field_definitions",
        help_text=_("Ticket fields: the ticket types this field applies to (none: every type)."),
    )
    organizations = models.ManyToManyField(
        "accounts.Organization",
        blank=True,
        related_name="custom_field_definitions",
        help_text=_("Ticket fields: the organizations this field applies to (none: every customer)."),
    )

    class Meta:
        ordering = ["entity", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["entity", "key"], name="custom_field_unique_key")]

    def __str__(self) -> str:
        return f"{self.get_entity_display()}: {self.label}"

    def clean(self) -> None:
        try:
            cf.validate_key(self.key)
        except ValueError as exc:
            raise ValidationError({"key": str(exc)}) from exc
        is_choice = self.field_type in (cf.FieldType.CHOICE, cf.FieldType.MULTI_CHOICE)
        if is_choice and (
            not isinstance(self.choices, list) or not self.choices or not all(isinstance(c, str) for c in self.choices)
        ):
            raise ValidationError({"choices": _("Choice fields need a list of at least one option (strings).")})
        if not is_choice and self.choices:
            raise ValidationError({"choices": _("Only choice fields have options.")})

    def to_spec(self) -> cf.FieldSpec:
        return cf.FieldSpec(
            key=self.key,
            label=self.label,
            type=cf.FieldType(self.field_type),
            required=self.required,
            choices=tuple(self.choices or ()),
            max_length=self.max_length,
            min_value=self.min_value,
            max_value=self.max_value,
        )


class Organization(TimeStamped):
    """A B2B account."""

    name = models.CharField(max_length=200)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD, db_index=True)
    annual_contract_value = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR", help_text=_("ISO 4217 code, e.g. EUR."))
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_organizations",
        limit_choices_to={"agent_profile__isnull": False},
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.URLField(blank=True)
    industry = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True, help_text=_("Internal notes, never shown to customers."))
    custom_fields = models.JSONField(default=dict, blank=True)
    sla_policy = models.ForeignKey(
        "tickets.SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="organizations"
    )
    default_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("name"), name="organization_name_lower")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.currency and (len(self.currency) != 3 or not self.currency.isalpha()):
            raise ValidationError({"currency": _("Use a three-letter ISO 4217 code such as EUR.")})
        self.currency = (self.currency or "").upper()
        if self.pk and self.parent_id:
            seen = {self.pk}
            node: Organization | None = self.parent
            while node is not None:
                if node.pk in seen:
                    raise ValidationError({"parent": _("An organization cannot be its own ancestor.")})
                seen.add(node.pk)
                node = node.parent


class OrganizationDomain(models.Model):
    """An email domain whose unknown senders are linked to the organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        try:
            self.domain = validate_organization_domain(self.domain)
        except InvalidEmail as exc:
            raise ValidationError({"domain": str(exc)}) from exc


class Contract(TimeStamped):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="contracts")
    name = models.CharField(max_length=200)
    product = models.CharField(max_length=200, help_text=_("Product or service covered."))
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True, help_text=_("Empty for an open-ended contract."))
    support_hours = models.CharField(
        max_length=100, blank=True, help_text=_("Agreed support hours, e.g. Mon-Fri 08:00-18:00 CET or 24x7.")
    )
    sla_policy = models.ForeignKey(
        "tickets.SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="contracts"
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["organization", "-starts_on"]
        indexes = [models.Index(fields=["organization", "ends_on"], name="contract_org_end")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="contract_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization}: {self.name}"

    def clean(self) -> None:
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("A contract cannot end before it starts.")})

    def is_active_on(self, day) -> bool:  # noqa: ANN001 - a date
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


class Entitlement(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="entitlements")
    name = models.CharField(max_length=200, help_text=_("e.g. Remote support hours, On-site visits, 24x7 hotline."))
    unit = models.CharField(max_length=20, choices=EntitlementUnit.choices, default=EntitlementUnit.INCLUDED)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    period = models.CharField(max_length=20, choices=EntitlementPeriod.choices, default=EntitlementPeriod.CONTRACT)

    class Meta:
        ordering = ["contract", "name"]

    def __str__(self) -> str:
        if self.unit == EntitlementUnit.INCLUDED or self.quantity is None:
            return self.name
        return f"{self.name}: {self.quantity.normalize()} {self.get_unit_display()} {self.get_period_display()}"

    def clean(self) -> None:
        if self.unit != EntitlementUnit.INCLUDED and self.quantity is None:
            raise ValidationError({"quantity": _("Give a quantity for this unit.")})


class Contact(TimeStamped):
    """One person model. A B2C customer has no organization; a B2B contact belongs to one."""

    name = models.CharField(max_length=200, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="contact"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    role = models.CharField(max_length=100, blank=True, help_text=_("Job title or role, e.g. IT lead."))
    is_primary = models.BooleanField(default=False, help_text=_("Primary contact of the organization."))
    can_see_organization_tickets = models.BooleanField(default=False)
    phone = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    time_zone = models.CharField(max_length=64, blank=True)
    notes = models.TextField(blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["organization", "name"], name="contact_org_name"),
            models.Index(Lower("name"), name="contact_name_lower"),
        ]

    def __str__(self) -> str:
        return self.name or f"Contact #{self.pk}"

    def clean(self) -> None:
        if self.organization_id is None and (self.is_primary or self.can_see_organization_tickets):
            raise ValidationError(_("Only a contact of an organization can be primary or see its tickets."))

    @property
    def is_b2b(self) -> bool:
        return self.organization_id is not None


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=254, unique=True, help_text=_("Stored normalised (lower case)."))
    is_primary = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=models.Q(is_primary=True), name="contact_one_primary_email"
            )
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        try:
            self.email = normalize_email(self.email)
        except InvalidEmail as exc:
            raise ValidationError({"email": str(exc)}) from exc


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text=_("What the token is for, e.g. Shop integration."))
    # The first characters of the token, stored in clear so a person can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
