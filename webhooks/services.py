"""Writes of the webhooks app: subscriptions, turning ticket events into deliveries, redelivery.

Deliveries are written inside the transaction that publishes their ticket event (see
``deliveries_for_event``), so they are committed exactly when the event is marked published: a
crash before that commit repeats the publishing, and the unique (subscription, source event)
constraint makes the repeat write nothing twice. Their tasks are queued after commit; if the
broker is down the sweep (``requeue_due_webhook_deliveries_task``) queues them later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.domain.permissions import Principal
from accounts.selectors import principal_for
from tickets.choices import MessageKind
from tickets.models import Message, Ticket, TicketEvent
from webhooks import payloads, targets
from webhooks.domain.events import WebhookEvent, normalise_event_list, webhook_event_type
from webhooks.domain.signing import new_secret
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)


# --- Subscriptions -------------------------------------------------------------------------------


def _clean(name: str, url: str, events: Iterable[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    url = (url or "").strip()
    try:
        targets.validate_webhook_url(url)
    except ValidationError as exc:
        errors["url"] = list(exc.messages)
    try:
        chosen = normalise_event_list(list(events or []))
    except ValueError as exc:
        errors["events"] = [_("Unknown event types: %(types)s") % {"types": exc}]
        chosen = []
    else:
        if not chosen:
            errors["events"] = [_("Choose at least one event.")]
    if errors:
        raise ValidationError(errors)
    return name, url, chosen


def _require_agent(user) -> None:  # noqa: ANN001 - a User
    if not principal_for(user).is_agent:
        raise PermissionDenied(_("Only agents can manage webhook subscriptions."))


def _require_manager(user, subscription: WebhookSubscription) -> None:  # noqa: ANN001 - a User
    principal = principal_for(user)
    if not principal.is_agent or not (principal.is_admin or subscription.owner_id == principal.user_id):
        raise PermissionDenied(_("You cannot manage this webhook subscription."))


@transaction.atomic
def subscription_create(
    *,
    owner,  # noqa: ANN001 - a User
    name: str,
    url: str,
    events: Iterable[str],
    include_internal_notes: bool = False,
    is_active: bool = True,
) -> WebhookSubscription:
    """A new subscription with a fresh secret (``subscription.secret``: show it once, now)."""
    _require_agent(owner)
    name, url, chosen = _clean(name, url, events)
    return WebhookSubscription.objects.create(
        owner=owner,
        name=name,
        url=url,
        events=chosen,
        include_internal_notes=include_internal_notes,
        is_active=is_active,
        secret=new_secret(),
    )


_UNSET = object()


@transaction.atomic
def subscription_update(
    *,
    subscription: WebhookSubscription,
    by,  # noqa: ANN001 - a User
    name: str | object = _UNSET,
    url: str | object = _UNSET,
    events: Iterable[str] | object = _UNSET,
    include_internal_notes: bool | object = _UNSET,
    is_active: bool | object = _UNSET,
) -> WebhookSubscription:
    _require_manager(by, subscription)
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    new_name, new_url, new_events = _clean(
        subscription.name if name is _UNSET else name,  # type: ignore[arg-type]
        subscription.url if url is _UNSET else url,  # type: ignore[arg-type]
        subscription.events if events is _UNSET else events,  # type: ignore[arg-type]
    )
    subscription.name, subscription.url, subscription.events = new_name, new_url, new_events
    if include_internal_notes is not _UNSET:
        subscription.include_internal_notes = bool(include_internal_notes)
    if is_active is not _UNSET:
        if is_active and not subscription.is_active:
            subscription.consecutive_failures = 0
        subscription.is_active = bool(is_active)
    subscription.save()
    return subscription


@transaction.atomic
def subscription_rotate_secret(*, subscription: WebhookSubscription, by) -> WebhookSubscription:  # noqa: ANN001
    """Replace the secret at once (shown once, like at creation); the old one stops signing now."""
    _require_manager(by, subscription)
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription


def subscription_delete(*, subscription: WebhookSubscription, by) -> None:  # noqa: ANN001 - a User
    _require_manager(by, subscription)
    subscription.delete()


# --- From ticket events to deliveries (the outbox) -----------------------------------------------


def _sees_ticket(owner, ticket_id: int, principals: dict[int, Principal]) -> bool:  # noqa: ANN001 - a User
    """A subscription receives only events of tickets its owner may see right now."""
    from tickets.selectors import tickets_visible_to

    principal = principals.get(owner.pk)
    if principal is None:
        principal = principals[owner.pk] = principal_for(owner)
    if not principal.is_agent:
        return False  # the owner is no longer an active agent: nothing goes out in their name
    if principal.is_admin:
        return True
    return tickets_visible_to(owner).filter(pk=ticket_id).exists()


def _active_subscriptions(event_type: WebhookEvent) -> list:
    """The active subscriptions that want ``event_type``: one query, and the only one an event costs
    while nobody subscribed to its type."""
    return [
        s
        for s in WebhookSubscription.objects.filter(is_active=True).select_related("owner").order_by("id")
        if s.wants(event_type)
    ]


def _matching_subscriptions(
    event: TicketEvent, event_type: WebhookEvent, message: Message | None, candidates: list
) -> list:
    if event_type == WebhookEvent.MESSAGE_CREATED and (message is None or message.kind != MessageKind.REPLY):
        # Internal notes, logged calls and system messages only to subscriptions that opted in.
        candidates = [s for s in candidates if s.include_internal_notes]
    principals: dict[int, Principal] = {}
    return [s for s in candidates if _sees_ticket(s.owner, event.ticket_id, principals)]


def deliveries_for_event(event: TicketEvent) -> list[int]:
    """Write the deliveries of one ticket event (inside the publishing transaction); their ids.

    Idempotent: a delivery already written for a (subscription, event) is left alone, and a
    repeat reuses the event id already given out.
    """
    event_type = webhook_event_type(event.action, event.field, event.new_value)
    if event_type is None:
        return []
    candidates = _active_subscriptions(event_type)
    if not candidates:
        return []
    message = None
    if event_type == WebhookEvent.MESSAGE_CREATED:
        if event.message_id is None:
            return []
        message = (
            Message.objects.select_related("author_user", "author_contact")
            .prefetch_related("attachments")
            .filter(pk=event.message_id)
            .first()
        )
        if message is None:
            return []
    subscriptions = _matching_subscriptions(event, event_type, message, candidates)
    if not subscriptions:
        return []
    existing = dict(WebhookDelivery.objects.filter(source_event_id=event.pk).values_list("subscription_id", "event_id"))
    subscriptions = [s for s in subscriptions if s.pk not in existing]
    if not subscriptions:
        return []
    event_id = next(iter(existing.values()), None) or uuid.uuid4()
    ticket = (
        Ticket.objects.select_related("requester", "organization", "assignee", "team", "type")
        .prefetch_related("tags")
        .get(pk=event.ticket_id)
    )
    body = payloads.dumps(
        payloads.envelope(
            event_id, event_type, event.created_at, payloads.event_data(event, event_type, ticket, message)
        )
    )
    now = timezone.now()
    rows = [
        WebhookDelivery(
            subscription=s,
            event_id=event_id,
            event_type=event_type,
            source_event_id=event.pk,
            ticket_reference=ticket.reference,
            payload=body,
            next_attempt_at=now,
            queued_at=now,
            created_at=now,
        )
        for s in subscriptions
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        WebhookDelivery.objects.filter(
            source_event_id=event.pk, subscription_id__in=[s.pk for s in subscriptions], status=DeliveryStatus.PENDING
        ).values_list("pk", flat=True)
    )


def queue_deliveries(delivery_ids: list[int]) -> None:
    """Queue delivery tasks (call it on commit). If the broker is down the rows are left for the sweep."""
    from webhooks.tasks import deliver_webhook_task

    for position, delivery_id in enumerate(delivery_ids):
        try:
            deliver_webhook_task.delay(delivery_id)
        except Exception:
            logger.warning(
                "Could not queue webhook deliveries %s; the sweep will queue them.",
                delivery_ids[position:],
                exc_info=True,
            )
            try:
                WebhookDelivery.objects.filter(pk__in=delivery_ids[position:]).update(queued_at=None)
            except Exception:  # the sweep takes them after its grace period anyway
                logger.warning("Could not mark webhook deliveries for the sweep.", exc_info=True)
            return


def queue_after_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        ids = list(delivery_ids)
        transaction.on_commit(lambda: queue_deliveries(ids))


# --- Redelivery --------------------------------------------------------------------------------


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, by=None) -> WebhookDelivery:  # noqa: ANN001 - a User or None
    """A new delivery of the same event (same event id and body) to the same subscription, queued now.

    ``by`` is checked (admin or the subscription's owner) unless None (the Django admin, which
    has its own permissions).
    """
    subscription = delivery.subscription
    if by is not None:
        _require_manager(by, subscription)
    if not subscription.is_active:
        raise ValidationError(_("The subscription is inactive; activate it before redelivering."))
    now = timezone.now()
    copy = WebhookDelivery.objects.create(
        subscription=subscription,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        source_event=None,
        ticket_reference=delivery.ticket_reference,
        payload=delivery.payload,
        next_attempt_at=now,
        queued_at=now,
        created_at=now,
        redelivery_of=delivery,
    )
    queue_after_commit([copy.pk])
    return copy
