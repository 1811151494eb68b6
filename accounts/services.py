"""Writes for people and accounts. Every function is atomic and validates before it writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import selectors
from accounts.choices import AgentRole, CustomFieldEntity, Tier
from accounts.domain import custom_fields as cf
from accounts.domain.emails import InvalidEmail, normalize_email, validate_organization_domain
from accounts.models import AgentProfile, Contact, ContactEmail, Organization, OrganizationDomain, Team


class AccountError(ValueError):
    """Invalid input for an account change; ``errors`` maps field -> message where known."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        self.errors = dict(errors or {})
        super().__init__(message)


def _full_clean(obj: object, exclude: Iterable[str] = ()) -> None:
    try:
        obj.full_clean(exclude=list(exclude))  # type: ignore[attr-defined]
    except ValidationError as exc:
        errors = {k: " ".join(str(m) for m in v) for k, v in exc.message_dict.items()}
        raise AccountError("; ".join(f"{k}: {v}" for k, v in errors.items()), errors) from exc


def _custom_values(
    entity: str,
    values: Mapping[str, object],
    existing: Mapping[str, object] | None = None,
    *,
    require: bool = True,
) -> dict:
    """Validate custom fields. ``existing`` merges a partial update; ``require=False`` checks only
    the values given (a sender writing by email cannot be asked for a required field)."""
    partial = existing is not None or not require
    try:
        return cf.validate_values(
            selectors.custom_field_specs(entity),
            values,
            existing=existing,
            partial=partial,  # type: ignore[arg-type]
        )
    except cf.CustomFieldError as exc:
        raise AccountError(str(exc), {f"custom_fields.{k}": v for k, v in exc.errors.items()}) from exc


@transaction.atomic
def organization_create(
    *,
    name: str,
    domains: Iterable[str] = (),
    tier: str = Tier.STANDARD,
    annual_contract_value: Decimal | int | str = 0,
    currency: str = "EUR",
    account_manager=None,  # noqa: ANN001 - a User with an agent profile
    parent: Organization | None = None,
    custom_fields: Mapping[str, object] | None = None,
    **profile: object,
) -> Organization:
    if account_manager is not None and not AgentProfile.objects.filter(user=account_manager, is_active=True).exists():
        raise AccountError("The account manager must be an active agent.", {"account_manager": "Not an active agent."})
    org = Organization(
        name=name.strip(),
        tier=tier,
        annual_contract_value=Decimal(str(annual_contract_value)),
        currency=currency,
        account_manager=account_manager,
        parent=parent,
        custom_fields=_custom_values(CustomFieldEntity.ORGANIZATION, custom_fields or {}),
        **profile,
    )
    _full_clean(org, exclude=["sla_policy", "default_team"])
    org.save()
    for domain in domains:
        organization_add_domain(organization=org, domain=domain)
    return org


@transaction.atomic
def organization_add_domain(*, organization: Organization, domain: str) -> OrganizationDomain:
    try:
        value = validate_organization_domain(domain)
    except InvalidEmail as exc:
        raise AccountError(str(exc), {"domain": str(exc)}) from exc
    existing = OrganizationDomain.objects.filter(domain=value).select_related("organization").first()
    if existing is not None:
        if existing.organization_id == organization.pk:
            return existing
        raise AccountError(
            f"{value} already belongs to {existing.organization.name}.", {"domain": "Claimed by another organization."}
        )
    return OrganizationDomain.objects.create(organization=organization, domain=value)


@transaction.atomic
def organization_set_custom_fields(*, organization: Organization, values: Mapping[str, object]) -> Organization:
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    org.custom_fields = _custom_values(CustomFieldEntity.ORGANIZATION, values, existing=org.custom_fields)
    org.save(update_fields=["custom_fields", "updated_at"])
    return org


@transaction.atomic
def contact_create(
    *,
    email: str | None = None,
    name: str = "",
    organization: Organization | None = None,
    link_by_domain: bool = True,
    extra_emails: Iterable[str] = (),
    custom_fields: Mapping[str, object] | None = None,
    enforce_required_fields: bool = True,
    **profile: object,
) -> Contact:
    """Create a person. With ``link_by_domain`` an unknown sender joins the organization owning their domain.

    Intake passes ``enforce_required_fields=False``: an unknown sender cannot be asked for them.
    """
    addresses = [a for a in [email, *extra_emails] if a]
    normalized: list[str] = []
    for address in addresses:
        try:
            normalized.append(normalize_email(address))
        except InvalidEmail as exc:
            raise AccountError(str(exc), {"email": str(exc)}) from exc
    normalized = list(dict.fromkeys(normalized))  # Ann@X and ann@x are one address, stored once
    taken = list(ContactEmail.objects.filter(email__in=normalized).values_list("email", flat=True))
    if taken:
        raise AccountError(f"{', '.join(taken)} already belongs to another contact.", {"email": "Already in use."})
    if organization is None and link_by_domain and normalized:
        organization = selectors.organization_for_email(normalized[0])
    contact = Contact(
        name=name.strip(),
        organization=organization,
        custom_fields=_custom_values(CustomFieldEntity.CONTACT, custom_fields or {}, require=enforce_required_fields),
        **profile,
    )
    _full_clean(contact, exclude=["user"])
    contact.save()
    ContactEmail.objects.bulk_create(
        [ContactEmail(contact=contact, email=addr, is_primary=(i == 0)) for i, addr in enumerate(normalized)]
    )
    return contact


def contact_get_or_create_by_email(*, email: str, name: str = "") -> tuple[Contact, bool]:
    """The contact owning ``email``, or a new one (linked to an organization by domain)."""
    existing = selectors.contact_by_email(email)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return contact_create(email=email, name=name, enforce_required_fields=False), True
    except IntegrityError:  # created concurrently by another worker
        existing = selectors.contact_by_email(email)
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def contact_add_email(*, contact: Contact, email: str, primary: bool = False) -> ContactEmail:
    try:
        value = normalize_email(email)
    except InvalidEmail as exc:
        raise AccountError(str(exc), {"email": str(exc)}) from exc
    owner = ContactEmail.objects.filter(email=value).first()
    if owner is not None:
        if owner.contact_id != contact.pk:
            raise AccountError(f"{value} already belongs to another contact.", {"email": "Already in use."})
        row = owner
    else:
        row = ContactEmail.objects.create(contact=contact, email=value, is_primary=False)
    has_primary = ContactEmail.objects.filter(contact=contact, is_primary=True).exclude(pk=row.pk).exists()
    if primary or not has_primary:
        ContactEmail.objects.filter(contact=contact, is_primary=True).exclude(pk=row.pk).update(is_primary=False)
        row.is_primary = True
        row.save(update_fields=["is_primary"])
    return row


@transaction.atomic
def contact_set_organization(
    *, contact: Contact, organization: Organization | None, can_see_organization_tickets: bool = False
) -> Contact:
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.organization = organization
    contact.can_see_organization_tickets = bool(organization) and can_see_organization_tickets
    if organization is None:
        contact.is_primary = False
    contact.save(update_fields=["organization", "can_see_organization_tickets", "is_primary", "updated_at"])
    return contact


@transaction.atomic
def contact_set_custom_fields(*, contact: Contact, values: Mapping[str, object]) -> Contact:
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.custom_fields = _custom_values(CustomFieldEntity.CONTACT, values, existing=contact.custom_fields)
    contact.save(update_fields=["custom_fields", "updated_at"])
    return contact


@transaction.atomic
def agent_create(
    *,
    username: str,
    email: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    role: str = AgentRole.AGENT,
    teams: Iterable[Team] = (),
    time_zone: str = "Europe/Berlin",
    language: str = "en",
):  # noqa: ANN201 - returns the User
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise AccountError(f"The username {username} is taken.", {"username": "Taken."})
    try:
        address = normalize_email(email)
    except InvalidEmail as exc:
        raise AccountError(str(exc), {"email": str(exc)}) from exc
    user = user_model(username=username, email=address, first_name=first_name, last_name=last_name)
    user.is_staff = role == AgentRole.ADMIN
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    profile = AgentProfile(user=user, role=role, time_zone=time_zone, language=language)
    _full_clean(profile, exclude=["user"])
    profile.save()
    profile.teams.set(list(teams))
    return user


# --- Agent preferences ----------------------------------------------------------------------------


def agent_set_preferences(*, user: object, language: str, time_zone: str, signature: str | None = None) -> AgentProfile:
    """An agent's own language, time zone and signature. ``ValidationError`` for unknown values."""
    import zoneinfo

    from django.conf import settings as django_settings

    profile = AgentProfile.objects.get(user_id=getattr(user, "pk", None), is_active=True)
    errors: dict[str, str] = {}
    if language not in {code for code, _name in django_settings.LANGUAGES}:
        errors["language"] = "Unknown language."
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "Unknown time zone."
    if errors:
        raise ValidationError(errors)
    profile.language = language
    profile.time_zone = time_zone
    fields = ["language", "time_zone", "updated_at"]
    if signature is not None:
        profile.signature = signature[:2000]
        fields.append("signature")
    profile.save(update_fields=fields)
    return profile


# --- Organization edits from the agent workspace --------------------------------------------------


class AccountPermissionDenied(AccountError):
    """The acting user may not make this change (shown to them as the reason)."""


class _Unset:
    """Marks an argument that was not given (``None`` clears the account manager)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()

# Fields that choose the SLA policy of an organization's tickets (as in the admin's OrganizationAdmin).
ORGANIZATION_SLA_SELECTION_FIELDS = ("tier", "sla_policy")
# Long or private values: the change log names the field, not its content.
_LOGGED_WITHOUT_VALUE = {"notes"}


def _log_value(value: object) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if hasattr(value, "get_username"):
        return value.get_full_name() or value.get_username()  # type: ignore[union-attr]
    return str(value)


@transaction.atomic
def organization_update(  # noqa: C901 - one branch per editable field
    *,
    organization: Organization,
    by,  # noqa: ANN001 - the acting User
    name: str | None = None,
    tier: str | None = None,
    annual_contract_value: Decimal | int | str | None = None,
    currency: str | None = None,
    account_manager=UNSET,  # noqa: ANN001 - a User with an agent profile, None to clear
    notes: str | None = None,
    custom_fields: Mapping[str, object] | None = None,
    expected_updated_at=None,  # noqa: ANN001 - the ``updated_at`` the editor saw, to refuse lost updates
) -> tuple[Organization, list[str]]:
    """Change an organization's profile as ``by``; return it and the names of the fields that changed.

    Admins and team leads may edit any organization, an account manager their own. Everything is
    validated before anything is written; the change is logged (Django's ``LogEntry``, shown in the
    admin's history and on the organization page) with who changed what, and a change of tier
    chooses the SLA policy of the organization's open tickets again.
    """
    org = Organization.objects.select_for_update(of=("self",)).select_related("account_manager").get(pk=organization.pk)
    if not selectors.organization_editable_by(by, org):
        raise AccountPermissionDenied("You may not edit this organization.")
    if expected_updated_at is not None and org.updated_at != expected_updated_at:
        raise AccountError(
            "Someone else changed this organization meanwhile. Review their changes and save again.",
            {"__all__": "Changed by someone else meanwhile."},
        )
    before = {
        "name": org.name,
        "tier": org.tier,
        "annual_contract_value": org.annual_contract_value,
        "currency": org.currency,
        "account_manager": org.account_manager,
        "notes": org.notes,
    }
    errors: dict[str, str] = {}
    if name is not None:
        org.name = name.strip()
    if tier is not None:
        if tier not in Tier.values:
            errors["tier"] = "Unknown tier."
        org.tier = tier
    if annual_contract_value is not None:
        try:
            value = Decimal(str(annual_contract_value).strip())
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite():
            errors["annual_contract_value"] = "Enter a number."
        else:
            org.annual_contract_value = value
    if currency is not None:
        org.currency = currency.strip().upper()
    if not isinstance(account_manager, _Unset):
        if (
            account_manager is not None
            and account_manager.pk != org.account_manager_id  # keeping a departed manager is not a change
            and not AgentProfile.objects.filter(user=account_manager, is_active=True, user__is_active=True).exists()
        ):
            errors["account_manager"] = "Not an active agent."
        org.account_manager = account_manager
    if notes is not None:
        org.notes = notes
    old_custom = dict(org.custom_fields or {})
    if custom_fields is not None:
        try:
            org.custom_fields = _custom_values(CustomFieldEntity.ORGANIZATION, custom_fields, existing=old_custom)
        except AccountError as exc:
            errors.update(exc.errors)
    if errors:
        raise AccountError("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    _full_clean(org, exclude=["sla_policy", "default_team", "parent"])

    after = {key: getattr(org, key) for key in before}
    changed = [key for key in before if before[key] != after[key]]
    changed_custom = sorted(
        key for key in set(old_custom) | set(org.custom_fields) if old_custom.get(key) != org.custom_fields.get(key)
    )
    if not changed and not changed_custom:
        return org, []
    fields = [*changed, "custom_fields"] if changed_custom else list(changed)
    org.save(update_fields=[*fields, "updated_at"])

    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.utils import translation

    labels = {spec.key: spec.label for spec in selectors.custom_field_specs(CustomFieldEntity.ORGANIZATION)}
    parts = []
    for key in changed:
        model_field = Organization._meta.get_field(key)
        label = str(model_field.verbose_name).capitalize()
        with translation.override("en"):  # the log reads the same whoever wrote it
            shown = {k: str(v) for k, v in model_field.flatchoices} if model_field.choices else {}  # type: ignore[attr-defined]
        if key in _LOGGED_WITHOUT_VALUE:
            parts.append(f"{label} changed")
        else:
            old, new = shown.get(before[key], before[key]), shown.get(after[key], after[key])
            parts.append(f"{label}: {_log_value(old)} → {_log_value(new)}")
    for key in changed_custom:
        parts.append(
            f"{labels.get(key, key)}: {_log_value(old_custom.get(key))} → {_log_value(org.custom_fields.get(key))}"
        )

    LogEntry.objects.create(
        user_id=by.pk,
        content_type=ContentType.objects.get_for_model(Organization),
        object_id=str(org.pk),
        object_repr=str(org)[:200],
        action_flag=CHANGE,
        change_message=("Changed in the workspace: " + "; ".join(parts) + ".")[:5000],
    )
    if any(key in ORGANIZATION_SLA_SELECTION_FIELDS for key in changed):
        from tickets import sla

        sla.selection_changed(organization_id=org.pk)
    return org, [*changed, *(f"custom_fields.{key}" for key in changed_custom)]
