from django.apps import AppConfig


class ChannelsIntakeConfig(AppConfig):
    name = "channels_intake"
    verbose_name = "Channel intake"

    def ready(self) -> None:
        from channels_intake import subscribers  # noqa: F401 - registers event subscribers
