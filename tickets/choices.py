from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.domain.status import Status as DomainStatus


class Status(models.TextChoices):
    NEW = DomainStatus.NEW.value, _("New")
    OPEN = DomainStatus.OPEN.value, _("Open")
    PENDING = DomainStatus.PENDING.value, _("Pending")
    ON_HOLD = DomainStatus.ON_HOLD.value, _("On hold")
    SOLVED = DomainStatus.SOLVED.value, _("Solved")
    CLOSED = DomainStatus.CLOSED.value, _("Closed")


ACTIVE_STATUS_VALUES = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


# Sort key for priorities: urgent first.
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEB = "web", _("Web form")
    PORTAL = "portal", _("Portal")
    API = "api", _("API")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    # Changes made by the desk itself (timers, automations) rather than through a door.
    SYSTEM = "system", _("System")
    AGENT_UI = "agent_ui", _("Agent workspace")


TICKET_CHANNELS = [(c.value, c.label) for c in Channel if c not in (Channel.SYSTEM, Channel.AGENT_UI)]


class MessageKind(models.TextChoices):
    REPLY = "reply", _("Public reply")
    NOTE = "note", _("Internal note")
    PHONE_CALL = "phone_call", _("Phone call")
    MEETING = "meeting", _("Meeting")
    SYSTEM = "system", _("System message")


# What a customer may ever see of a ticket's conversation.
PUBLIC_MESSAGE_KINDS = [MessageKind.REPLY]


class EventAction(models.TextChoices):
    CREATED = "created", _("Created")
    MESSAGE_ADDED = "message_added", _("Message added")
    STATUS = "status", _("Status changed")
    PRIORITY = "priority", _("Priority changed")
    ASSIGNEE = "assignee", _("Assignee changed")
    TEAM = "team", _("Team changed")
    TYPE = "type", _("Type changed")
    TAGS = "tags", _("Tags changed")
    CC = "cc", _("CC changed")
    CUSTOM_FIELD = "custom_field", _("Custom field changed")
    SUBJECT = "subject", _("Subject changed")
    MERGED_INTO = "merged_into", _("Merged into another ticket")
    MERGED_FROM = "merged_from", _("Another ticket merged in")
    LINKED = "linked", _("Linked")
    # SLA clocks: a target met, a warning, a breach or a further escalation (field: the target).
    SLA = "sla", _("SLA")
    # A customer's satisfaction rating of a solved ticket (field: "rating", new value: good or bad).
    CSAT = "csat", _("Satisfaction rating")


class LinkKind(models.TextChoices):
    RELATED = "related", _("Related")
    FOLLOW_UP = "follow_up", _("Follow-up of")


class ViewVisibility(models.TextChoices):
    PERSONAL = "personal", _("Personal")
    SHARED = "shared", _("Shared with everyone")
    TEAM = "team", _("Shared with a team")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class SatisfactionRating(models.TextChoices):
    GOOD = "good", _("Good")
    BAD = "bad", _("Bad")
