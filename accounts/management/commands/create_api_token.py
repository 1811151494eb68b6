"""``manage.py create_api_token USERNAME --name "Shop"``: a personal API token, printed once."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import services


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'Shop integration'.")
        parser.add_argument("--expires-days", type=int, default=None, help="Expire after this many days.")

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()  # noqa: N806
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {options['username']!r}.") from exc
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-days must be positive.")
        expires_at = timezone.now() + timedelta(days=days) if days else None  # type: ignore[arg-type]
        try:
            token, secret = services.api_token_create(user=user, name=str(options["name"]), expires_at=expires_at)
        except services.AccountError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created token {token.name!r} ({token.prefix}…) for {user.get_username()}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(secret)
