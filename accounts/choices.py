from django.db import models
from django.utils.translation import gettext_lazy as _


class Tier(models.TextChoices):
    STRATEGIC = "strategic", _("Strategic")
    ENTERPRISE = "enterprise", _("Enterprise")
    STANDARD = "standard", _("Standard")


class AgentRole(models.TextChoices):
    AGENT = "agent", _("Agent")
    TEAM_LEAD = "team_lead", _("Team lead")
    ADMIN = "admin", _("Administrator")


class CustomFieldEntity(models.TextChoices):
    ORGANIZATION = "organization", _("Organization")
    CONTACT = "contact", _("Contact")
    TICKET = "ticket", _("Ticket")


class EntitlementUnit(models.TextChoices):
    HOURS = "hours", _("Hours")
    INCIDENTS = "incidents", _("Incidents")
    SEATS = "seats", _("Named contacts")
    INCLUDED = "included", _("Included (no quantity)")


class EntitlementPeriod(models.TextChoices):
    MONTH = "month", _("Per month")
    YEAR = "year", _("Per year")
    CONTRACT = "contract", _("Per contract term")
