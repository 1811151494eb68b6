"""Customer satisfaction: one survey per solve of a ticket, answered good or bad with a comment."""

from django.conf import settings
from django.db import models

from tickets.choices import SatisfactionRating


class SatisfactionSurvey(models.Model):
    """Asked once each time a ticket is solved; who worked it is kept for the reports."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="surveys")
    # 1 for the first solve, 2 after the ticket was reopened and solved again, ...
    solve_number = models.PositiveSmallIntegerField()
    contact = models.ForeignKey("accounts.Contact", on_delete=models.CASCADE, related_name="surveys")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rating = models.CharField(max_length=4, choices=SatisfactionRating.choices, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "solve_number"], name="survey_once_per_solve"),
            models.CheckConstraint(
                condition=models.Q(rating="") | models.Q(answered_at__isnull=False), name="survey_rated_when_answered"
            ),
        ]
        indexes = [
            models.Index(fields=["answered_at"], name="survey_answered", condition=~models.Q(rating="")),
            models.Index(fields=["agent", "answered_at"], name="survey_agent"),
            models.Index(fields=["team", "answered_at"], name="survey_team"),
            models.Index(fields=["organization", "answered_at"], name="survey_org"),
            models.Index(fields=["contact", "-created_at"], name="survey_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} #{self.solve_number}: {self.rating or 'unanswered'}"
