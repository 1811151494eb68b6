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
        self.stdout.write(self.style.SUCCESS(f"Service Desk is running at {url} (admin: {url}admin/)"))
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
        from service_desk import demo

        self.stdout.write(demo.format_logins())

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
