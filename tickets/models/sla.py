"""SLA policies: targets per priority. Business calendars and due-date arithmetic build on these."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.choices import Priority


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text=_("Applies when no other rule matches (B2C)."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="sla_one_default")
        ]

    def __str__(self) -> str:
        return self.name


class SLATarget(models.Model):
    """Targets in business minutes for one priority of a policy; empty means no target."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "priority"]
        verbose_name = "SLA target"
        constraints = [models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_unique_priority")]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_priority_display()}"
