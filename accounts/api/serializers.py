"""Organizations, contacts, agents and teams as the API shows them (read-only).

Customers see their own organization and the contacts they may see, without the desk's internal
fields (notes, contract value, account manager: null for them) and only the custom fields marked
visible to customers.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.choices import CustomFieldEntity
from accounts.models import AgentProfile, Contact, Contract, Entitlement, Organization, Team
from service_desk.api.base import MAX_ID
from service_desk.api.serializers import StrictSerializer
from tickets.api.serializers import AgentRefSerializer, NamedRefSerializer, _agent_ref, _named, is_agent

AGENTS_ONLY = "Agents only (null for customers)."


def _visible_custom_fields(context: dict, entity: str, values: dict | None) -> dict:
    values = values or {}
    if context.setdefault("_is_agent", is_agent(context)):
        return values
    key = f"_visible_custom_{entity}"
    if key not in context:
        from accounts.models import CustomFieldDefinition

        context[key] = set(
            CustomFieldDefinition.objects.filter(entity=entity, is_active=True, visible_to_customers=True).values_list(
                "key", flat=True
            )
        )
    return {k: v for k, v in values.items() if k in context[key]}


class EntitlementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Entitlement
        fields = ["id", "name", "unit", "quantity", "period"]
        read_only_fields = fields


class ContractSerializer(serializers.ModelSerializer):
    entitlements = EntitlementSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = ["id", "name", "product", "starts_on", "ends_on", "support_hours", "sla_policy", "entitlements"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    domains = serializers.SerializerMethodField()
    contracts = ContractSerializer(many=True, read_only=True)
    custom_fields = serializers.SerializerMethodField()
    account_manager = serializers.SerializerMethodField()
    parent = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "tier",
            "parent",
            "address",
            "phone",
            "website",
            "industry",
            "domains",
            "custom_fields",
            "contracts",
            "account_manager",
            "annual_contract_value",
            "currency",
            "notes",
            "sla_policy",
            "default_team",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            name: {"help_text": AGENTS_ONLY}
            for name in ("annual_contract_value", "currency", "notes", "sla_policy", "default_team")
        }

    _INTERNAL = ("annual_contract_value", "currency", "notes", "sla_policy", "default_team")

    def to_representation(self, instance: Organization) -> dict:
        data = super().to_representation(instance)
        if not self.context.setdefault("_is_agent", is_agent(self.context)):
            for name in self._INTERNAL:
                data[name] = None
        return data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_domains(self, obj: Organization) -> list[str]:
        return [d.domain for d in obj.domains.all()]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_custom_fields(self, obj: Organization) -> dict:
        return _visible_custom_fields(self.context, CustomFieldEntity.ORGANIZATION, obj.custom_fields)

    @extend_schema_field(AgentRefSerializer(allow_null=True, help_text=AGENTS_ONLY))
    def get_account_manager(self, obj: Organization) -> dict | None:
        if not self.context.setdefault("_is_agent", is_agent(self.context)):
            return None
        return _agent_ref(obj.account_manager)

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_parent(self, obj: Organization) -> dict | None:
        return _named(obj.parent)


class ContactSerializer(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()
    emails = serializers.SerializerMethodField()
    custom_fields = serializers.SerializerMethodField()
    is_b2b = serializers.BooleanField(read_only=True)
    has_login = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "organization",
            "is_b2b",
            "role",
            "is_primary",
            "can_see_organization_tickets",
            "emails",
            "phone",
            "language",
            "time_zone",
            "custom_fields",
            "notes",
            "has_login",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"notes": {"help_text": AGENTS_ONLY}}

    def to_representation(self, instance: Contact) -> dict:
        data = super().to_representation(instance)
        if not self.context.setdefault("_is_agent", is_agent(self.context)):
            data["notes"] = None
        return data

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_organization(self, obj: Contact) -> dict | None:
        return _named(obj.organization)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_emails(self, obj: Contact) -> list[str]:
        return [e.email for e in obj.emails.all()]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_custom_fields(self, obj: Contact) -> dict:
        return _visible_custom_fields(self.context, CustomFieldEntity.CONTACT, obj.custom_fields)

    def get_has_login(self, obj: Contact) -> bool:
        return obj.user_id is not None


class TeamSerializer(serializers.ModelSerializer):
    lead = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "description", "email", "lead", "is_escalation_team"]
        read_only_fields = fields

    @extend_schema_field(AgentRefSerializer(allow_null=True))
    def get_lead(self, obj: Team) -> dict | None:
        return _agent_ref(obj.lead)


class AgentSerializer(serializers.Serializer):
    """An agent; ``id`` is the user id (what tickets' ``assignee`` holds)."""

    id = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    email = serializers.CharField(source="user.email")
    role = serializers.CharField()
    teams = serializers.SerializerMethodField()
    time_zone = serializers.CharField()
    language = serializers.CharField()

    def get_name(self, obj: AgentProfile) -> str:
        return obj.user.get_full_name() or obj.user.get_username()

    @extend_schema_field(NamedRefSerializer(many=True))
    def get_teams(self, obj: AgentProfile) -> list[dict]:
        return [{"id": t.pk, "name": t.name} for t in obj.teams.all()]


class ContactCreateSerializer(StrictSerializer):
    """A new contact (agents only). With no ``organization``, an address of a known domain joins its organization."""

    email = serializers.EmailField(help_text="The primary address (must not belong to another contact).")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    organization = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    link_by_domain = serializers.BooleanField(
        default=True, help_text="Without organization: join the organization owning the address's domain."
    )
    role = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=["en", "de"], required=False)
    time_zone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    is_primary = serializers.BooleanField(required=False)
    can_see_organization_tickets = serializers.BooleanField(required=False)
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    custom_fields = serializers.DictField(required=False)
