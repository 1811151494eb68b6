"""The ticket-event subscriber that turns events into webhook deliveries (registered in WebhooksConfig)."""

from __future__ import annotations

from tickets.choices import EventAction
from tickets.events import subscribe
from tickets.models import TicketEvent
from webhooks import services
from webhooks.domain.events import UPDATE_ACTIONS

ACTIONS = [EventAction.CREATED, EventAction.MESSAGE_ADDED, *sorted(UPDATE_ACTIONS), EventAction.SLA, EventAction.CSAT]


def queue_webhook_deliveries(event: TicketEvent) -> None:
    """Runs inside the publishing transaction (and the event's savepoint): the deliveries commit
    with the event's ``published_at``, and their tasks are queued only after that commit."""
    services.queue_after_commit(services.deliveries_for_event(event))


for _action in ACTIONS:
    subscribe(str(_action))(queue_webhook_deliveries)
