"""Desk-wide configuration (branding, portal rules) and the API's idempotency records."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def validate_hex_colour(value: str) -> None:
    if not _HEX_COLOUR.match(value or ""):
        raise ValidationError(_("Use a colour like #1f5fbf."))


class DeskSettings(models.Model):
    """The one row of desk-wide settings an admin edits: branding and portal rules."""

    name = models.CharField(max_length=100, blank=True, help_text=_("Shown in the portal and in emails."))
    logo = models.FileField(upload_to="branding/", blank=True, help_text=_("PNG, JPEG, GIF or WebP, at most 1 MB."))
    primary_colour = models.CharField(max_length=7, default="#1f5fbf", validators=[validate_hex_colour])
    accent_colour = models.CharField(max_length=7, default="#0b7a53", validators=[validate_hex_colour])
    portal_reopen_days = models.PositiveSmallIntegerField(
        default=14, help_text=_("Customers may reopen a solved ticket for this many days.")
    )
    csat_enabled = models.BooleanField(
        _("satisfaction surveys"), default=True, help_text=_("Ask customers to rate each solved ticket.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("desk settings")
        verbose_name_plural = _("desk settings")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="desk_settings_single_row")]

    def __str__(self) -> str:
        return str(_("Desk settings"))


class IdempotencyRecord(models.Model):
    """The first answer to an API create request sent with an ``Idempotency-Key``, per caller."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    # SHA-256 of the request body: the same key with another body is refused, not replayed.
    request_hash = models.CharField(max_length=64)
    # Empty while the first request is still running.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_once_per_caller")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key}"
