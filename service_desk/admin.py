"""Desk settings (branding, portal rules, CSAT) in the admin: one row, edited in place.

The changelist goes straight to the row (created with the defaults on first visit); there is no
"add" once it exists and no delete. The logo is checked from its bytes (PNG, JPEG, GIF or WebP,
at most 1 MB; never SVG) and stored under a name of our own with the right extension.
"""

from __future__ import annotations

import hashlib

from django import forms
from django.contrib import admin
from django.core.files.base import ContentFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from service_desk import branding
from service_desk.domain.branding import MAX_LOGO_BYTES, LogoRejected, logo_extension, logo_type
from service_desk.models import DeskSettings

_LOGO_MESSAGES = {
    "empty": _("The file is empty."),
    "too_large": _("The logo is larger than 1 MB."),
    "type": _("Upload a PNG, JPEG, GIF or WebP image (SVG is not accepted)."),
}


class DeskSettingsForm(forms.ModelForm):
    class Meta:
        model = DeskSettings
        fields = ["name", "logo", "primary_colour", "accent_colour", "portal_reopen_days", "csat_enabled"]
        widgets = {
            "primary_colour": forms.TextInput(attrs={"type": "color"}),
            "accent_colour": forms.TextInput(attrs={"type": "color"}),
        }

    def clean_logo(self):  # noqa: ANN201 - a File, False (cleared) or None
        upload = self.cleaned_data.get("logo")
        # Unchanged (the stored file) or cleared: nothing to check.
        if not upload or not hasattr(upload, "content_type"):
            return upload
        if upload.size is not None and upload.size > MAX_LOGO_BYTES:
            raise forms.ValidationError(_LOGO_MESSAGES["too_large"], code="too_large")
        upload.seek(0)
        data = upload.read(MAX_LOGO_BYTES + 1)
        try:
            mime = logo_type(data)
        except LogoRejected as exc:
            raise forms.ValidationError(_LOGO_MESSAGES.get(exc.code, str(exc)), code=exc.code) from exc
        digest = hashlib.sha256(data).hexdigest()[:16]
        return ContentFile(data, name=f"logo-{digest}.{logo_extension(mime)}")


@admin.register(DeskSettings)
class DeskSettingsAdmin(admin.ModelAdmin):
    form = DeskSettingsForm
    fieldsets = [
        (_("Branding"), {"fields": ["name", "logo", "primary_colour", "accent_colour"]}),
        (_("Portal"), {"fields": ["portal_reopen_days"]}),
        (_("Satisfaction surveys"), {"fields": ["csat_enabled"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not DeskSettings.objects.filter(pk=1).exists()

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """There is one row: open it (created with the defaults the first time)."""
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        row = branding.desk_settings()
        return HttpResponseRedirect(reverse("admin:service_desk_desksettings_change", args=[row.pk]))

    def save_model(self, request: HttpRequest, obj: DeskSettings, form: forms.ModelForm, change: bool) -> None:
        obj.pk = 1
        branding.desk_settings_save(obj)
