"""Admin for people and accounts: teams, agents, organizations, contracts, contacts, custom fields.

Changelists stay fast on big tables: every foreign key shown is in ``list_select_related``,
foreign keys to big tables (users, organizations, contacts) use autocomplete widgets, and the
contact list does not count 100k rows twice. Custom field values are validated against their
definitions in the form, so a bad value is a form error and never reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.choices import CustomFieldEntity
from accounts.domain import custom_fields as cf
from accounts.models import (
    AgentProfile,
    ApiToken,
    Contact,
    ContactEmail,
    Contract,
    CustomFieldDefinition,
    Entitlement,
    Organization,
    OrganizationDomain,
    Skill,
    Team,
)

User = get_user_model()


# --- Shared admin helpers -------------------------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Exact counts for filtered or small lists; PostgreSQL's row estimate for a whole big table.

    ``show_full_result_count = False`` only saves the second count; the paginator still counts the
    list it pages. Unfiltered, that is every row of the table, so above ``estimate_above`` rows
    the planner's estimate (kept fresh by autovacuum) stands in for ``COUNT(*)``.
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = _estimated_rows(self.object_list)
            if estimate > self.estimate_above:
                return estimate
        return super().count


def _estimated_rows(queryset: QuerySet) -> int:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return -1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


class CustomFieldsFormMixin:
    """Validates the ``custom_fields`` JSON of a model form against the active definitions.

    A full (non-partial) validation: the submitted object replaces what was stored, required
    fields must be there, unknown keys are errors. The typed result is what gets saved.
    """

    custom_field_entity: str = ""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        field = self.fields.get("custom_fields")  # type: ignore[attr-defined]
        if field is not None:
            self._specs = selectors.custom_field_specs(self.custom_field_entity)
            field.help_text = _custom_fields_help(self._specs)

    def clean(self) -> dict:
        cleaned = super().clean()  # type: ignore[misc]
        if "custom_fields" not in cleaned:  # not JSON at all: the field already reported it
            return cleaned
        values = cleaned["custom_fields"]
        if values in (None, ""):
            values = {}
        if not isinstance(values, dict):
            self.add_error(  # type: ignore[attr-defined]
                "custom_fields", _('Enter an object of field keys and values, e.g. {"contract_number": 42}.')
            )
            return cleaned
        try:
            cleaned["custom_fields"] = cf.validate_values(self._specs, values)
        except cf.CustomFieldError as exc:
            self.add_error("custom_fields", custom_field_messages(self._specs, exc))  # type: ignore[attr-defined]
        return cleaned


def custom_field_messages(specs: Iterable[cf.FieldSpec], exc: cf.CustomFieldError) -> list[str]:
    """One readable line per field at fault: ``Label (key): problem``."""
    labels = {spec.key: spec.label for spec in specs}
    return [
        f"{labels[key]} ({key}): {message}" if key in labels else f"{key}: {message}"
        for key, message in exc.errors.items()
    ]


def _custom_fields_help(specs: list[cf.FieldSpec]) -> str:
    if not specs:
        return str(_("No custom fields are defined; leave this as {}."))
    described = ", ".join(
        f"{spec.key} ({spec.type.value.replace('_', ' ')}{', required' if spec.required else ''})" for spec in specs
    )
    return str(_("A JSON object. Fields: %(fields)s.")) % {"fields": described}


class NormalizedUniqueInlineFormSet(BaseInlineFormSet):
    """Rejects two rows of one submission that collide after the model's ``clean()`` normalised them.

    Django compares the raw input across the forms of a formset; ``A@x.example`` and
    ``a@x.example`` would pass and then break the unique index on save.
    """

    unique_field = ""

    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self._kept_forms():
            value = getattr(form.instance, self.unique_field, "")
            if value in seen:
                form.add_error(self.unique_field, _("%(value)s appears twice.") % {"value": value})
            seen.add(value)

    def _kept_forms(self) -> list[forms.Form]:
        return [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.errors
            and not (self.can_delete and self._should_delete_form(form))
        ]


# --- Teams, skills, agents ------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "lead", "is_escalation_team", "agent_count", "updated_at"]
    list_filter = ["is_escalation_team"]
    list_select_related = ["lead"]
    search_fields = ["name", "email"]
    autocomplete_fields = ["lead"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(agent_count=Count("agents", distinct=True))

    @admin.display(description=_("agents"), ordering="agent_count")
    def agent_count(self, obj: Team) -> int:
        return obj.agent_count  # type: ignore[attr-defined]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "agent_count"]
    list_filter = [("agents__teams", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Skill]:
        return super().get_queryset(request).annotate(agent_count=Count("agents", distinct=True))

    @admin.display(description=_("agents"), ordering="agent_count")
    def agent_count(self, obj: Skill) -> int:
        return obj.agent_count  # type: ignore[attr-defined]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "full_name", "role", "team_names", "time_zone", "language", "is_active"]
    list_filter = ["role", "is_active", "language", "teams"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["teams", "skills"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentProfile]:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description=_("name"), ordering="user__last_name")
    def full_name(self, obj: AgentProfile) -> str:
        return obj.user.get_full_name()

    @admin.display(description=_("teams"))
    def team_names(self, obj: AgentProfile) -> str:
        return ", ".join(team.name for team in obj.teams.all())


class AgentProfileInline(admin.StackedInline):
    """Makes a user an agent (with roles, teams and skills) right on the user page."""

    model = AgentProfile
    fk_name = "user"
    can_delete = False
    filter_horizontal = ["teams", "skills"]
    readonly_fields = ["created_at", "updated_at"]
    verbose_name_plural = _("agent profile")


class IsAgentFilter(admin.SimpleListFilter):
    title = _("agent")
    parameter_name = "agent"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", _("Agents")), ("no", _("Not agents"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(agent_profile__isnull=False)
        if self.value() == "no":
            return queryset.filter(agent_profile__isnull=True)
        return queryset


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [AgentProfileInline]
    list_display = [*DjangoUserAdmin.list_display, "agent_role"]
    list_filter = [*DjangoUserAdmin.list_filter, IsAgentFilter]
    list_select_related = ["agent_profile"]

    def get_inlines(self, request: HttpRequest, obj: object | None) -> list:
        # The two-step add form stays as Django ships it; the profile is added on the change page.
        return self.inlines if obj is not None else []

    @admin.display(description=_("agent role"), ordering="agent_profile__role")
    def agent_role(self, obj: object) -> str:
        try:
            profile = obj.agent_profile  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            return "-"
        return str(profile.get_role_display()) + ("" if profile.is_active else f" ({_('inactive')})")


# --- Custom fields --------------------------------------------------------------------------------


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["label", "key", "entity", "field_type", "required", "is_active", "visible_to_customers", "position"]
    list_filter = ["entity", "field_type", "required", "is_active", "visible_to_customers"]
    search_fields = ["key", "label"]
    readonly_fields = ["created_at", "updated_at"]


# --- Organizations, domains, contracts ------------------------------------------------------------


class OrganizationDomainFormSet(NormalizedUniqueInlineFormSet):
    unique_field = "domain"


class OrganizationDomainInline(admin.TabularInline):
    model = OrganizationDomain
    formset = OrganizationDomainFormSet
    extra = 0


class ContractInline(admin.TabularInline):
    model = Contract
    fields = ["name", "product", "starts_on", "ends_on", "support_hours", "sla_policy"]
    extra = 0
    show_change_link = True  # entitlements are edited on the contract page


class OrganizationForm(CustomFieldsFormMixin, forms.ModelForm):
    custom_field_entity = CustomFieldEntity.ORGANIZATION

    class Meta:
        model = Organization
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    inlines = [OrganizationDomainInline, ContractInline]
    list_display = [
        "name",
        "tier",
        "account_manager",
        "parent",
        "sla_policy",
        "default_team",
        "annual_contract_value",
        "currency",
    ]
    list_filter = [
        "tier",
        "sla_policy",
        "default_team",
        "account_manager",
        ("parent", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["account_manager", "parent", "sla_policy", "default_team"]
    search_fields = ["name", "domains__domain"]
    autocomplete_fields = ["account_manager", "parent"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "tier", "parent", "account_manager", "default_team", "sla_policy"]}),
        (_("Commercial"), {"fields": ["annual_contract_value", "currency", "industry"]}),
        (_("Contact details"), {"fields": ["address", "phone", "website"]}),
        (_("Internal"), {"fields": ["notes", "custom_fields", "created_at", "updated_at"]}),
    ]

    # What chooses a ticket's SLA policy: a change re-selects the policy of the organization's open tickets.
    SLA_SELECTION_FIELDS = ("tier", "sla_policy")

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        contracts_changed = any(fs.model is Contract and fs.has_changed() for fs in formsets)
        if change and (contracts_changed or any(f in form.changed_data for f in self.SLA_SELECTION_FIELDS)):
            from tickets import sla

            sla.selection_changed(organization_id=form.instance.pk)


@admin.register(OrganizationDomain)
class OrganizationDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "organization"]
    list_select_related = ["organization"]
    search_fields = ["domain", "organization__name"]
    autocomplete_fields = ["organization"]
    list_filter = ["organization__tier"]


class EntitlementInline(admin.TabularInline):
    model = Entitlement
    extra = 0


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    inlines = [EntitlementInline]
    list_display = ["name", "organization", "product", "starts_on", "ends_on", "support_hours", "sla_policy"]
    list_filter = ["sla_policy", ("ends_on", admin.EmptyFieldListFilter), "organization__tier"]
    list_select_related = ["organization", "sla_policy"]
    search_fields = ["name", "product", "organization__name"]
    autocomplete_fields = ["organization"]
    date_hierarchy = "starts_on"
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Contract, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _contract_selection_changed(obj.organization_id)

    def delete_model(self, request: HttpRequest, obj: Contract) -> None:
        organization_id = obj.organization_id
        super().delete_model(request, obj)
        _contract_selection_changed(organization_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contract]) -> None:
        organization_ids = set(queryset.values_list("organization_id", flat=True))
        super().delete_queryset(request, queryset)
        for organization_id in organization_ids:
            _contract_selection_changed(organization_id)


def _contract_selection_changed(organization_id: int) -> None:
    """A contract (its dates or SLA policy) decides the policy of its organization's tickets."""
    from tickets import sla

    sla.selection_changed(organization_id=organization_id)


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    list_display = ["name", "contract", "organization", "unit", "quantity", "period"]
    list_filter = ["unit", "period"]
    list_select_related = ["contract__organization"]
    search_fields = ["name", "contract__name", "contract__organization__name"]
    autocomplete_fields = ["contract"]

    @admin.display(description=_("organization"), ordering="contract__organization__name")
    def organization(self, obj: Entitlement) -> Organization:
        return obj.contract.organization


# --- Contacts -------------------------------------------------------------------------------------


class ContactEmailFormSet(NormalizedUniqueInlineFormSet):
    unique_field = "email"

    def clean(self) -> None:
        super().clean()
        # The database allows one primary address per contact; say so instead of failing on save.
        primaries = [form for form in self._kept_forms() if form.instance.is_primary]
        if len(primaries) > 1:
            raise ValidationError(_("Mark only one address as primary."))


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    formset = ContactEmailFormSet
    fields = ["email", "is_primary", "verified_at"]
    extra = 0


class ContactForm(CustomFieldsFormMixin, forms.ModelForm):
    custom_field_entity = CustomFieldEntity.CONTACT

    class Meta:
        model = Contact
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactForm
    inlines = [ContactEmailInline]
    list_display = ["display_name", "primary_email", "organization", "role", "is_primary", "language", "created_at"]
    list_filter = [
        ("organization", admin.EmptyFieldListFilter),
        "is_primary",
        "can_see_organization_tickets",
        "language",
    ]
    list_select_related = ["organization"]
    search_fields = ["name", "emails__email", "organization__name"]
    autocomplete_fields = ["organization", "user"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fieldsets = [
        (None, {"fields": ["name", "organization", "role", "is_primary", "can_see_organization_tickets"]}),
        (_("Profile"), {"fields": ["user", "phone", "language", "time_zone"]}),
        (_("Internal"), {"fields": ["notes", "custom_fields", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        primary = ContactEmail.objects.filter(contact=OuterRef("pk"), is_primary=True).values("email")[:1]
        return super().get_queryset(request).annotate(primary_email=Subquery(primary))

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj: Contact) -> str:
        return str(obj)

    @admin.display(description=_("primary email"))
    def primary_email(self, obj: Contact) -> str:
        return obj.primary_email or "-"  # type: ignore[attr-defined]


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):
    list_display = ["email", "contact", "is_primary", "verified_at", "created_at"]
    list_filter = ["is_primary", ("verified_at", admin.EmptyFieldListFilter)]
    list_select_related = ["contact"]
    search_fields = ["email", "contact__name"]
    autocomplete_fields = ["contact"]
    readonly_fields = ["created_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner (workspace preferences) or ``manage.py create_api_token``:
    the token itself exists only in that one answer. Admins see who holds which and can revoke them."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("last_used_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001 - a queryset of ApiToken
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)d tokens revoked.") % {"count": count})
