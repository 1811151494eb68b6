"""The conversation of a ticket: replies, notes, logged calls and meetings, system messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tickets.choices import Channel, DeliveryStatus, MessageKind


class Message(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="messages", db_index=False)
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.REPLY)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Exactly one author kind: an agent (user), a contact, or neither for system messages.
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_contact = models.ForeignKey(
        "accounts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True, help_text="Sanitized HTML; never raw input.")
    # Logged phone calls and meetings: when they took place and how long.
    occurred_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Email headers, kept for threading and for replies that quote them.
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    from_address = models.CharField(max_length=998, blank=True)
    to_addresses = models.TextField(blank=True)
    cc_addresses = models.TextField(blank=True)
    # Which threading rule placed an incoming message on this ticket (in_reply_to, subject_token, ...).
    threading_rule = models.CharField(max_length=30, blank=True)
    # The quoted earlier text and signature split off an incoming message (shown one click away).
    quoted_text = models.TextField(blank=True)
    # Outgoing email of agent replies: queued -> sent, or failed with the reason.
    delivery_status = models.CharField(max_length=10, choices=DeliveryStatus.choices, blank=True)
    delivery_error = models.TextField(blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="message_ticket_time"),
            models.Index(fields=["message_id"], name="message_msgid", condition=~models.Q(message_id="")),
            models.Index(fields=["author_contact", "-created_at"], name="message_contact_time"),
            # Replies waiting to be emailed: the outbound sweep reads only these.
            models.Index(
                fields=["created_at", "id"],
                name="message_delivery_queued",
                condition=models.Q(delivery_status="queued"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind == MessageKind.REPLY


def attachment_path(instance: Attachment, filename: str) -> str:
    # Content-addressed: the name a sender chose never becomes part of a path on disk.
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(max_length=255, help_text="The name as sent, sanitized for display.")
    content_type = models.CharField(max_length=127, help_text="Sniffed from the bytes, not trusted from the sender.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    content_id = models.CharField(max_length=255, blank=True, help_text="For inline images referenced as cid:.")
    is_inline = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename
