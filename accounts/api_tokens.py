"""An agent's own API tokens in the workspace: list, create (shown once), revoke."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts import selectors, services
from tickets.views.common import agent_required

EXPIRY_CHOICES = [
    ("", gettext_lazy("Never")),
    ("30", gettext_lazy("In 30 days")),
    ("90", gettext_lazy("In 90 days")),
    ("365", gettext_lazy("In a year")),
]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What the token is for, e.g. Shop integration."),
    )
    expires_in = forms.ChoiceField(label=gettext_lazy("Expires"), choices=EXPIRY_CHOICES, required=False)


@agent_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    new_token = None
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data["expires_in"]
            expires_at = timezone.now() + timedelta(days=int(days)) if days else None
            try:
                _token, new_token = services.api_token_create(
                    user=request.user, name=form.cleaned_data["name"], expires_at=expires_at
                )
            except services.AccountError as exc:
                for field, error in exc.errors.items():
                    form.add_error(field if field in form.fields else None, error)
            else:
                form = ApiTokenForm()
    else:
        form = ApiTokenForm()
    context = {
        "form": form,
        "tokens": selectors.api_tokens_for(request.user),
        "new_token": new_token,
        "now": timezone.now(),
        "title": _("API tokens"),
    }
    response = render(request, "desk/api_tokens.html", context, status=400 if form.errors else 200)
    if new_token:
        response["Cache-Control"] = "no-store"  # the token is shown once: never from a cache
    return response


@require_POST
@agent_required
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.api_tokens_for(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404(_("No such token."))
    services.api_token_revoke(token=token)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("desk:api_tokens")


urlpatterns = [
    path("preferences/api-tokens/", api_tokens, name="api_tokens"),
    path("preferences/api-tokens/<int:pk>/revoke/", api_token_revoke, name="api_token_revoke"),
]
