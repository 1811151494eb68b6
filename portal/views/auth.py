"""Customer accounts of the portal: login and logout, sign-up with a verification link (which also
claims the contact of a person who wrote in before), password reset, the account page, and the
page shown when django-axes locks a username and address out after too many failed logins.

The views are thin: the forms parse, ``accounts.services`` writes (``customer_sign_up``,
``customer_verify_email``, ``customer_update_profile``, ``customer_change_password``) and the rules
are in ``accounts.domain.signup``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages as flash
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import selectors
from accounts import services as account_services
from accounts.domain.permissions import Kind
from accounts.domain.signup import lockout_ends_at, minutes_until, safe_next_path
from portal import forms_account as forms
from portal.views.common import customer_required

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGNUP_SESSION_KEY = "portal_signup_email"


def _first_url(*names: str) -> str:
    """The first of the named portal routes that exists (the areas are built side by side)."""
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return "/portal/"


def _after_login_url() -> str:
    return _first_url("portal:tickets", "portal:home", "portal:account")


def _is_customer(request: HttpRequest) -> bool:
    return selectors.principal_for(request.user).kind is Kind.CUSTOMER


# --- Login and logout -----------------------------------------------------------------------------


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/account/login.html"
    form_class = forms.PortalLoginForm
    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        """``next`` only when it is a path on this host; anything else (other hosts, ``//host``,
        schemes) is ignored and the customer lands on their tickets."""
        target = safe_next_path(self.request.POST.get(self.redirect_field_name, self.request.GET.get("next")))
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            # Back to the login page itself is no destination (and Django's redirect-loop check would
            # turn it into a 500 for a signed-in customer).
            if urlsplit(target).path.rstrip("/") == self.request.path.rstrip("/"):
                return ""
            return target
        return ""

    def get_default_redirect_url(self) -> str:
        return _after_login_url()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not _is_customer(request):
            # A signed-in agent is not sent on to customer pages (they would be 404s): show the form.
            self.redirect_authenticated_user = False
        return super().dispatch(request, *args, **kwargs)


class PortalLogoutView(auth_views.LogoutView):
    """POST only (Django's rule): a link or a prefetch cannot sign anybody out."""

    def get_success_url(self) -> str:
        return reverse("portal:login")


# --- Sign-up and verification ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and _is_customer(request):
        return redirect("portal:account")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.customer_sign_up(
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                language=translation.get_language() or "en",
            )
        except account_services.AccountError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            # Whatever the address is (new, known, somebody's login, staff) the answer is the same.
            request.session[SIGNUP_SESSION_KEY] = form.cleaned_data["email"]
            return redirect("portal:signup_done")
    return render(request, "portal/account/signup.html", {"form": form})


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/account/signup_done.html", {"email": request.session.get(SIGNUP_SESSION_KEY, "")})


LINK_PROBLEMS = {
    "expired": gettext_lazy("This link has expired. Sign up again to get a new one."),
    "invalid": gettext_lazy("This link is not valid (or a newer one was sent). Sign up again to get a new one."),
    "used": gettext_lazy("This address is confirmed already. Sign in with your email address and password."),
    "staff": gettext_lazy("This address belongs to a staff account and cannot be used for the portal."),
    "taken": gettext_lazy("This address already has an account. Sign in, or reset your password if you forgot it."),
    "tries": gettext_lazy("Too many wrong passwords were given on this link. Sign up again to get a new one."),
}


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the confirmation form (a mail scanner fetching the link changes nothing); POST with
    the password chosen at sign-up proves the address, attaches the login to its contact and signs in."""
    problem = None
    email = ""
    try:
        payload = account_services.customer_read_verification_token(token)
    except account_services.SignUpLinkError as exc:
        problem = exc.reason
    else:
        email = str(payload["e"])
        if not selectors.signup_still_waiting(payload["u"]):
            problem = "used"
    form = forms.VerifyEmailForm(request.POST or None)
    if problem is None and request.method == "POST" and form.is_valid():
        try:
            user = account_services.customer_verify_email(token=token, password=form.cleaned_data["password"])
        except account_services.SignUpLinkError as exc:
            if exc.reason == "password":
                form.add_error("password", _("This is not the password you chose when you signed up."))
            else:
                problem = exc.reason
        else:
            login(request, user, backend=MODEL_BACKEND)
            flash.success(request, _("Your address is confirmed. Welcome!"))
            return redirect(_after_login_url())
    status = 200 if problem is None else 400
    context = {"form": form, "email": email, "problem": problem, "problem_text": LINK_PROBLEMS.get(problem, "")}
    return render(request, "portal/account/verify_email.html", context, status=status)


# --- Password reset -------------------------------------------------------------------------------


class PortalPasswordResetView(auth_views.PasswordResetView):
    """The same answer whatever the address; mails only to active customers' verified addresses."""

    template_name = "portal/account/password_reset_form.html"
    form_class = forms.PortalPasswordResetForm
    email_template_name = "emails/portal_password_reset.txt"
    subject_template_name = "emails/portal_password_reset.subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/account/password_reset_done.html"


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/account/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The password a guesser was after is gone: the real user need not wait for the cool-off.
        account_services.login_lockouts_clear(username=form.user.get_username())
        return response


class PortalPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/account/password_reset_complete.html"


# --- Account page ---------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def account(request: HttpRequest) -> HttpResponse:
    contact = selectors.customer_account(request.user)
    if contact is None:
        raise Http404("Not a customer.")
    action = request.POST.get("action") if request.method == "POST" else None
    profile_form = forms.ProfileForm(
        request.POST if action == "profile" else None,
        initial={"name": contact.name, "language": contact.language},
        prefix="profile",
    )
    password_form = forms.PortalPasswordChangeForm(
        request.user, request.POST if action == "password" else None, prefix="password", request=request
    )
    if action == "profile" and profile_form.is_valid():
        try:
            account_services.customer_update_profile(
                user=request.user,
                name=profile_form.cleaned_data["name"],
                language=profile_form.cleaned_data["language"],
            )
        except account_services.AccountError as exc:
            for field, message in exc.errors.items():
                profile_form.add_error(field if field in profile_form.fields else None, message)
        else:
            with translation.override(profile_form.cleaned_data["language"]):
                flash.success(request, _("Your details are saved."))
            return redirect("portal:account")
    if action == "password" and password_form.is_valid():
        account_services.customer_change_password(
            user=request.user, password=password_form.cleaned_data["new_password1"]
        )
        update_session_auth_hash(request, request.user)
        flash.success(request, _("Your password is changed."))
        return redirect("portal:account")
    context = {
        "contact": contact,
        "emails": list(contact.emails.all()),
        "profile_form": profile_form,
        "password_form": password_form,
    }
    return render(
        request, "portal/account/account.html", context, status=400 if action and request.method == "POST" else 200
    )


# --- django-axes hooks (settings: AXES_CLIENT_IP_CALLABLE, AXES_LOCKOUT_CALLABLE) ------------------


def client_ip_for_axes(request: HttpRequest) -> str | None:
    """The client's address as the web form sees it (``TRUSTED_PROXY_COUNT``), or None when there is
    no valid one (requests built by tests): axes stores it in an IP address column."""
    from channels_intake.web import client_ip

    value = client_ip(request)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The 429 page: too many failed logins for this username from this address, and when to try again."""
    from axes.helpers import get_client_username, get_cool_off
    from axes.models import AccessAttempt

    username = get_client_username(request, credentials) or ""
    cool_off = get_cool_off(request) or timedelta(0)
    now = timezone.now()
    last = (
        AccessAttempt.objects.filter(username=username, ip_address=getattr(request, "axes_ip_address", None))
        .aggregate(last=Max("attempt_time"))
        .get("last")
    )
    ends_at = lockout_ends_at(last or now, cool_off)
    minutes = minutes_until(ends_at, now)
    portal = request.path.startswith("/portal/")
    template = "portal/account/locked_out.html" if portal else "portal/account/locked_out_desk.html"
    context = {
        "ends_at": ends_at,
        "minutes": minutes,
        "reset_url": reverse("portal:password_reset"),
        "login_url": reverse("portal:login") if portal else request.path,
    }
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(max(1, int((ends_at - now).total_seconds())))
    return response


urlpatterns = [
    path("login/", PortalLoginView.as_view(), name="login"),
    path("logout/", PortalLogoutView.as_view(), name="logout"),
    path("signup/", signup, name="signup"),
    path("signup/done/", signup_done, name="signup_done"),
    path("verify/<str:token>/", verify_email, name="verify_email"),
    path("password-reset/", PortalPasswordResetView.as_view(), name="password_reset"),
    path("password-reset/done/", PortalPasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", PortalPasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/complete/", PortalPasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("account/", account, name="account"),
]
