from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Register the ticket-event subscriber that writes webhook deliveries.
        from webhooks import subscribers  # noqa: F401
