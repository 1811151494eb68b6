from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Register the event subscribers.
        from tickets import (  # noqa: F401
            csat,  # --- CSAT: a survey for each solve ---
            notifications,
            sla,
        )
