from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Register the event subscribers.
        from tickets import notifications, sla  # noqa: F401
