"""An agent's own preferences page: language, time zone, signature."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import services
from accounts.models import AgentProfile
from tickets.views.common import agent_required

TIME_ZONES = sorted(zoneinfo.available_timezones())


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"), choices=[(z, z) for z in TIME_ZONES])
    signature = forms.CharField(
        label=gettext_lazy("Signature"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


@agent_required
def preferences(request: HttpRequest) -> HttpResponse:
    profile = AgentProfile.objects.filter(user_id=request.user.pk, is_active=True).first()
    if profile is None:  # a superuser without an agent profile has nothing to set here
        messages.info(request, _("You have no agent profile; an administrator can create one."))
        return redirect("desk:home")
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            try:
                services.agent_set_preferences(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Preferences saved."))
                return redirect("desk:preferences")
    else:
        form = PreferencesForm(
            initial={"language": profile.language, "time_zone": profile.time_zone, "signature": profile.signature}
        )
    return render(request, "desk/preferences.html", {"form": form, "title": _("Preferences")})


urlpatterns = [path("preferences/", preferences, name="preferences")]
