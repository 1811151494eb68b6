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


# --- API tokens (REST API, issue 8) ---------------------------------------------------------------

from datetime import datetime  # noqa: E402

from django.utils import timezone  # noqa: E402

from accounts.api import tokens as api_tokens  # noqa: E402
from accounts.models import ApiToken  # noqa: E402


def api_token_create(*, user: object, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new personal token for ``user``: returns the row and the token, which is never stored (only its hash)."""
    name = " ".join((name or "").split())
    if not name:
        raise AccountError("Give the token a name.", {"name": "Give the token a name."})
    if len(name) > 100:
        raise AccountError("At most 100 characters.", {"name": "At most 100 characters."})
    if expires_at is not None and expires_at <= timezone.now():
        raise AccountError("The expiry must lie in the future.", {"expires_at": "The expiry must lie in the future."})
    if not getattr(user, "is_active", False):
        raise AccountError("Inactive users cannot have tokens.", {"user": "This user is inactive."})
    new = api_tokens.generate_token()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=new.prefix, key_hash=new.key_hash, expires_at=expires_at
    )
    return token, new.token


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token at once (idempotent: a revoked token keeps its first revocation time)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_touch(*, token: ApiToken, at: datetime | None = None) -> None:
    """Record use, at most once a minute per token (one UPDATE, no row lock held by the request)."""
    now = at or timezone.now()
    if token.last_used_at is not None and (now - token.last_used_at).total_seconds() < 60:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


# --- Portal accounts ------------------------------------------------------------------------------
# Customer sign-up with a verification link, claiming a contact that wrote in before, the account
# page's writes, and the mails they send. The rules are in accounts/domain/signup.py.

import hashlib  # noqa: E402
import logging  # noqa: E402
import secrets  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from django.db.models import Exists as models_Exists  # noqa: E402
from django.db.models import OuterRef as models_OuterRef  # noqa: E402

from accounts.domain.signup import (  # noqa: E402
    PendingUser,
    SignUpOutcome,
    sign_up_outcome,
    verification_refusal,
)

_portal_log = logging.getLogger("accounts.portal")

PORTAL_VERIFY_SALT = "accounts.portal.verify-email"


class SignUpLinkError(AccountError):
    """A verification link that cannot be used; ``reason`` is one of invalid, expired, used, staff,
    taken, tries (too many wrong passwords on it), password (the password given on the confirmation
    page is wrong)."""

    def __init__(self, reason: str, message: str = "", errors: Mapping[str, str] | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason, errors)


@dataclass(frozen=True)
class SignUpResult:
    outcome: SignUpOutcome
    email: str
    # The sign-up's user, waiting for its link (new contact or claim); None otherwise.
    user_id: int | None
    # False when the hourly limit of mails to the address was reached and nothing was sent.
    mailed: bool


def portal_url(name: str, *args: object) -> str:
    """An absolute link into the desk (``SITE_URL``), for mails."""
    from django.conf import settings as django_settings
    from django.urls import reverse

    return django_settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def portal_mail_allowed(address: str) -> bool:
    """At most ``PORTAL_ACCOUNT_MAILS_PER_HOUR`` account mails to one address an hour (cache counter),
    so the sign-up and reset forms cannot be used to flood somebody's inbox."""
    from django.conf import settings as django_settings
    from django.core.cache import cache

    key = "portal-account-mail:" + hashlib.sha256(address.encode()).hexdigest()
    if cache.add(key, 1, timeout=3600):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count <= django_settings.PORTAL_ACCOUNT_MAILS_PER_HOUR


def portal_send_mail(*, template: str, to: str, context: Mapping[str, object], language: str | None) -> None:
    """Render ``templates/emails/<template>.subject.txt`` and ``.txt`` in ``language`` and send them."""
    from django.conf import settings as django_settings
    from django.core.mail import EmailMessage
    from django.template.loader import render_to_string
    from django.utils import translation

    from service_desk.branding import brand, from_address

    full = {"desk_name": brand().name, "site_url": django_settings.SITE_URL.rstrip("/"), **context}
    with translation.override(language or translation.get_language() or django_settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"emails/{template}.subject.txt", full).split())
        body = render_to_string(f"emails/{template}.txt", full)
    EmailMessage(subject=subject, body=body, from_email=from_address(), to=[to]).send()


def _queue_portal_mail(*, template: str, to: str, context: Mapping[str, object], language: str | None) -> bool:
    """Send after commit, from the outbound queue (``portal.tasks``): never inside the request."""
    from portal.tasks import send_account_mail_task

    payload = dict(context)
    transaction.on_commit(lambda: send_account_mail_task.delay(template, to, payload, language))
    return True


def customer_password_reset_send(*, email: str, language: str | None = None) -> int:
    """Mail a password reset link for ``email`` if it is the verified address of an active customer
    login (``may_receive_password_reset``), to that address, within the hourly mail limit. Runs in
    ``portal.tasks.send_password_reset_task``: the request that asked answers alike for every address.
    Returns how many mails were sent (0 or 1)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.domain.signup import may_receive_password_reset

    try:
        address = normalize_email(email)
    except InvalidEmail:
        return 0
    users = [user for user, facts in selectors.password_reset_candidates(address) if may_receive_password_reset(facts)]
    if not users or not portal_mail_allowed(address):
        return 0
    for user in users:
        context = {
            "email": address,
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        }
        portal_send_mail(template="portal_password_reset", to=address, context=context, language=language)
    return len(users)


def _verification_state(user: object) -> str:
    """Changes when the sign-up is used (activated), repeated (new password) or logged into."""
    from django.utils.crypto import salted_hmac

    value = f"{user.pk}:{user.password}:{user.is_active}:{user.last_login}"  # type: ignore[attr-defined]
    return salted_hmac(PORTAL_VERIFY_SALT, value, algorithm="sha256").hexdigest()[:24]


def customer_verification_token(user: object, *, language: str = "en") -> str:
    """A signed, expiring token naming the waiting sign-up and its address."""
    from django.core import signing

    payload = {"u": user.pk, "e": user.email, "s": _verification_state(user), "l": language}  # type: ignore[attr-defined]
    return signing.dumps(payload, salt=PORTAL_VERIFY_SALT)


def customer_read_verification_token(token: str) -> dict:
    """The token's payload; ``SignUpLinkError`` (expired, invalid) when it cannot be used."""
    from django.conf import settings as django_settings
    from django.core import signing

    try:
        payload = signing.loads(token, salt=PORTAL_VERIFY_SALT, max_age=django_settings.PORTAL_SIGNUP_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise SignUpLinkError("expired") from exc
    except signing.BadSignature as exc:
        raise SignUpLinkError("invalid") from exc
    if not isinstance(payload, dict) or not {"u", "e", "s"} <= payload.keys():
        raise SignUpLinkError("invalid")
    return payload


def _unique_username(email: str) -> str:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if len(email) <= 150 and not user_model.objects.filter(username__iexact=email).exists():
        return email
    return f"customer-{secrets.token_hex(8)}"


def customer_sign_up(*, name: str, email: str, password: str, language: str = "en") -> SignUpResult:
    """A customer signs up. Nothing is attached to any contact yet: the address must be proven first.

    - New address or a contact that wrote in before (claim): a waiting, inactive user is made (or
      the waiting one of an earlier sign-up updated: new name and password, its old link dies) and
      the verification link mailed.
    - The address already has a customer login: a "you already have an account" mail instead.
    - The address belongs to staff: a notice mail, never a customer login.

    The caller shows the same page in every case, so a sign-up reveals nothing about an address.
    """
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    try:
        address = normalize_email(email)
    except InvalidEmail as exc:
        raise AccountError(str(exc), {"email": "Enter a valid email address."}) from exc
    name = " ".join((name or "").split())
    if not name:
        raise AccountError("Give your name.", {"name": "Give your name."})
    with transaction.atomic():
        outcome = sign_up_outcome(selectors.signup_address_facts(address))
        if not portal_mail_allowed(address):
            # Over the hourly limit: no mail, and a waiting sign-up is left as it is (its link still works).
            make_password(password)
            _portal_log.warning("Portal sign-up for an address over its hourly mail limit ignored.")
            return SignUpResult(outcome, address, None, False)
        if outcome in (SignUpOutcome.STAFF_ADDRESS, SignUpOutcome.EXISTING_ACCOUNT):
            make_password(password)  # the same hashing time as a real sign-up: the timing tells nothing
        if outcome is SignUpOutcome.STAFF_ADDRESS:
            mailed = _queue_portal_mail(
                template="portal_staff_address",
                to=address,
                context={"email": address, "desk_login_url": portal_url("desk:login")},
                language=language,
            )
            return SignUpResult(outcome, address, None, mailed)
        if outcome is SignUpOutcome.EXISTING_ACCOUNT:
            mailed = _queue_portal_mail(
                template="portal_existing_account",
                to=address,
                context={
                    "email": address,
                    "login_url": portal_url("portal:login"),
                    "reset_url": portal_url("portal:password_reset"),
                },
                language=language,
            )
            return SignUpResult(outcome, address, None, mailed)
        user_model = get_user_model()
        pending = selectors.pending_signup_user(address)
        if pending is not None:
            user = user_model.objects.select_for_update().get(pk=pending.pk)
        else:
            user = user_model(username=_unique_username(address), email=address, is_active=False)
        user.first_name = name[:150]
        user.last_name = ""
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # the username was taken meanwhile (two sign-ups at once)
            user.username = f"customer-{secrets.token_hex(8)}"
            user.save()
        token = customer_verification_token(user, language=language)
        mailed = _queue_portal_mail(
            template="portal_verify_email",
            to=address,
            # No name here: whoever signs up chooses it, and the mail goes to an inbox not yet proven theirs.
            context={
                "email": address,
                "verify_url": portal_url("portal:verify_email", token),
                "link_hours": max(1, django_settings.PORTAL_SIGNUP_LINK_MAX_AGE // 3600),
            },
            language=language,
        )
        return SignUpResult(outcome, address, user.pk, mailed)


def _verify_tries(key: str, *, add: bool = False) -> int:
    """Wrong passwords given on one verification link (a cache counter that lives as long as a link)."""
    from django.conf import settings as django_settings
    from django.core.cache import cache

    if not add:
        return int(cache.get(key) or 0)
    if cache.add(key, 1, timeout=django_settings.PORTAL_SIGNUP_LINK_MAX_AGE):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=django_settings.PORTAL_SIGNUP_LINK_MAX_AGE)
        return 1


def customer_verify_email(*, token: str, password: str):  # noqa: ANN201 - the activated User
    """Follow a verification link: the address is proven, so the waiting user becomes a customer login.

    The contact that owns the address (it wrote in before) is claimed, else a new contact is made
    (joining an organization by domain, as intake does); the address is marked verified and the
    user activated, all in one transaction. The password chosen at sign-up must be given again, so a
    link clicked by somebody who did not sign up (or fetched by a mail scanner) proves nothing.
    ``SignUpLinkError`` says why a link cannot be used; nothing is written then.
    """
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone as dj_timezone

    payload = customer_read_verification_token(token)
    address = str(payload["e"])
    language = str(payload.get("l") or "en")
    with transaction.atomic():
        user = (
            get_user_model()
            .objects.select_for_update()
            .filter(pk=payload["u"])
            .annotate(is_agent=models_Exists(AgentProfile.objects.filter(user_id=models_OuterRef("pk"))))
            .first()
        )
        if user is None:
            raise SignUpLinkError("invalid")
        facts = selectors.signup_address_facts(address)
        refusal = verification_refusal(
            PendingUser(
                is_active=user.is_active,
                has_contact=Contact.objects.filter(user_id=user.pk).exists(),
                is_staff=bool(user.is_agent or user.is_staff or user.is_superuser),
                email=(user.email or "").lower(),
            ),
            address,
            facts,
        )
        if refusal is not None:
            raise SignUpLinkError(refusal)
        if payload["s"] != _verification_state(user):
            raise SignUpLinkError("invalid")  # a newer sign-up replaced this one
        tries_key = f"portal-verify-tries:{user.pk}:{payload['s']}"
        if _verify_tries(tries_key) >= django_settings.AXES_FAILURE_LIMIT:
            raise SignUpLinkError("tries")  # a leaked link gives no unlimited guesses; sign up again
        if not user.check_password(password):
            _verify_tries(tries_key, add=True)
            raise SignUpLinkError("password", errors={"password": "This is not the password you chose."})
        now = dj_timezone.now()
        if facts.contact_id is not None:
            contact = Contact.objects.select_for_update().get(pk=facts.contact_id)
            if contact.user_id is not None:
                raise SignUpLinkError("taken")
            contact.user = user
            fields = ["user", "updated_at"]
            if not contact.name:
                contact.name = user.first_name
                fields.append("name")
            contact.save(update_fields=fields)
        else:
            try:
                with transaction.atomic():
                    contact = contact_create(
                        email=address, name=user.first_name, enforce_required_fields=False, language=language
                    )
            except (AccountError, IntegrityError) as exc:  # the address was taken meanwhile
                raise SignUpLinkError("invalid") from exc
            contact.user = user
            contact.save(update_fields=["user", "updated_at"])
        ContactEmail.objects.filter(email=address, contact=contact, verified_at__isnull=True).update(verified_at=now)
        user.is_active = True
        user.save(update_fields=["is_active", "password"])
        return user


def customer_update_profile(*, user: object, name: str, language: str) -> Contact:
    """The signed-in customer's own name and language (the portal renders in it)."""
    from django.conf import settings as django_settings

    name = " ".join((name or "").split())
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give your name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    if language not in {code for code, _label in django_settings.LANGUAGES}:
        errors["language"] = "Unknown language."
    if errors:
        raise AccountError("; ".join(errors.values()), errors)
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(user_id=getattr(user, "pk", None))
        contact.name = name
        contact.language = language
        contact.save(update_fields=["name", "language", "updated_at"])
        user.first_name = name[:150]  # type: ignore[attr-defined]
        user.last_name = ""  # type: ignore[attr-defined]
        user.save(update_fields=["first_name", "last_name"])  # type: ignore[attr-defined]
    return contact


def customer_change_password(*, user: object, password: str) -> None:
    """Set a customer's new password (the form has checked the old one and the password rules)."""
    user.set_password(password)  # type: ignore[attr-defined]
    user.save(update_fields=["password"])  # type: ignore[attr-defined]


def login_lockouts_clear(*, username: str) -> int:
    """Forget the failed logins of ``username`` (after a password reset: the guessed password is gone)."""
    from axes.utils import reset

    if not username:  # axes would reset everybody's
        return 0
    return reset(username=username)
