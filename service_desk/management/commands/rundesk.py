"""`manage.py rundesk`: the whole product on one machine (what `make run` calls).

Migrates, seeds demo data into an empty database, then runs the web server, a Celery worker
and Celery beat as child processes. Ctrl-C (or SIGTERM) stops all three; if one of them dies,
the others are stopped too and the command exits non-zero, so nothing runs half-started.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Migrate, seed demo data if the database is empty, and run web, worker and beat together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-seed", action="store_true", help="Do not seed demo data into an empty database.")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")

    def handle(self, *args: object, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        if not options["no_seed"]:
            self._seed_if_empty()
        python = sys.executable
        children = {
            "web": [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "service_desk", "worker", "--loglevel", "INFO",
                "--concurrency", str(options["concurrency"]), "--queues", ",".join(settings.WORKER_QUEUES),
            ],
            "beat": [
                python, "-m", "celery", "-A", "service_desk", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }  # fmt: skip
        processes = {name: subprocess.Popen(cmd) for name, cmd in children.items()}  # noqa: S603 - our own commands
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(
            self.style.SUCCESS(
                f"Service Desk is running at {url} (agents: {url}desk/, customers: {url}portal/, "
                f"API: {url}api/docs/, admin: {url}admin/)"
            )
        )
        self._print_logins()
        self.stdout.write("Web server, Celery worker and Celery beat started. Press Ctrl-C to stop them all.")
        self._supervise(processes)

    def _seed_if_empty(self) -> None:
        from tickets.models import Ticket

        if Ticket.objects.exists():
            self.stdout.write("Database already has tickets; not seeding demo data.")
            return
        self.stdout.write("Empty database: seeding demo data (manage.py seed_demo)...")
        call_command("seed_demo", quiet=True)

    def _print_logins(self) -> None:
        """The demo logins that exist in this database (none if it was not seeded with demo data)."""
        from django.contrib.auth import get_user_model

        from service_desk import demo

        users = get_user_model().objects
        rows = [
            (note, username)
            for username, note in demo.AGENT_LOGINS
            if users.filter(username=username, is_active=True).exists()
        ]
        portal = users.filter(contact__isnull=False, is_active=True).select_related("contact")
        b2c = portal.filter(contact__organization__isnull=True).order_by("pk").first()
        b2b = portal.filter(contact__can_see_organization_tickets=True).order_by("pk").first()
        rows += [("B2C customer (portal)", u.get_username()) for u in [b2c] if u is not None]
        rows += [("B2B contact (portal)", u.get_username()) for u in [b2b] if u is not None]
        if not rows:
            self.stdout.write("No demo logins in this database (create one: manage.py createsuperuser).")
            return
        self.stdout.write(f"Demo logins (password: {demo.DEMO_PASSWORD}):")
        width = max(len(note) for note, _ in rows)
        for note, username in rows:
            self.stdout.write(f"  {note:<{width}}  {username}")

    def _supervise(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed: str | None = None
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    failed = f"{name} exited with code {process.returncode}"
                    stopping = True
                    break
            time.sleep(0.5)
        self.stdout.write("Stopping web, worker and beat...")
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        if failed:
            self.stderr.write(f"Stopped because {failed}.")
            sys.exit(1)
        self.stdout.write("Stopped.")
