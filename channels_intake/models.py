"""Channel intake: mailboxes and every message received, stored verbatim before any processing."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.choices import Priority


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("None (only for a server on this machine)")


class Protocol(models.TextChoices):
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"


class Mailbox(models.Model):
    """A support address: polled over IMAP or POP3, and/or fed by a mail server pipe over HTTP."""

    name = models.CharField(max_length=100, unique=True)
    email_address = models.EmailField(help_text=_("The address customers write to; also our own address for loops."))
    protocol = models.CharField(
        max_length=10,
        choices=Protocol.choices,
        default=Protocol.IMAP,
        help_text=_(
            "Both are polled every minute. IMAP: processed mail is moved to the archive folder, or deleted. "
            "POP3: processed mail is deleted from the server (POP3 has no folders; it reads the inbox only). "
            "Either way, mail leaves the server only after it is stored here."
        ),
    )
    host = models.CharField(max_length=255, blank=True, help_text=_("Empty: not polled (HTTP pipe only)."))
    port = models.PositiveIntegerField(
        default=993, help_text=_("IMAP: 993 (SSL/TLS) or 143 (STARTTLS). POP3: 995 (SSL/TLS) or 110 (STARTTLS).")
    )
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.SSL)
    username = models.CharField(max_length=255, blank=True)
    secret = models.CharField(max_length=255, blank=True, help_text=_("Password or app password for the server."))
    folder = models.CharField(max_length=255, default="INBOX", help_text=_("IMAP only; POP3 reads the inbox."))
    archive_folder = models.CharField(
        max_length=255,
        blank=True,
        help_text=_("IMAP only: move processed mail here; empty deletes it from the server."),
    )
    default_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_type = models.ForeignKey(
        "tickets.TicketType", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    enabled = models.BooleanField(default=True)
    ingest_token_hash = models.CharField(
        max_length=64, blank=True, help_text=_("SHA-256 of the secret that authenticates the HTTP raw-mail endpoint.")
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return f"{self.name} <{self.email_address}>"

    def save(self, *args: object, **kwargs: object) -> None:
        super().save(*args, **kwargs)
        from channels_intake.services import forget_own_addresses

        forget_own_addresses()

    def clean(self) -> None:
        super().clean()
        if self.protocol == Protocol.POP3:
            errors = {}
            if self.archive_folder:
                errors["archive_folder"] = _("POP3 has no folders: processed mail is deleted. Leave this empty.")
            if self.folder.strip().upper() != "INBOX":
                errors["folder"] = _("POP3 reads the inbox only. Use INBOX.")
            if errors:
                raise ValidationError(errors)

    def rotate_ingest_token(self) -> str:
        """Set a new HTTP ingest secret and return it (shown once; only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        self.ingest_token_hash = hashlib.sha256(token.encode()).hexdigest()
        return token

    def check_ingest_token(self, token: str) -> bool:
        if not self.ingest_token_hash or not token:
            return False
        return hmac.compare_digest(self.ingest_token_hash, hashlib.sha256(token.encode()).hexdigest())


class Source(models.TextChoices):
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"
    HTTP = "http", _("HTTP pipe")
    FILE = "file", _("File import")
    WEB = "web", _("Web form")


class Outcome(models.TextChoices):
    PENDING = "pending", _("Waiting to be processed")
    TICKET_CREATED = "ticket_created", _("Opened a ticket")
    APPENDED = "appended", _("Added to a ticket")
    DUPLICATE = "duplicate", _("Duplicate of an earlier message")
    SUPPRESSED = "suppressed", _("Suppressed (auto-reply, bounce, loop)")
    QUARANTINED = "quarantined", _("Quarantined")


class InboundMessage(models.Model):
    """One received message, raw bytes first. Processing fills in the outcome; nothing is ever deleted.

    ``dedupe_key`` (Message-ID, else a digest of the bytes) is unique among originals: a second
    copy is stored too, as a duplicate pointing at the original, and never processed.
    """

    source = models.CharField(max_length=10, choices=Source.choices)
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    raw = models.BinaryField()
    size = models.PositiveIntegerField()
    dedupe_key = models.CharField(max_length=300)
    is_original = models.BooleanField(default=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies")
    remote_id = models.CharField(
        max_length=255, blank=True, help_text=_("IMAP UIDVALIDITY:UID, POP3 UIDL (with server and user), or file name.")
    )
    notify = models.BooleanField(
        default=True,
        help_text=_(
            "Off for imports (ingest_email --no-notify): processed as usual, but no acknowledgement is sent "
            "to the sender."
        ),
    )
    received_at = models.DateTimeField(auto_now_add=True)

    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    reason = models.TextField(blank=True, help_text=_("Why it was suppressed or quarantined."))
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey("tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    threading_rule = models.CharField(max_length=30, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    from_address = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=models.Q(is_original=True), name="inbound_one_original"
            ),
        ]
        indexes = [
            # The stranded-message sweep and the admin's "pending" and "quarantined" lists.
            models.Index(
                fields=["received_at", "id"],
                name="inbound_unfinished",
                condition=models.Q(outcome__in=["pending", "quarantined"]),
            ),
            models.Index(fields=["mailbox", "remote_id"], name="inbound_remote", condition=~models.Q(remote_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} #{self.pk}: {self.subject or self.dedupe_key}"


class AcknowledgementLog(models.Model):
    """Automatic acknowledgements sent, to rate-limit them per sender."""

    email = models.CharField(max_length=254)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["email", "-sent_at"], name="ack_email_time")]
        constraints = [models.UniqueConstraint(fields=["ticket"], name="ack_once_per_ticket")]

    def __str__(self) -> str:
        return f"{self.email} {self.ticket_id}"
