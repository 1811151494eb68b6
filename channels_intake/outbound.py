"""Email out: agent replies and acknowledgements, with headers that make customer replies thread back.

Each send is idempotent per message: the Message-ID is fixed before the first attempt and the
delivery state is checked under a row lock, so a retried or duplicated task does not send twice
once a send has been recorded.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import ContactEmail
from channels_intake.models import AcknowledgementLog
from tickets.choices import DeliveryStatus, MessageKind
from tickets.domain.references import subject_token
from tickets.models import Message, Ticket

logger = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5
MAX_REFERENCES = 20


def message_id_domain() -> str:
    configured = getattr(settings, "EMAIL_MESSAGE_ID_DOMAIN", "")
    if configured:
        return configured
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "service-desk.invalid"


def new_message_id() -> str:
    return make_msgid(idstring="sd", domain=message_id_domain())


def thread_subject(ticket: Ticket, *, reply: bool = True) -> str:
    token = subject_token(settings.TICKET_REFERENCE_PREFIX, ticket.pk)
    subject = ticket.subject.replace("\r", " ").replace("\n", " ")
    return f"{'Re: ' if reply else ''}{token} {subject}"


def _primary_emails(contact_ids: list[int]) -> dict[int, str]:
    rows = ContactEmail.objects.filter(contact_id__in=contact_ids).order_by("contact_id", "-is_primary", "id")
    result: dict[int, str] = {}
    for row in rows:
        result.setdefault(row.contact_id, row.email)
    return result


def recipients_for(ticket: Ticket) -> tuple[list[str], list[str]]:
    cc_ids = list(ticket.cc_links.values_list("contact_id", flat=True))
    emails = _primary_emails([ticket.requester_id, *cc_ids])
    to = [emails[ticket.requester_id]] if ticket.requester_id in emails else []
    cc = [emails[i] for i in cc_ids if i in emails and emails[i] not in to]
    return to, cc


def _threading_headers(message: Message) -> dict[str, str]:
    """In-Reply-To the newest earlier message with a Message-ID; References its chain plus it."""
    previous = (
        Message.objects.filter(ticket_id=message.ticket_id, id__lt=message.pk)
        .exclude(message_id="")
        .order_by("-created_at", "-id")
        .only("message_id", "references")
        .first()
    )
    if previous is None:
        return {}
    chain = [*previous.references.split(), previous.message_id][-MAX_REFERENCES:]
    return {"In-Reply-To": previous.message_id, "References": " ".join(chain)}


def from_address_for(ticket: Ticket) -> str:
    from service_desk.branding import from_address  # the brand name (admin), else SERVICE_DESK_NAME

    return from_address()


def reply_email_send(message_id: int) -> str:
    """Send an agent's public reply to the requester and CCs. Returns the delivery status afterwards.

    Raises ``OSError`` (SMTP and network errors) while attempts remain, so the task retries with backoff.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",)).select_related("ticket", "author_user").get(pk=message_id)
        )
        if message.delivery_status != DeliveryStatus.QUEUED or message.kind != MessageKind.REPLY:
            return message.delivery_status
        ticket = message.ticket
        to, cc = recipients_for(ticket)
        if not to:
            message.delivery_status = DeliveryStatus.FAILED
            message.delivery_error = "The requester has no email address."
            message.save(update_fields=["delivery_status", "delivery_error"])
            return message.delivery_status
        if not message.message_id:
            message.message_id = new_message_id()
        headers = _threading_headers(message)
        message.in_reply_to = headers.get("In-Reply-To", "")
        message.references = headers.get("References", "")
        message.to_addresses = ", ".join(to)
        message.cc_addresses = ", ".join(cc)
        message.delivery_attempts += 1
        email = EmailMultiAlternatives(
            subject=thread_subject(ticket),
            body=message.body_text,
            from_email=from_address_for(ticket),
            to=to,
            cc=cc,
            headers={"Message-ID": message.message_id, **headers, "X-Service-Desk-Ticket": ticket.reference},
        )
        if message.body_html:
            email.attach_alternative(message.body_html, "text/html")
        for attachment in message.attachments.all():
            with attachment.file.open("rb") as handle:
                email.attach(attachment.filename, handle.read(), attachment.content_type)
        failure: Exception | None = None
        try:
            email.send(fail_silently=False)
        except Exception as exc:
            failure = exc
            message.delivery_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.delivery_attempts >= MAX_DELIVERY_ATTEMPTS:
                message.delivery_status = DeliveryStatus.FAILED
        else:
            message.delivery_status = DeliveryStatus.SENT
            message.delivery_error = ""
            message.sent_at = timezone.now()
        message.save()
    # Committed: the attempt and its error are recorded whatever happens next.
    if failure is not None and message.delivery_status == DeliveryStatus.QUEUED:
        raise OSError(f"Sending {ticket.reference} failed, will retry: {failure}") from failure
    return message.delivery_status


def acknowledgement_send(ticket_id: int) -> bool:
    """Tell a customer their ticket was received, at most once per ticket and
    ``ACKNOWLEDGEMENTS_PER_HOUR`` times per sender an hour (loops and floods stay quiet)."""
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is None:
        return False
    to, _ = recipients_for(ticket)
    if not to:
        return False
    limit = getattr(settings, "ACKNOWLEDGEMENTS_PER_HOUR", 3)
    recent = AcknowledgementLog.objects.filter(email=to[0], sent_at__gte=timezone.now() - timedelta(hours=1)).count()
    if recent >= limit:
        logger.info(
            "Not acknowledging %s to %s: %s acknowledgements in the last hour.", ticket.reference, to[0], recent
        )
        return False
    try:
        with transaction.atomic():
            AcknowledgementLog.objects.create(email=to[0], ticket=ticket)
    except IntegrityError:  # already acknowledged (a repeated task)
        return False
    from service_desk.branding import brand

    context = {"ticket": ticket, "reference": ticket.reference, "desk_name": brand().name}
    email = EmailMultiAlternatives(
        subject=f"{thread_subject(ticket, reply=False)}",
        body=render_to_string("emails/acknowledgement.txt", context),
        from_email=from_address_for(ticket),
        to=to,
        headers={
            "Message-ID": new_message_id(),
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "X-Service-Desk-Ticket": ticket.reference,
            **_acknowledgement_threading(ticket),
        },
    )
    try:
        email.send(fail_silently=False)
    except Exception:
        AcknowledgementLog.objects.filter(ticket=ticket).delete()  # let the retry try again
        raise
    return True


def _acknowledgement_threading(ticket: Ticket) -> dict[str, str]:
    first = ticket.messages.exclude(message_id="").order_by("id").values_list("message_id", flat=True).first()
    return {"In-Reply-To": first, "References": first} if first else {}
