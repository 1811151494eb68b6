"""Bulk work on many tickets, run in the background with visible progress.

A job records what was asked (action, parameters, the selection), then a Celery task applies it one
ticket at a time through ``tickets.services`` and counts what changed, what was already so, and what
was refused with the reason. Nothing is half-applied silently: every ticket ends in one of those
three counts, and the refusals are listed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BulkAction(models.TextChoices):
    ASSIGN = "assign", _("Assign")
    STATUS = "status", _("Change status")
    PRIORITY = "priority", _("Change priority")
    TEAM = "team", _("Change team")
    TAGS = "tags", _("Tag")
    MACRO = "macro", _("Apply macro")
    MERGE = "merge", _("Merge")
    CLOSE = "close", _("Close")


class BulkJobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BulkJob(models.Model):
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bulk_jobs")
    action = models.CharField(max_length=10, choices=BulkAction.choices)
    params = models.JSONField(default=dict, blank=True)
    # The selection: explicit ticket ids, or the filter of a list ("all that match"), resolved when the
    # job starts and scoped to what its creator may see.
    ticket_ids = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=BulkJobState.choices, default=BulkJobState.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    # [{"ticket": id, "reference": "SD-1", "reason": "..."}], what was refused and why.
    refusals = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="bulkjob_creator")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.processed}/{self.total})"

    @property
    def is_finished(self) -> bool:
        return self.state in (BulkJobState.DONE, BulkJobState.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.processed * 100 // self.total)
