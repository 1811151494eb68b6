"""Forms of the agent workspace's customer pages: organization search and the organization edit form.

Forms parse and present; ``accounts.services.organization_update`` validates again and writes.
Custom fields are offered by their definitions and checked by ``accounts.domain.custom_fields``:
its messages come back onto the matching form fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.choices import Tier
from accounts.domain import custom_fields as cf
from accounts.models import Organization

CUSTOM_PREFIX = "cf_"


class OrganizationSearchForm(forms.Form):
    q = forms.CharField(label=_("Name"), required=False, max_length=200)
    tier = forms.ChoiceField(label=_("Tier"), required=False, choices=[("", _("All tiers")), *Tier.choices])


class AccountManagerField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


def _custom_form_field(spec: cf.FieldSpec, initial: object) -> forms.Field:
    """A lenient form field for a custom field: the domain rules check the value."""
    common: dict[str, Any] = {"label": spec.label, "initial": initial}
    required = spec.required and spec.type is not cf.FieldType.BOOLEAN
    if spec.type is cf.FieldType.BOOLEAN:
        return forms.BooleanField(required=False, **common)
    if spec.type is cf.FieldType.CHOICE:
        return forms.ChoiceField(required=required, choices=[("", "—"), *((c, c) for c in spec.choices)], **common)
    if spec.type is cf.FieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            required=required,
            choices=[(c, c) for c in spec.choices],
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    widgets: dict[cf.FieldType, forms.Widget] = {
        cf.FieldType.TEXTAREA: forms.Textarea(attrs={"rows": 3}),
        cf.FieldType.DATE: forms.DateInput(attrs={"type": "date"}),
        cf.FieldType.INTEGER: forms.TextInput(attrs={"inputmode": "numeric"}),
        cf.FieldType.DECIMAL: forms.TextInput(attrs={"inputmode": "decimal"}),
        cf.FieldType.URL: forms.URLInput(),
        cf.FieldType.EMAIL: forms.EmailInput(),
    }
    widget = widgets.get(spec.type, forms.TextInput())
    return forms.CharField(required=required, strip=True, widget=widget, **common)


class OrganizationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    tier = forms.ChoiceField(label=_("Tier"), choices=Tier.choices)
    annual_contract_value = forms.DecimalField(
        label=_("Annual contract value"), min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.CharField(
        label=_("Currency"),
        min_length=3,
        max_length=3,
        help_text=_("ISO 4217 code, e.g. EUR."),
        validators=[RegexValidator(r"^[A-Za-z]{3}$", _("Use a three-letter ISO 4217 code such as EUR."))],
    )
    account_manager = AccountManagerField(
        label=_("Account manager"), queryset=selectors.organization_account_managers(), required=False
    )
    notes = forms.CharField(
        label=_("Internal notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Never shown to customers."),
    )
    updated_at = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, organization: Organization, specs: Sequence[cf.FieldSpec], **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": organization.name,
                "tier": organization.tier,
                "annual_contract_value": organization.annual_contract_value,
                "currency": organization.currency,
                "account_manager": organization.account_manager_id,
                "notes": organization.notes,
                "updated_at": organization.updated_at.isoformat(),
            },
        )
        super().__init__(*args, **kwargs)
        manager = self.fields["account_manager"]
        manager.queryset = selectors.organization_account_managers(keep_id=organization.account_manager_id)  # type: ignore[attr-defined]
        self.specs = list(specs)
        values = organization.custom_fields or {}
        for spec in self.specs:
            self.fields[CUSTOM_PREFIX + spec.key] = _custom_form_field(spec, values.get(spec.key))

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].upper()

    def clean_updated_at(self) -> datetime | None:
        raw = self.cleaned_data.get("updated_at") or ""
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("This form is out of date; reload the page.")) from exc

    @property
    def custom_fields(self) -> list[forms.BoundField]:
        return [self[CUSTOM_PREFIX + spec.key] for spec in self.specs]

    @property
    def profile_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("name", "tier", "annual_contract_value", "currency", "account_manager")]

    def update_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``accounts.services.organization_update`` (after ``is_valid``)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "tier": data["tier"],
            "annual_contract_value": data["annual_contract_value"],
            "currency": data["currency"],
            "account_manager": data["account_manager"],
            "notes": data["notes"],
            "custom_fields": {spec.key: data.get(CUSTOM_PREFIX + spec.key) for spec in self.specs},
            "expected_updated_at": data["updated_at"],
        }

    def add_service_errors(self, errors: Mapping[str, str], message: str) -> None:
        """Put the service's (and the custom field rules') errors on the fields they concern."""
        placed = False
        for key, text in errors.items():
            name = key
            if key.startswith("custom_fields."):
                name = CUSTOM_PREFIX + key.removeprefix("custom_fields.")
            if name in self.fields:
                self.add_error(name, text)
                placed = True
            elif key != "__all__":
                self.add_error(None, f"{key}: {text}")
                placed = True
        if not placed:
            self.add_error(None, message)
