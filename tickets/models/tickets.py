"""Tickets and their audit timeline.

Nothing here changes a ticket on save: every change goes through ``tickets.services``.
Indexes are chosen for the lists the product shows at a million tickets; each list orders by
(column, id) so keyset pagination has an index to walk.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.choices import (
    ACTIVE_STATUS_VALUES,
    PRIORITY_RANK,
    TICKET_CHANNELS,
    Channel,
    EventAction,
    LinkKind,
    Priority,
    Status,
)
from tickets.domain.references import format_reference

ACTIVE = models.Q(status__in=ACTIVE_STATUS_VALUES)


class Ticket(models.Model):
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    # Sort key for "by priority" (urgent first), computed by the database so lists can walk an index.
    priority_rank = models.GeneratedField(
        expression=models.Case(
            *(models.When(priority=p.value, then=models.Value(rank)) for p, rank in PRIORITY_RANK.items()),
            default=models.Value(9),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    type = models.ForeignKey("tickets.TicketType", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=10, choices=TICKET_CHANNELS, default=Channel.WEB)

    requester = models.ForeignKey(
        "accounts.Contact", on_delete=models.PROTECT, related_name="requested_tickets", db_index=False
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    cc = models.ManyToManyField("accounts.Contact", blank=True, through="tickets.TicketCC", related_name="cc_tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
        db_index=False,
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    tags = models.ManyToManyField("tickets.Tag", blank=True, related_name="tickets")
    custom_fields = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_tickets"
    )

    sla_policy = models.ForeignKey(
        "tickets.SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    # The earliest of the running due dates: one indexed column for "breaching soon" and the sweeper.
    sla_due_at = models.DateTimeField(null=True, blank=True)

    first_responded_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=False)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # "All" and "Recently updated", filtered by status.
            models.Index(fields=["status", "-updated_at", "-id"], name="ticket_status_updated"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated"),
            models.Index(fields=["-created_at", "-id"], name="ticket_created"),
            # "My open tickets" and assignee filters.
            models.Index(fields=["assignee", "status", "-updated_at", "-id"], name="ticket_assignee_status"),
            # "My teams" and team queues.
            models.Index(fields=["team", "status", "-updated_at", "-id"], name="ticket_team_status"),
            # "Unassigned": only active tickets without assignee, small and hot.
            models.Index(
                fields=["team", "-updated_at", "-id"],
                name="ticket_unassigned",
                condition=models.Q(assignee__isnull=True) & ACTIVE,
            ),
            # "Breaching soon" and the SLA sweeper: only active tickets with a running target.
            models.Index(
                fields=["sla_due_at", "id"],
                name="ticket_sla_due",
                condition=models.Q(sla_due_at__isnull=False) & ACTIVE,
            ),
            # Organization page, B2B sidebar, customer history and portal lists.
            models.Index(fields=["organization", "-created_at", "-id"], name="ticket_org_created"),
            models.Index(fields=["requester", "-created_at", "-id"], name="ticket_requester_created"),
            models.Index(fields=["channel", "-created_at", "-id"], name="ticket_channel_created"),
            models.Index(fields=["priority", "status", "-updated_at", "-id"], name="ticket_priority_status"),
            # Active tickets by priority, urgent first (the "priority" sort of the workspace lists).
            models.Index(
                fields=["priority_rank", "-updated_at", "-id"], name="ticket_active_priority", condition=ACTIVE
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(merged_into=models.F("id")), name="ticket_not_merged_into_self"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return format_reference(settings.TICKET_REFERENCE_PREFIX, self.pk) if self.pk else ""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUS_VALUES


class TicketCC(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="cc_links", db_index=False)
    contact = models.ForeignKey("accounts.Contact", on_delete=models.CASCADE, related_name="cc_links", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "CC"
        constraints = [models.UniqueConstraint(fields=["ticket", "contact"], name="ticket_cc_unique")]
        indexes = [models.Index(fields=["contact", "ticket"], name="ticket_cc_contact")]

    def __str__(self) -> str:
        return f"{self.contact} on {self.ticket_id}"


class TicketLink(models.Model):
    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=20, choices=LinkKind.choices, default=LinkKind.RELATED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="ticket_link_unique"),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="ticket_link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.kind} {self.target_id}"


class TicketEvent(models.Model):
    """One entry of a ticket's audit timeline, and the outbox of domain events.

    Written in the same transaction as the change it records; ``published_at`` is set once the
    event was handed to its subscribers (notifications now, webhooks and escalations later).
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=20, choices=EventAction.choices)
    field = models.CharField(max_length=60, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    # The id behind ``new_value`` where there is one (the assigned user, the team), for subscribers.
    new_ref = models.BigIntegerField(null=True, blank=True)
    message = models.ForeignKey("tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_contact = models.ForeignKey(
        "accounts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    # A subscriber that fails is retried with backoff; after the last attempt the event is set
    # aside (published, with the error kept) so one bad event never blocks the ones behind it.
    publish_attempts = models.PositiveSmallIntegerField(default=0)
    publish_error = models.TextField(blank=True)
    publish_not_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="event_ticket_time"),
            models.Index(fields=["id"], name="event_unpublished", condition=models.Q(published_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.action} {self.field}"

    @property
    def actor_label(self) -> str:
        if self.actor_id:
            return self.actor.get_full_name() or self.actor.get_username()
        if self.actor_contact_id:
            return str(self.actor_contact)
        return _("System")
