"""Forms of the portal's accounts: login, sign-up, verification, password reset, the account page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.domain.emails import InvalidEmail, normalize_email
from accounts.domain.permissions import Kind


def _normalized(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmail:
        return value.strip().lower()


class PortalLoginForm(AuthenticationForm):
    """Email address (or username) and password; only customer logins get in.

    The address is turned into the customer's username before ``authenticate``, so failed attempts
    (django-axes) are counted per account whichever of the two was typed.
    """

    username = forms.CharField(
        label=_("Email address"),
        max_length=254,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "username", "inputmode": "email", "spellcheck": "false"}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _(
            "The email address or password is not right. If you have just signed up, confirm your "
            "address first with the link we emailed you."
        ),
        "inactive": _("This account is inactive."),
        "not_customer": _("This is the customer portal. Staff sign in to the workspace."),
    }

    def __init__(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].max_length = 254
        self.fields["username"].widget.attrs["maxlength"] = 254
        self.fields["username"].label = _("Email address")

    def clean(self) -> dict[str, Any]:
        identifier = (self.cleaned_data.get("username") or "").strip()
        password = self.cleaned_data.get("password")
        if identifier and password:
            username = identifier
            if "@" in identifier:
                address = _normalized(identifier)
                username = selectors.customer_login_username(address) or address
            self.user_cache = authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            if selectors.principal_for(self.user_cache).kind is not Kind.CUSTOMER:
                self.user_cache = None
                raise ValidationError(self.error_messages["not_customer"], code="not_customer")
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def get_invalid_login_error(self) -> ValidationError:
        return ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class SignUpForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True})
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        help_text=_("If you have written to us before, use that address: you will see your earlier requests."),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Give your name."), code="required")
        return name

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except InvalidEmail as exc:
            raise ValidationError(_("Enter a valid email address."), code="invalid") from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", ValidationError(_("The two passwords differ."), code="password_mismatch"))
        elif first:
            # The rules look at the name and address given, never at what the desk knows of them.
            probe = get_user_model()(
                username=data.get("email") or "", email=data.get("email") or "", first_name=data.get("name") or ""
            )
            try:
                password_validation.validate_password(first, probe)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class VerifyEmailForm(forms.Form):
    password = forms.CharField(
        label=_("The password you chose"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        help_text=_("So we know it is you who signed up, not somebody else using your address."),
    )


class PortalPasswordResetForm(PasswordResetForm):
    """Django's reset form, for customers: the same answer (and the same work in the request) for every
    address; ``accounts.services.customer_password_reset_send`` mails only an active customer's verified
    address, always the address that was asked for."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Only queue the work (``portal.tasks.send_password_reset_task``): whether the address has an
        account is found out after the response, so the answer takes the same time for every address."""
        from portal.tasks import send_password_reset_task

        address = _normalized(self.cleaned_data["email"])
        language = translation.get_language()
        transaction.on_commit(lambda: send_password_reset_task.delay(address, language))


class ProfileForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class PortalPasswordChangeForm(PasswordChangeForm):
    """Django's form (old password, new password twice, the password rules); the view saves through
    ``accounts.services.customer_change_password``.

    The current password is checked through ``authenticate`` (with the request), so django-axes counts
    wrong guesses as it does at the login: a borrowed session cannot guess the password without limit,
    and after ``LOGIN_FAILURE_LIMIT`` of them the page answers with the lockout (429).
    """

    def __init__(self, user: Any, *args: Any, request: Any = None, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
