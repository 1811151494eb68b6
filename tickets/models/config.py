"""Desk configuration around tickets: types, tags, macros, saved views."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.choices import Priority, Status, ViewVisibility
from tickets.domain import macros


class TicketType(models.Model):
    name = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True, help_text=_("Lower case, no spaces."))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def normalize(name: str) -> str:
        value = "-".join(name.strip().lower().split())
        if not value or len(value) > 60 or any(ch in value for ch in ",<>\"'"):
            raise ValidationError(_("A tag is 1-60 characters without commas, quotes or angle brackets."))
        return value

    def clean(self) -> None:
        self.name = self.normalize(self.name)


class Macro(models.Model):
    """A canned reply with placeholders plus actions, for one ticket or many."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    reply_text = models.TextField(blank=True, help_text=_("Public reply; placeholders like {{ customer.name }}."))
    set_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    set_priority = models.CharField(max_length=10, choices=Priority.choices, blank=True)
    set_team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    add_tags = models.ManyToManyField("tickets.Tag", blank=True, related_name="+")
    remove_tags = models.ManyToManyField("tickets.Tag", blank=True, related_name="+")
    visibility = models.CharField(max_length=10, choices=ViewVisibility.choices, default=ViewVisibility.SHARED)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="macros")
    is_active = models.BooleanField(default=True)
    usage_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            macros.check_placeholders(self.reply_text)
        except macros.UnknownPlaceholder as exc:
            raise ValidationError({"reply_text": str(exc)}) from exc
        if self.set_status == Status.NEW:
            raise ValidationError({"set_status": _("A macro cannot set a ticket back to new.")})
        _check_visibility(self)


class SavedView(models.Model):
    """A named ticket filter and sort, personal or shared."""

    name = models.CharField(max_length=100)
    filters = models.JSONField(default=dict, blank=True, help_text=_("Filter parameters as used by the ticket list."))
    sort = models.CharField(max_length=40, default="-updated_at")
    visibility = models.CharField(max_length=10, choices=ViewVisibility.choices, default=ViewVisibility.PERSONAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_views"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="views")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "name"]
        indexes = [models.Index(fields=["owner", "visibility"], name="savedview_owner_vis")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.filters, dict):
            raise ValidationError({"filters": _("Filters are a mapping of parameter to value.")})
        _check_visibility(self)


def _check_visibility(obj: "Macro | SavedView") -> None:
    if obj.visibility == ViewVisibility.PERSONAL and obj.owner_id is None:
        raise ValidationError({"owner": _("A personal entry needs an owner.")})
    if obj.visibility == ViewVisibility.TEAM and obj.team_id is None:
        raise ValidationError({"team": _("A team entry needs a team.")})
